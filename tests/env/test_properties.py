"""Property tests: constraints (15b)-(15j) hold in every slot, whatever the actions.

Hypothesis draws a configuration (homogeneous or heterogeneous servers, ES agents on or off,
any matcher and admission rule), a seed and an action style (random, all-offload, extremes
0/1, out-of-range values with ``clip_actions=True``), plays a short episode and checks every
slot through ``env.last_step`` and ``infos``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import mec_env
from mec_env.sim.state import gain_at

MATCHER_NAMES = ("co_selection", "random", "max_gain")
ADMISSION_NAMES = ("accept_all", "offload_cost_first", "deadline_first", "saving_first")
ACTION_STYLES = ("random", "all_offload", "extremes", "clip_out_of_range")
SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw, heterogeneous: bool, es_agents: bool) -> dict:
    m = draw(st.integers(1, 3))
    n = draw(st.integers(1, 14))

    def per_server(values):
        return draw(st.lists(values, min_size=m, max_size=m)) if heterogeneous else draw(values)

    cfg = dict(
        n_servers=m,
        n_uds=n,
        n_slots=3,
        es_agents=es_agents,
        matcher=draw(st.sampled_from(MATCHER_NAMES)),
        z_max=per_server(st.integers(1, 5)),
        subchannels=per_server(st.integers(1, 4)),
        n_cpus=per_server(st.integers(1, 3)),
        # D_m from 60 KB (binds often: K ≤ 4 tasks of up to 50 KB) to 400 KB
        storage_bytes=per_server(st.sampled_from([60e3, 100e3, 400e3])),
        f_server_hz=per_server(st.sampled_from([1e9, 4e9, 8e9])),
        normalize_obs=draw(st.booleans()),
    )
    if not es_agents:
        cfg["admission"] = draw(st.sampled_from(ADMISSION_NAMES))
    return cfg


def make_actions(env, style: str, rng: np.random.Generator) -> dict:
    cfg = env.config
    actions = {}
    for a in env.ud_agents:
        if style == "random":
            act = rng.random(3)
        elif style == "all_offload":
            act = np.array([1.0, rng.random(), rng.random()])
        elif style == "extremes":
            act = rng.integers(0, 2, 3).astype(float)
        else:  # clip_out_of_range
            act = rng.uniform(-2.0, 3.0, 3)
            specials = rng.random(3) < 0.2
            act[specials] = rng.choice([np.nan, np.inf, -np.inf], specials.sum())
        actions[a] = act.astype(np.float32)
    for m, a in enumerate(env.es_agent_names):
        z = int(cfg.z_max[m])
        if style == "all_offload":
            bits = np.ones(z)
        elif style == "clip_out_of_range":
            bits = rng.uniform(-1.0, 2.0, z)
        else:
            bits = rng.integers(0, 2, z).astype(float)
        actions[a] = bits.astype(np.int8) if style != "clip_out_of_range" else bits
    return actions


def clipped_ud_actions(env, actions) -> np.ndarray:
    ud = np.array([actions[a] for a in env.ud_agents], dtype=np.float64)
    return np.clip(np.nan_to_num(ud, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def check_slot(env, actions, server, members, infos, observations, rewards):
    cfg = env.config
    n, m = cfg.n_uds, cfg.n_servers
    s = env.last_step
    for key, value in s.items():
        assert not np.any(np.isnan(np.asarray(value, dtype=np.float64))), key

    # (15b) one server per UD: the matching used is the one announced before the step
    assert_array_equal(s["server"], server)
    assert np.all((server >= -1) & (server < m))
    load = np.bincount(server[server >= 0], minlength=m)
    if "near" in s:  # reach: matched within its K ESs, unmatched only with all K full
        matched = server >= 0
        assert (s["near"][matched] == server[matched, None]).any(axis=1).all()
        assert (load[s["near"][~matched]] >= cfg.z_max[s["near"][~matched]]).all()
    elif n <= cfg.capacity:
        assert np.all(server >= 0)
    else:
        assert int((server < 0).sum()) == n - cfg.capacity
    # (15h) z_m ≤ z_max
    assert np.all(load <= cfg.z_max)
    for j in range(m):
        assert_array_equal(np.sort(members[j][members[j] >= 0]), np.flatnonzero(server == j))

    # (15c) x binary, and only matched requesting approved UDs offload
    ud = clipped_ud_actions(env, actions)
    assert s["offloaded"].dtype == bool
    assert_array_equal(s["requested"], (ud[:, 0] >= 0.5) & (server >= 0))
    assert np.all(s["approved"] <= s["requested"])
    assert np.all(s["offloaded"] <= s["approved"])
    if env.es_agent_names:
        approve = np.zeros(n, dtype=bool)
        for j, a in enumerate(env.es_agent_names):
            bits = np.nan_to_num(np.asarray(actions[a], dtype=np.float64), nan=0.0) >= 0.5
            row = members[j][: cfg.z_max[j]]  # env.members is padded to the largest z_max
            assert np.all(members[j][cfg.z_max[j] :] == -1)
            approve[row[row >= 0]] = bits[row >= 0]
        assert_array_equal(s["approved"], s["requested"] & approve)

    # (15e), (15d): f in [f_min, f_max], p in [p_min, p_max], as eqs. (22)-(23) map them
    assert np.all((s["f_hz"] >= cfg.f_min_hz) & (s["f_hz"] <= cfg.f_max_hz))
    assert np.all((s["p_w"] >= cfg.p_min_w) & (s["p_w"] <= cfg.p_max_w))
    assert_allclose(s["f_hz"], np.maximum(cfg.f_min_hz, ud[:, 1] * cfg.f_max_hz))
    assert_allclose(s["p_w"], np.maximum(cfg.p_min_w, ud[:, 2] * cfg.p_max_w))

    # (15i) at most K offloads per ES, (15j) Σβ ≤ D_m
    off = s["offloaded"]
    bits = s["task_bytes"] * 8.0
    n_off = np.bincount(server[off], minlength=m)
    stored = np.bincount(server[off], bits[off], minlength=m)
    assert np.all(n_off <= cfg.subchannels)
    assert np.all(stored <= cfg.storage_bits * (1 + 1e-12))
    # the cut is the safety net only: a cut request did not fit at its turn
    for i in np.flatnonzero(s["approved"] & ~off):
        j = server[i]
        assert n_off[j] == cfg.subchannels[j] or stored[j] + bits[i] > cfg.storage_bits[j]
    if env.es_agent_names or cfg.admission == "accept_all":
        # nothing approved is cut unless K or D_m is exhausted in arrival order
        g = gain_at(s["gain"], np.maximum(server, 0), s.get("near"))
        rate = cfg.subchannel_bw_hz[np.maximum(server, 0)] * np.log2(1 + s["p_w"] * g)
        arrival = bits / rate
        for j in range(m):
            used, room = 0, 0.0
            expected = []
            for i in sorted(
                np.flatnonzero(s["approved"] & (server == j)), key=lambda i: (arrival[i], i)
            ):
                if used < cfg.subchannels[j] and room + bits[i] <= cfg.storage_bits[j]:
                    used, room = used + 1, room + bits[i]
                    expected.append(i)
            assert_array_equal(np.flatnonzero(off & (server == j)), sorted(expected))

    # (11)-(12): local tasks by eqs. (3)-(4); offloaded ones at least τ^o + τ^p
    local = ~off
    work = bits * s["cycles_per_bit"]
    assert_allclose(s["delay_s"][local], work[local] / s["f_hz"][local])
    assert_allclose(s["energy_j"][local], cfg.kappa * work[local] * s["f_hz"][local] ** 2)
    if off.any():
        srv = server[off]
        g = gain_at(s["gain"], server, s.get("near"))[off]  # (N, M), or (N, K) with reach
        tau_o = bits[off] / (cfg.subchannel_bw_hz[srv] * np.log2(1 + s["p_w"][off] * g))
        tau_p = work[off] / cfg.f_server_hz[srv]
        assert np.all(s["delay_s"][off] >= (tau_o + tau_p) * (1 - 1e-12))
        assert_allclose(s["energy_j"][off], s["p_w"][off] * tau_o)
        no_queue = n_off[srv] <= cfg.n_cpus[srv]
        assert_allclose(s["delay_s"][off][no_queue], (tau_o + tau_p)[no_queue])

    # (15f) battery in [0, b_max]; cost, penalty, reward
    assert np.all((s["battery_j"] >= 0.0) & (s["battery_j"] <= cfg.b_max_j))
    assert_allclose(s["cost"], cfg.rho_delay * s["delay_s"] + cfg.rho_energy * s["energy_j"])
    assert np.all(s["penalty"] <= 0.0)
    assert_allclose(s["reward"], -s["cost"].mean() + s["penalty"])
    assert_allclose([rewards[a] for a in env.ud_agents], s["reward"])
    assert_array_equal(s["timed_out"], s["delay_s"] > s["deadline_s"])

    # infos agree with last_step; observations finite and in their spaces
    for i, a in enumerate(env.ud_agents):
        assert infos[a]["server"] == server[i]
        assert infos[a]["offloaded"] == off[i]
        assert infos[a]["battery_j"] == s["battery_j"][i]
    for j, a in enumerate(env.es_agent_names):
        assert infos[a]["requests"] == int(s["requested"][server == j].sum())
        assert infos[a]["admitted"] == int(n_off[j])
        assert infos[a]["cuts"] == int((s["approved"] & ~off)[server == j].sum())
    slot_info = mec_env.slot_metrics(infos[env.ud_agents[0]])
    assert slot_info["admission_cuts"] == int((s["approved"] & ~off).sum())
    assert_allclose(slot_info["mean_cost"], s["cost"].mean())
    for a, obs in observations.items():
        assert np.all(np.isfinite(obs))
        assert env.observation_space(a).contains(obs), a
    assert env.state_space.contains(env.state())


def play(cfg: dict, style: str, seed: int) -> None:
    clip = style == "clip_out_of_range"
    env = mec_env.parallel_env("small", clip_actions=clip, **cfg)
    rng = np.random.default_rng(seed)
    observations, infos = env.reset(seed=seed)
    slots = 0
    while env.agents:
        server, members = env.server.copy(), env.members.copy()
        actions = make_actions(env, style, rng)
        observations, rewards, _, _, infos = env.step(actions)
        check_slot(env, actions, server, members, infos, observations, rewards)
        slots += 1
    assert slots == cfg["n_slots"]


@pytest.mark.parametrize("es_agents", [True, False], ids=["es_on", "es_off"])
@pytest.mark.parametrize("heterogeneous", [False, True], ids=["homogeneous", "heterogeneous"])
@SETTINGS
@given(data=st.data(), style=st.sampled_from(ACTION_STYLES), seed=st.integers(0, 2**16))
def test_constraints_hold_every_slot(heterogeneous, es_agents, data, style, seed):
    cfg = data.draw(configs(heterogeneous, es_agents))
    play(cfg, style, seed)


#: city at a fiftieth of its size: the map with reach (each UD sees its 4 nearest of 6 ESs)
CITY_SMALL = {"n_uds": 96, "n_servers": 6, "area_m": [600.0, 400.0]}


@pytest.mark.parametrize("preset", ["paper", "paper_kb", "city"])
@settings(max_examples=6, deadline=None)
@given(style=st.sampled_from(ACTION_STYLES), seed=st.integers(0, 2**16), es_agents=st.booleans())
def test_constraints_hold_at_paper_scale(preset, style, seed, es_agents):
    clip = style == "clip_out_of_range"
    size = CITY_SMALL if preset == "city" else {}
    env = mec_env.parallel_env(preset, clip_actions=clip, es_agents=es_agents, n_slots=2, **size)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    while env.agents:
        server, members = env.server.copy(), env.members.copy()
        actions = make_actions(env, style, rng)
        observations, rewards, _, _, infos = env.step(actions)
        check_slot(env, actions, server, members, infos, observations, rewards)


def test_storage_and_subchannel_cuts_are_exercised():
    """The adversarial all-offload style really hits both limits (so the checks bite)."""
    env = mec_env.parallel_env(
        "small", n_uds=12, z_max=6, subchannels=[3, 6], storage_bytes=[400e3, 60e3], n_slots=5
    )
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    k_cut = d_cut = 0
    while env.agents:
        server, members = env.server.copy(), env.members.copy()
        actions = make_actions(env, "all_offload", rng)
        observations, rewards, _, _, infos = env.step(actions)
        check_slot(env, actions, server, members, infos, observations, rewards)
        off = env.last_step["offloaded"]
        k_cut += int(off[server == 0].sum() == 3)  # ES0 limited by K = 3
        d_cut += int(off[server == 1].sum() < 6)  # ES1 limited by D = 60 KB
    assert k_cut == 5 and d_cut == 5
