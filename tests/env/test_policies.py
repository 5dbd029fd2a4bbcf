"""The non-learning reference policies (algorithms.md): their actions are valid for every agent,
their decisions are what they claim, and their costs order as expected.

Measured on ``paper_kb`` (co_selection matching, seeds 0-4): mean cost per UD-slot
all_local 0.166, all_offload 0.106, random 0.224, greedy 0.050; the first prototype
(max_gain matching) gave all_local 0.166, offload-all FIFO 0.106, saving-first 0.050.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pettingzoo.utils.wrappers import BaseParallelWrapper

import mec_env
from mec_env import physics
from mec_env.policies import (
    ORACLE_MAX_UDS,
    POLICY_NAMES,
    best_offload_power,
    env_overrides_for,
    make_policy,
    slot_objective,
)


def _env_for(name: str, preset: str = "small", **overrides):
    return mec_env.parallel_env(preset, **{**env_overrides_for(name), **overrides})


def _episode(name: str, preset: str, seed: int, **overrides) -> list[dict]:
    """Plays one episode; returns every step's ``env.last_step`` (copied)."""
    env = _env_for(name, preset, **overrides)
    policy = make_policy(name, env, seed=seed)
    observations, _ = env.reset(seed=seed)
    played = []
    while env.agents:
        observations, *_ = env.step(policy(observations))
        played.append(dict(env.last_step))
    return played


def _mean_cost(name: str, preset: str, seeds, **overrides) -> float:
    return float(
        np.mean(
            [
                step["cost"].mean()
                for seed in seeds
                for step in _episode(name, preset, seed, **overrides)
            ]
        )
    )


def _first_slot_objective(name: str, seed: int, preset: str = "small", **overrides) -> float:
    env = _env_for(name, preset, **overrides)
    policy = make_policy(name, env, seed=seed)
    observations, _ = env.reset(seed=seed)
    env.step(policy(observations))
    return slot_objective(env)


# ------------------------------------------------------------------------------ interface


def test_names_and_env_overrides():
    assert POLICY_NAMES == (
        "all_local",
        "all_offload",
        "random",
        "greedy",
        "oracle",
        "best_split",
        "drift_plus_penalty",
    )
    env = mec_env.parallel_env("small")
    expected = {
        "all_local": {},
        "random": {},
        "all_offload": {"es_agents": False, "admission": "accept_all"},
        "greedy": {"es_agents": False, "admission": "saving_first"},
        "best_split": {"es_agents": False, "admission": "saving_first"},
    }
    for name in POLICY_NAMES:
        policy = make_policy(name, env)
        assert policy.name == name
        assert policy.env_overrides == env_overrides_for(name)
        if name in expected:
            assert policy.env_overrides == expected[name]


def test_unknown_policy_and_non_mec_env_are_clear_errors():
    env = mec_env.parallel_env("small")
    with pytest.raises(ValueError, match="unknown policy 'best'.*all_local"):
        make_policy("best", env)
    with pytest.raises(TypeError, match="MEC environment"):
        make_policy("greedy", object())


@pytest.mark.parametrize("es_agents", [True, False])
@pytest.mark.parametrize("name", POLICY_NAMES)
def test_actions_cover_every_live_agent_and_lie_in_their_spaces(name, es_agents):
    env = mec_env.parallel_env("small", es_agents=es_agents, z_max=[4, 3])
    policy = make_policy(name, env, seed=0)
    observations, _ = env.reset(seed=3)
    steps = 0
    while env.agents:
        actions = policy(observations)
        assert set(actions) == set(env.agents)
        for agent, action in actions.items():
            assert env.action_space(agent).contains(np.asarray(action)), (agent, action)
        observations, *_ = env.step(actions)
        steps += 1
    assert steps == env.config.n_slots
    assert policy(observations) == {}  # episode over: no live agent


def test_policy_reads_through_wrappers():
    env = BaseParallelWrapper(mec_env.parallel_env("small"))
    policy = make_policy("greedy", env)
    observations, _ = env.reset(seed=0)
    assert set(policy(observations)) == set(env.agents)


@pytest.mark.parametrize("preset", ["paper", "paper_energy"])
def test_heuristics_run_on_other_presets_without_nan(preset):
    for name in ("all_local", "all_offload", "greedy"):
        for step in _episode(name, preset, seed=0, n_slots=3):
            assert np.isfinite(step["cost"]).all()


# -------------------------------------------------------------------- per-UD optimal controls


def _brute_force_power(cfg, bits, cpb, deadline, gain, server, points=50_001):
    grid = np.linspace(cfg.p_min_w, cfg.p_max_w, points)
    srv = server
    g = gain[np.arange(bits.size), srv][:, None]
    tau_o = physics.upload_delay(
        bits[:, None], physics.uplink_rate(cfg.subchannel_bw_hz[srv][:, None], grid, g)
    )
    tau_p = physics.processing_delay(bits, cpb, cfg.f_server_hz[srv])[:, None]
    obj = physics.late_penalty_cost(
        cfg.rho_delay, cfg.rho_energy, tau_p + tau_o, grid * tau_o, deadline[:, None]
    )
    return obj.min(axis=1)


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("paper_kb", {}),
        ("paper_energy", {}),  # ρ2 = 5: interior optima
        ("paper_kb", {"rho_delay": 0.05, "rho_energy": 50.0}),
        ("paper_kb", {"bandwidth_hz": 4e6, "deadline_s": [0.01, 0.2]}),  # late vs just in time
    ],
)
def test_best_offload_power_matches_a_dense_grid(preset, overrides):
    env = mec_env.parallel_env(preset, **overrides)
    env.reset(seed=1)
    cfg, s = env.config, env.current_slot
    p, obj = best_offload_power(cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, env.server)
    assert ((p >= cfg.p_min_w) & (p <= cfg.p_max_w)).all()
    brute = _brute_force_power(cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, env.server)
    assert (obj <= brute * (1 + 1e-9)).all()  # never worse than the grid
    assert_allclose(obj, brute, rtol=1e-5)  # the grid is only this fine


def test_best_offload_power_limits_by_hand():
    # ρ2 = 0: energy is free, so the fastest upload wins: p = p_max.
    env = mec_env.parallel_env("small", rho_energy=0.0)
    env.reset(seed=0)
    s = env.current_slot
    p, _ = best_offload_power(
        env.config, s.bits, s.cycles_per_bit, np.full(6, 10.0), s.gain, env.server
    )
    assert_allclose(p, env.config.p_max_w)
    # ρ1 = 0: only energy counts, and p·β/log2(1 + pg) grows with p: p = p_min.
    env = mec_env.parallel_env("small", rho_delay=0.0)
    env.reset(seed=0)
    s = env.current_slot
    p, _ = best_offload_power(
        env.config, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, env.server
    )
    assert_allclose(p, env.config.p_min_w, rtol=1e-9)


# ------------------------------------------------------------------------------- decisions


def test_all_local_never_offloads_and_uses_the_best_local_frequency():
    for step in _episode("all_local", "paper_kb", seed=0):
        assert not step["requested"].any() and not step["offloaded"].any()
        cfg = mec_env.make_config("paper_kb")
        f_best, _ = physics.best_local(
            step["task_bytes"] * 8,
            step["cycles_per_bit"],
            step["deadline_s"],
            cfg.rho_delay,
            cfg.rho_energy,
            cfg.kappa,
            cfg.f_min_hz,
            cfg.f_max_hz,
        )
        assert_allclose(step["f_hz"], f_best, rtol=1e-6)


def test_all_offload_requests_whenever_matched_and_es_agents_approve_all():
    # More UDs than places: 2 of the 10 are unmatched and must compute locally.
    env = mec_env.parallel_env("small", n_uds=10, es_agents=True)
    policy = make_policy("all_offload", env)
    observations, _ = env.reset(seed=0)
    actions = policy(observations)
    for m, es in enumerate(env.es_agent_names):
        assert_array_equal(actions[es], (env.members[m, : env.config.z_max[m]] >= 0))
    env.step(actions)
    step = env.last_step
    assert_array_equal(step["requested"], step["server"] >= 0)
    assert (step["server"] == -1).sum() == 2
    # K = 2 per server, 8 matched requests: exactly 4 admitted, 4 cut.
    assert step["offloaded"].sum() == 4


def test_greedy_requests_iff_offloading_saves():
    # On paper_kb every UD saves by offloading; a 10x narrower band makes some not.
    env = _env_for("greedy", "paper_kb", bandwidth_hz=4e6)
    policy = make_policy("greedy", env)
    observations, _ = env.reset(seed=2)
    cfg, s = env.config, env.current_slot
    _, local = physics.best_local(
        s.bits,
        s.cycles_per_bit,
        s.deadline_s,
        cfg.rho_delay,
        cfg.rho_energy,
        cfg.kappa,
        cfg.f_min_hz,
        cfg.f_max_hz,
    )
    _, offload = best_offload_power(cfg, s.bits, s.cycles_per_bit, s.deadline_s, s.gain, env.server)
    env.step(policy(observations))
    assert_array_equal(env.last_step["requested"], offload < local)
    assert 0 < env.last_step["requested"].sum() < cfg.n_uds  # both kinds occur


def test_greedy_es_bits_reproduce_the_saving_first_rule():
    with_es = _episode("greedy", "paper_kb", seed=4, es_agents=True)
    with_rule = _episode("greedy", "paper_kb", seed=4)  # es_agents False, saving_first
    for a, b in zip(with_es, with_rule, strict=True):
        assert_array_equal(a["offloaded"], b["offloaded"])
        assert_allclose(a["cost"], b["cost"], rtol=1e-12)
        # ES agents approve only what fits, so the environment never has to cut.
        assert not (a["approved"] & ~a["offloaded"]).any()


def test_random_policy_is_seeded_and_leaves_the_env_generator_alone():
    env = mec_env.parallel_env("small")
    env.reset(seed=0)
    a1 = make_policy("random", env, seed=7)(None)
    a2 = make_policy("random", env, seed=7)(None)
    a3 = make_policy("random", env, seed=8)(None)
    for agent in env.agents:
        assert_array_equal(a1[agent], a2[agent])
    assert any(not np.array_equal(a1[a], a3[a]) for a in env.ud_agents)
    # The env's trajectory does not depend on the random policy's own draws.
    harvest = []
    for seed in (7, 8):
        env.reset(seed=0)
        policy = make_policy("random", env, seed=seed)
        env.step(policy(None))
        harvest.append(env.last_step["harvest_j"])
    assert_array_equal(*harvest)


# ------------------------------------------------------------------------------- mean costs


def test_greedy_beats_random_and_all_local_on_paper_kb():
    seeds = range(3)
    costs = {
        name: _mean_cost(name, "paper_kb", seeds)
        for name in ("all_local", "all_offload", "random", "greedy")
    }
    assert costs["greedy"] < costs["all_offload"] < costs["all_local"] < costs["random"]
    # the first prototype's numbers: all_local 0.166, saving-first 0.050, offload-all 0.106.
    assert costs["all_local"] == pytest.approx(0.166, abs=0.012)
    assert costs["greedy"] == pytest.approx(0.050, abs=0.010)
    assert costs["all_offload"] == pytest.approx(0.106, abs=0.012)


# ------------------------------------------------------------------------------- the oracle


def test_oracle_is_at_most_every_other_policy_on_the_same_small_slot():
    for seed in range(8):
        oracle = _first_slot_objective("oracle", seed)
        for name in ("all_local", "all_offload", "random", "greedy"):
            assert oracle <= _first_slot_objective(name, seed) + 1e-12, (seed, name)


def test_oracle_prediction_equals_the_played_slot():
    for es_agents, admission in [
        (True, "accept_all"),
        (False, "accept_all"),
        (False, "deadline_first"),
    ]:
        env = mec_env.parallel_env("small", es_agents=es_agents, admission=admission)
        policy = make_policy("oracle", env)
        observations, _ = env.reset(seed=5)
        while env.agents:
            observations, *_ = env.step(policy(observations))
            assert policy.last_objective == pytest.approx(slot_objective(env), rel=1e-12)


def test_oracle_equals_greedy_when_the_servers_never_interact():
    # small: K = U_m = 2, so admitted tasks never queue, and 2·50 KB < D_m = 400 KB: the slot
    # separates into "pick at most K savings per server", which saving-first solves exactly.
    for seed in range(6):
        assert _first_slot_objective("oracle", seed) == pytest.approx(
            _first_slot_objective("greedy", seed), rel=1e-12
        )


def test_oracle_beats_greedy_when_storage_binds():
    # D_m = 60 KB and K = 4 turn admission into a knapsack, where saving-first can err: over
    # 40 slots the oracle is never worse and strictly better in some (about 1 slot in 10).
    tight = {"subchannels": 4, "n_cpus": 1, "storage_bytes": 60_000}
    gaps = np.array(
        [
            _first_slot_objective("greedy", seed, **tight)
            - _first_slot_objective("oracle", seed, **tight)
            for seed in range(40)
        ]
    )
    assert (gaps >= -1e-12).all()
    assert (gaps > 1e-3).sum() >= 1


def test_oracle_refuses_large_instances():
    with pytest.raises(ValueError, match=f"N <= {ORACLE_MAX_UDS}.*n_uds=48"):
        make_policy("oracle", mec_env.parallel_env("paper_kb"))
