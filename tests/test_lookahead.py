"""The drift-plus-penalty reference policy (mec_env.lookahead): hand-computed decisions on
constructed slots, its limits (V → ∞ is greedy's choice, no queues is greedy), and full
episodes with valid actions on every time-coupled preset."""

from __future__ import annotations

import numpy as np
import pytest

import mec_env
from mec_env.config import make_config
from mec_env.lookahead import DriftPlusPenalty, drop_risk, energy_weight
from mec_env.policies import (
    POLICIES,
    POLICY_NAMES,
    SlotView,
    env_overrides_for,
    make_policy,
    slot_view,
)
from mec_env.sim.slot import SlotState
from mec_env.sim.taskqueue import QueueView

OFFLOAD, LOCAL, WAIT = DriftPlusPenalty.OFFLOAD, DriftPlusPenalty.LOCAL, DriftPlusPenalty.WAIT
QUEUE_PRESETS = ("queue", "queue_heavy", "queue_small", "queue_energy")


def _view(cfg, *, has, bits, deadline, server, length=None, busy=None, battery=None, gain_db=10.0):
    """A constructed slot of ``cfg`` (N UDs): c = 500 cycles/bit, the same gain to every ES,
    idle ES CPUs; ``has``, ``bits``, ``deadline`` (remaining, s), ``server`` per UD."""
    n, m = cfg.n_uds, cfg.n_servers
    has = np.asarray(has, bool)
    server = np.where(has, np.asarray(server), -1)
    members = -np.ones((m, int(cfg.z_max.max())), dtype=np.int64)
    for s in range(m):
        ids = np.flatnonzero(server == s)
        members[s, : ids.size] = ids
    slot = SlotState(
        config=cfg,
        bits=np.where(has, np.asarray(bits, float), 0.0),
        cycles_per_bit=np.full(n, 500.0),
        deadline_s=np.asarray(deadline, float),
        gain=np.full((n, m), 10.0 ** (gain_db / 10.0)),
        battery_j=np.full(n, cfg.b_max_j) if battery is None else np.asarray(battery, float),
    )
    u = int(cfg.n_cpus.max())
    queues = QueueView(
        config=cfg,
        t=5,
        has_task=has,
        wait_s=np.zeros(n),
        length=has.astype(np.int64) if length is None else np.asarray(length, np.int64),
        local_busy_s=np.zeros(n) if busy is None else np.asarray(busy, float),
        es_free_s=np.where(np.arange(u) < cfg.n_cpus[:, None], 0.0, np.inf),
    )
    return SlotView(
        config=cfg,
        current_slot=slot,
        server=server,
        members=members,
        agents=tuple(f"ud_{i}" for i in range(n)) + tuple(f"es_{j}" for j in range(m)),
        ud_agents=tuple(f"ud_{i}" for i in range(n)),
        es_agent_names=tuple(f"es_{j}" for j in range(m)),
        queues=queues,
    )


def _policy(cfg, **params):
    return make_policy("drift_plus_penalty", config=cfg, **params)


# ----------------------------------------------------------------------------- registration


def test_registered_with_its_params_and_env_overrides():
    assert "drift_plus_penalty" in POLICY_NAMES and POLICY_NAMES == POLICIES.names()
    assert env_overrides_for("drift_plus_penalty") == {"es_agents": True}
    env = mec_env.parallel_env("queue_small")
    policy = make_policy("drift_plus_penalty", env, v=7.5)
    assert isinstance(policy, DriftPlusPenalty) and policy.v == 7.5
    assert policy.name == "drift_plus_penalty" and "v=7.5" in repr(policy)
    assert dict(POLICIES.metadata("drift_plus_penalty")["params"]).keys() == {
        "v",
        "battery_weight",
    }
    with pytest.raises(ValueError, match="V > 0"):
        make_policy("drift_plus_penalty", env, v=0.0)
    with pytest.raises(TypeError):
        make_policy("greedy", env, v=1.0)  # greedy takes no V


# -------------------------------------------------------------------------- hand-computed


def test_long_queue_runs_locally_at_a_higher_frequency():
    """An unmatched UD with 2·10^8 cycles (β = 4·10^5 bit, c = 500): alone, f* =
    (ρ1/(2ρ2κ))^(1/3) = (10^26)^(1/3) = 0.464 GHz; with 7 tasks behind, the run (longer than
    Δ at any f ≤ f_max) costs them ρ1·7·(τ^l − Δ) more, so f = (8ρ1/(2ρ2κ))^(1/3) =
    (8·10^26)^(1/3) = 0.928 GHz."""
    cfg = make_config("queue_small")
    kw = dict(has=[1, 0, 0, 0, 0, 0], bits=[4e5] + [0] * 5, deadline=[1.0] * 6, server=[-1] * 6)
    policy = _policy(cfg, v=1.0)
    for length, f_expected in ((1, 1e26 ** (1 / 3)), (8, 8e26 ** (1 / 3))):
        view = _view(cfg, length=[length, 0, 0, 0, 0, 0], **kw)
        request, f_hz, _, _ = policy.decide(view)
        assert policy.last_choice[0] == LOCAL and not request[0]
        assert f_hz[0] == pytest.approx(f_expected, rel=1e-9)
        assert 2e8 / f_hz[0] > cfg.slot_s  # still busy past the slot: the blocking piece


def test_energy_weight_and_drop_risk_by_hand():
    cfg = make_config("queue_energy")  # battery_hard, θ = b_max = 1 J
    # e_ref = κ β̄ c̄ f_min² = 5e-27 · 204 000 · 500 · (4e8)² = 0.0816 J
    e_ref = 5e-27 * 204_000 * 500 * 4e8**2
    w = energy_weight(cfg, np.array([1.0, 0.5, 0.0]), 2.0)
    np.testing.assert_allclose(w, [0.0, 2.0 * 0.5 / e_ref, 2.0 / e_ref])
    soft = make_config("queue")  # no hard battery: θ = b_min = 0.5 MJ, a 3.2 MJ battery is free
    assert energy_weight(soft, np.array([3.2e6]), 2.0)[0] == 0.0
    np.testing.assert_allclose(
        drop_risk(cfg, np.array([0.05, 0.1, 0.15, 0.2, 0.9])), [1.0, 1.0, 0.5, 0.0, 0.0]
    )


def test_empty_battery_under_battery_hard_waits():
    """1e-4 J pays neither an upload (at least β ln2 / (W/K g) = 2e5·0.693/(4e6·10) =
    3.5 mJ) nor a local run (≥ κβc f_min² = 0.08 J): the UD waits (requests, not approved;
    the environment would not start either)."""
    cfg = make_config("queue_energy")
    view = _view(
        cfg,
        has=[1] + [0] * 47,
        bits=[2e5] + [0] * 47,
        deadline=[0.8] * 48,
        server=[0] + [-1] * 47,
        battery=[1e-4] + [1.0] * 47,
    )
    policy = _policy(cfg)
    request, _, _, approve = policy.decide(view)
    assert policy.last_choice[0] == WAIT and request[0] and not approve[0]
    off, loc, _ = policy.options(view)
    assert np.isinf(off.score[0]) and np.isinf(loc.score[0])


def test_a_low_battery_lowers_the_transmit_power():
    cfg = make_config("queue_energy")
    powers = []
    for battery in (1.0, 0.5, 0.05):
        view = _view(
            cfg,
            has=[1] + [0] * 47,
            bits=[2e5] + [0] * 47,
            deadline=[0.8] * 48,
            server=[0] + [-1] * 47,
            battery=[battery] + [1.0] * 47,
        )
        policy = _policy(cfg)
        _, _, p_w, _ = policy.decide(view)
        assert policy.last_choice[0] == OFFLOAD
        powers.append(p_w[0])
    assert powers[0] > powers[1] > powers[2]


def _three_on_one_es(cfg, deadline_2: float):
    """UDs 0-2 with the same task (β = 1.6e5 bit, c = 500) on ES 0, which has K = 2."""
    return _view(
        cfg,
        has=[1, 1, 1, 0, 0, 0],
        bits=[1.6e5] * 3 + [0] * 3,
        deadline=[0.9, 0.9, deadline_2, 1, 1, 1],
        server=[0, 0, 0, -1, -1, -1],
    )


def test_cut_request_falls_back_to_local_for_small_v_and_waits_for_large_v():
    """Offload (≈ 0.02 s of processing, ≈ 0.02 s of upload: C ≈ 0.03) beats local (τ^l =
    0.17 s at f*: C ≈ 0.13) for all three; K = 2 leaves one out. With V = 1 it runs locally
    (V(C_loc − ρ1Δ − C_off) ≈ 0.05 < Q = 1); with V = 1e4 it waits (requests, refused)."""
    cfg = make_config("queue_small")
    view = _three_on_one_es(cfg, 0.9)
    small, large = _policy(cfg, v=1.0), _policy(cfg, v=1e4)
    req_s, _, _, app_s = small.decide(view)
    req_l, _, _, app_l = large.decide(view)
    np.testing.assert_array_equal(app_s[:3], [True, True, False])  # equal gains: UD index
    np.testing.assert_array_equal(app_l[:3], [True, True, False])
    assert small.last_choice[2] == LOCAL and not req_s[2]
    assert large.last_choice[2] == WAIT and req_l[2] and not app_l[2]


def test_a_task_about_to_expire_is_served_first():
    """UD 2's remaining deadline is 0.08 s ≤ Δ: waiting drops it (V·drop_cost), so its gain
    from the ES is the largest and it is approved; UD 1 is left out and, with V large, waits."""
    cfg = make_config("queue_small")
    policy = _policy(cfg, v=1e3)
    request, _, _, approve = policy.decide(_three_on_one_es(cfg, 0.08))
    np.testing.assert_array_equal(approve[:3], [True, False, True])
    assert policy.last_choice[1] == WAIT and request[1]


# ------------------------------------------------------------------------------- limits


@pytest.mark.parametrize("preset", ["queue", "queue_small"])
def test_huge_v_makes_greedys_choice(preset):
    """V → ∞ at the first slot (queues of one, idle CPUs): it asks to offload iff offload is
    cheaper than local and the ESs approve in descending saving, as greedy with ES agents. A
    request the ES leaves out waits, as greedy's, unless running locally now costs less than
    waiting a slot (C_loc < ρ1Δ + C_off)."""
    env = mec_env.parallel_env(preset, es_agents=True)
    dpp = make_policy("drift_plus_penalty", env, v=1e9)
    greedy = make_policy("greedy", env)
    cuts = 0
    for seed in range(5):
        env.reset(seed=seed)
        view = slot_view(env)
        request, _, _, approve = dpp.decide(view)
        g_request, _, _, g_approve = greedy.decide(view)
        np.testing.assert_array_equal(approve, g_approve)
        cut = g_request & ~g_approve
        np.testing.assert_array_equal(request[~cut], g_request[~cut])
        off, loc, _ = dpp.options(view)
        rho_wait = env.config.rho_delay * env.config.slot_s
        np.testing.assert_array_equal(request[cut], loc.cost[cut] >= rho_wait + off.cost[cut])
        cuts += cut.sum()
    assert cuts > 0 or preset == "queue"  # queue_small's K = 2 cuts


def test_without_queues_it_is_greedy():
    for es_agents in (True, False):
        env = mec_env.parallel_env("small", es_agents=es_agents)
        dpp, greedy = make_policy("drift_plus_penalty", env), make_policy("greedy", env)
        observations, _ = env.reset(seed=4)
        while env.agents:
            a, b = dpp(observations), greedy(observations)
            assert a.keys() == b.keys()
            for agent in a:
                np.testing.assert_array_equal(a[agent], b[agent])
            observations, *_ = env.step(a)


# ----------------------------------------------------------------------------- episodes


@pytest.mark.parametrize("es_agents", [True, False])
@pytest.mark.parametrize("preset", QUEUE_PRESETS)
def test_full_episodes_with_valid_actions(preset, es_agents):
    slots = 20 if preset != "queue_small" else None
    overrides = {"n_slots": slots} if slots else {}
    env = mec_env.parallel_env(preset, es_agents=es_agents, matcher="max_gain", **overrides)
    policy = make_policy("drift_plus_penalty", env, v=3.0)
    observations, _ = env.reset(seed=1)
    steps = 0
    while env.agents:
        actions = policy(observations)
        assert set(actions) == set(env.agents)
        for agent, action in actions.items():
            assert env.action_space(agent).contains(np.asarray(action)), (agent, action)
        observations, *_ = env.step(actions)
        out = env.unwrapped.last_step
        if es_agents:  # what it approves fits: nothing is cut, and the chosen options happen
            served = out["served"]
            choice = policy.last_choice
            assert not np.any(out["requested"] & out["approved"] & ~out["offloaded"])
            assert np.all(served[choice == OFFLOAD])
        steps += 1
    assert steps == env.config.n_slots
    assert policy(observations) == {}
