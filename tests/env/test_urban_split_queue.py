"""The ``urban_split_queue`` preset (docs/environment.md, "Combined: urban_split_queue"): DNN
split tasks on the map with the time-coupled queues. The preset is the three it combines;
constraints hold every slot (property test, the queue presets' checks made split-aware: the ES
stores the activation β(s)); vector == single; the compiled backend falls back to numpy; the
reference policies play it (``drift_plus_penalty`` deciding whole tasks) and rank as measured.
PettingZoo's api and seed tests run on it in test_api.py (``PRESET_NAMES``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import mec_env
from mec_env.config import PRESETS, make_config
from mec_env.policies import env_overrides_for, make_policy
from mec_env.sim import dnn, fast
from mec_env.sim.backend import NumpyBackend
from tests.env.test_queues import (
    PROPERTY_SETTINGS,
    QUEUE_STYLES,
    check_queued_slot,
    play_queued,
    queue_actions,
    snapshot,
    stored_bits,
)
from tests.env.test_vector import play_both

PRESET = "urban_split_queue"


def test_the_preset_is_queue_on_the_map_with_split_tasks():
    """Every key in which ``queue``, ``urban_mobility`` or ``dnn_split`` differs from
    ``paper_kb`` has that preset's value, except the arrival rate (0.15, not queue's 0.3)."""
    ours, base = PRESETS[PRESET], PRESETS["paper_kb"]
    for name in ("queue", "urban_mobility", "dnn_split"):
        changed = {k for k, v in PRESETS[name].items() if base[k] != v} - {"arrival_rate"}
        assert changed and {k: ours[k] for k in changed} == {
            k: PRESETS[name][k] for k in changed
        }, name
    assert ours["arrival_rate"] == 0.15
    others = {k for k in base if ours[k] != base[k]}
    assert others == {k for n in ("queue", "urban_mobility", "dnn_split")
                      for k in base if PRESETS[n][k] != base[k]}  # fmt: skip
    cfg = make_config(PRESET)
    assert cfg.queued and cfg.split_tasks and cfg.es_positions_m is not None


@PROPERTY_SETTINGS
@given(
    style=st.sampled_from(QUEUE_STYLES),
    seed=st.integers(0, 2**16),
    n_uds=st.integers(1, 10),
    z_max=st.integers(1, 4),
    subchannels=st.integers(1, 3),
    storage_bytes=st.sampled_from([60e3, 160e3, 400e3]),
    arrival_rate=st.sampled_from([0.15, 0.5, 1.0]),
    es_agents=st.booleans(),
)
def test_constraints_hold_every_slot(
    style, seed, n_uds, z_max, subchannels, storage_bytes, arrival_rate, es_agents
):
    """Subchannels, the activations stored at each ES (an image is 150 KB: 60 KB stores only
    activations, 160 KB one image), z_max, the queue capacity, the battery, and the queues'
    FIFO order (tests/env/test_queues.py's checks) in every slot of a 12-slot episode."""
    overrides = dict(n_uds=n_uds, z_max=z_max, subchannels=subchannels, n_cpus=2,
                     storage_bytes=storage_bytes, arrival_rate=arrival_rate,
                     es_agents=es_agents, n_slots=12)  # fmt: skip
    play_queued(PRESET, overrides, style, seed)


def test_the_constraint_checks_bite():
    """Random shares split the networks anywhere: some ES admits more requests than whole
    images would fit in D_m (it stores activations), the store cuts requests, queues fill and
    drop, tasks wait."""
    env = mec_env.parallel_env(PRESET, n_uds=12, storage_bytes=160e3, arrival_rate=0.9,
                               n_slots=30)  # fmt: skip
    env.reset(seed=2)
    rng = np.random.default_rng(2)
    image_bits = make_config(PRESET).task_bits[0]
    beyond_images = store_cuts = dropped = waited = 0
    while env.agents:
        before = snapshot(env)
        actions = queue_actions(env, "random", rng)
        observations, *_ = env.step(actions)
        check_queued_slot(env, actions, before, observations)
        s, server = env.last_step, before["server"]
        off = s["offloaded"]
        per_es = np.bincount(server[off], minlength=3)
        beyond_images += int(np.sum(per_es * image_bits > env.config.storage_bits))
        stored = np.bincount(server[off], stored_bits(env)[off], minlength=3)
        for i in np.flatnonzero(s["approved"] & ~off):
            j = server[i]
            store_cuts += int(stored[j] + stored_bits(env)[i] > env.config.storage_bits[j])
        dropped += int(s["dropped"].sum())
        waited += int((before["has"] & ~s["served"]).sum())
    assert beyond_images > 0 and store_cuts > 0 and dropped > 0 and waited > 0


def test_vector_equals_single():
    play_both(PRESET, num_envs=2, episodes=1, n_slots=20)
    play_both(PRESET, num_envs=2, episodes=1, actions="offload", es_agents=False, n_slots=20)


def _played(kernels: str) -> tuple[type, np.ndarray]:
    env = mec_env.parallel_env(PRESET, kernels=kernels, n_slots=20)
    env.reset(seed=11)
    rng = np.random.default_rng(4)
    out = []
    while env.agents:
        act = {a: rng.random(3) if a.startswith("ud") else rng.integers(0, 2, 16)
               for a in env.agents}  # fmt: skip
        _, r, _, _, info = env.step(act)
        out.append([r[a] for a in env.ud_agents] + [info[a]["delay_s"] for a in env.ud_agents])
    return type(env.unwrapped._core.backend), np.array(out)


@pytest.mark.skipif(not fast.available(), reason="numba not installed")
def test_numba_falls_back_to_numpy():
    """Queues and split tasks play on the numpy backend: asked for the compiled kernels, the
    env plays numpy (docs/environment.md says so), with the same results."""
    fast_backend, fast_out = _played("numba")
    numpy_backend, numpy_out = _played("numpy")
    assert fast_backend is NumpyBackend and numpy_backend is NumpyBackend
    assert mec_env.parallel_env(PRESET, kernels="numba").unwrapped._core.kernels is None
    assert_array_equal(fast_out, numpy_out)


def _mean_cost(name: str, n_slots: int = 40, seed: int = 1_000_000) -> float:
    env = mec_env.parallel_env(PRESET, matcher="max_gain", n_slots=n_slots,
                               **env_overrides_for(name))  # fmt: skip
    policy = make_policy(name, env, seed=0)
    obs, _ = env.reset(seed=seed)
    costs = []
    while env.agents:
        obs, *_ = env.step(policy(obs))
        costs.append(env.last_step["cost"].mean())
    return float(np.mean(costs))


def test_reference_policies_play_and_rank():
    """The five references play the preset; as measured on 10 episodes (docs), all_local is
    far behind, the best-split rule and drift-plus-penalty beat whole-task greedy."""
    names = ("all_local", "all_offload", "greedy", "best_split", "drift_plus_penalty")
    cost = {name: _mean_cost(name) for name in names}
    assert cost["all_local"] > 2 * max(cost[n] for n in names[1:]), cost
    assert max(cost["best_split"], cost["drift_plus_penalty"]) < cost["greedy"], cost


def test_drift_plus_penalty_chooses_split_points():
    """On split tasks drift_plus_penalty's offload option ranges over the split points: its
    x^u names the split it priced (the env reads the same s), the ES stores that split's
    activation, a split with local units is made only on an idle CPU, and it does split."""
    env = mec_env.parallel_env(PRESET, n_slots=20)
    policy = make_policy("drift_plus_penalty", env)
    plan = dnn.SplitPlan.for_config(env.config)
    obs, _ = env.reset(seed=3)
    split_offloads = 0
    while env.agents:
        busy = env.unwrapped._core.queues.local_busy_s[0].copy()
        actions = policy(obs)
        choice, chosen = policy.last_choice.copy(), policy._split
        obs, *_ = env.step(actions)
        s = env.last_step
        n_units = plan.table.n_units[plan.network_of(s["cycles_per_bit"])]
        off = choice == policy.OFFLOAD
        assert_array_equal(s["split"][off], chosen.split[off])  # x^u decodes to its split
        assert np.all(s["split"][choice == policy.LOCAL] == n_units[choice == policy.LOCAL])
        assert np.all(s["split"][choice == policy.WAIT] == 0)
        assert not np.any(s["requested"] & (s["split"] > 0) & (busy > 0))
        split_offloads += int((s["offloaded"] & (s["split"] > 0)).sum())
    assert split_offloads > 0


def test_the_oracle_refuses_in_one_line():
    env = mec_env.parallel_env(PRESET)
    with pytest.raises(ValueError, match="N <= 12") as err:
        make_policy("oracle", env)
    assert "\n" not in str(err.value)


def test_a_split_runs_its_local_units_on_the_uds_cpu():
    # [decision] units 1..s run on the UD's CPU: a split request needs it idle at the
    # slot's start, and an admitted one keeps it busy for C^l(s)/f from the slot's start
    env = mec_env.parallel_env(PRESET, n_uds=1, es_agents=False, arrival_rate=1.0)
    env.reset(seed=3)
    core = env.unwrapped._core
    act = {"ud_0": np.array([0.5, 1.0, 1.0], np.float32)}  # half the network offloaded
    core.queues.local_busy_s[0, 0] = 1.0  # busy: the request is not made
    env.step(act)
    assert env.unwrapped.last_step["split"][0] > 0 and env.unwrapped.last_step["server"][0] >= 0
    assert not env.unwrapped.last_step["requested"][0]
    assert core.queues.local_busy_s[0, 0] == pytest.approx(0.9)  # counts down
    core.queues.local_busy_s[0, 0] = 0.0  # idle: requested, admitted, the CPU busy after
    env.step(act)
    s = env.unwrapped.last_step
    assert s["requested"][0] and s["offloaded"][0]
    plan = dnn.SplitPlan.for_config(env.unwrapped.config)
    net = plan.network_of(s["cycles_per_bit"])[0]
    local_s = plan.table.profile.local_cycles[net, s["split"][0]] / s["f_hz"][0]
    assert core.queues.local_busy_s[0, 0] == pytest.approx(max(local_s - 0.1, 0.0))
