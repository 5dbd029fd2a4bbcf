"""User-server matching and the matcher/admission registries (docs/environment.md)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env
from mec_env import matching, physics
from mec_env.config import make_config
from mec_env.matching import MATCHERS, SlotState
from mec_env.sim.matchers import co_selection as co_selection_module

BUILTIN = ("co_selection", "random", "max_gain")


def random_slot(rng: np.random.Generator, **overrides) -> SlotState:
    cfg = make_config("small", **overrides)
    n, m = cfg.n_uds, cfg.n_servers
    return SlotState(
        config=cfg,
        bits=rng.uniform(*cfg.task_bits, size=n),
        cycles_per_bit=rng.uniform(*cfg.cycles_per_bit, size=n),
        deadline_s=rng.uniform(*cfg.deadline_s, size=n),
        gain=10.0 ** (rng.uniform(*cfg.gain_db, size=(n, m)) / 10.0),
        battery_j=np.full(n, cfg.b_max_j),
    )


def reference_co_selection(slot: SlotState) -> np.ndarray:
    """Algorithm 1 with eqs. (18)-(19) as environment.md words it, one UD and one ES at a time."""
    cfg = slot.config
    tau_o, tau_p, e_o = slot.offload_estimates(cfg.p_max_w)
    n_uds, n_servers = tau_o.shape
    server = [-1] * n_uds
    accepted: list[list[int]] = [[] for _ in range(n_servers)]

    def completion_times(members: list[int], m: int) -> dict[int, float]:
        free = [0.0] * int(cfg.n_cpus[m])
        done = {}
        for k in sorted(members, key=lambda k: (tau_o[k, m], k)):  # arrival, ties by index
            cpu = min(range(len(free)), key=lambda j: free[j])
            done[k] = tau_p[k, m] + max(tau_o[k, m], free[cpu])
            free[cpu] = done[k]
        return done

    while True:
        unmatched = [n for n in range(n_uds) if server[n] < 0]
        open_servers = [m for m in range(n_servers) if len(accepted[m]) < cfg.z_max[m]]
        if not unmatched or not open_servers:
            return np.array(server)
        proposals: dict[int, list[tuple[float, int]]] = {m: [] for m in open_servers}
        for n in unmatched:
            best = None
            for m in open_servers:
                done = completion_times(accepted[m] + [n], m)
                score = sum(
                    cfg.rho_delay * done[k] + cfg.rho_energy * e_o[k, m] for k in accepted[m] + [n]
                )  # I_m, eq. (18)
                if best is None or score < best[0]:
                    best = (score, m, done[n])
            proposals[best[1]].append((best[2], n))  # ES ranks by I_n = τ^a_n, eq. (19)
        for m, props in proposals.items():
            room = int(cfg.z_max[m]) - len(accepted[m])
            for _, n in sorted(props)[:room]:
                accepted[m].append(n)
                server[n] = m


def loads(server: np.ndarray, n_servers: int) -> np.ndarray:
    return np.bincount(server[server >= 0], minlength=n_servers)


# ------------------------------------------------------------------ co_selection


def test_co_selection_matches_reference_algorithm():
    rng = np.random.default_rng(1)
    for _ in range(60):
        m = int(rng.integers(1, 4))
        overrides = dict(
            n_servers=m,
            n_uds=int(rng.integers(1, 16)),
            z_max=[int(z) for z in rng.integers(1, 6, m)],
            n_cpus=[int(u) for u in rng.integers(1, 4, m)],
            f_server_hz=[float(f) for f in rng.uniform(1e9, 8e9, m)],
        )
        slot = random_slot(rng, **overrides)
        assert_array_equal(matching.co_selection(slot, rng), reference_co_selection(slot))


def test_co_selection_ties():
    # Identical UDs and identical servers: every score ties. Round 1: all six propose to the
    # lowest-index server ES0, which keeps z_max = 4 by UD index (0-3); round 2: UDs 4 and 5
    # go to ES1.
    cfg = make_config("small", n_uds=6, n_servers=2, z_max=4, n_cpus=1)
    same = SlotState(
        cfg, np.full(6, 8e4), np.full(6, 500.0), np.ones(6), np.full((6, 2), 10.0), np.ones(6)
    )
    assert_array_equal(matching.co_selection(same, None), [0, 0, 0, 0, 1, 1])
    for n in (3, 9, 17):
        for n_cpus in (1, 3):
            cfg = make_config("small", n_uds=n, n_servers=3, z_max=4, n_cpus=n_cpus)
            gain = np.tile([10.0, 10.0, 20.0], (n, 1))
            gain[::2] = gain[::2, ::-1]
            bits = np.where(np.arange(n) % 3 == 0, 8e4, 1.6e5)
            slot = SlotState(cfg, bits, np.full(n, 500.0), np.ones(n), gain, np.ones(n))
            assert_array_equal(matching.co_selection(slot, None), reference_co_selection(slot))


def test_co_selection_terminates_in_at_most_one_round_per_matched_ud(monkeypatch):
    rounds = []
    original = matching.propose_and_accept

    def counting(z_max, n_uds, ud_scores, es_priority):
        def counted(*args):
            rounds.append(1)
            return ud_scores(*args)

        return original(z_max, n_uds, counted, es_priority)

    monkeypatch.setattr(co_selection_module, "propose_and_accept", counting)
    rng = np.random.default_rng(2)
    for n_uds in (1, 5, 8, 13):
        rounds.clear()
        slot = random_slot(rng, n_uds=n_uds)  # small: 2 servers × z_max 4
        server = matching.co_selection(slot, rng)
        # every round matches at least one UD
        assert 1 <= len(rounds) <= int((server >= 0).sum())


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("n_uds", [1, 3, 8])
def test_everyone_matched_when_capacity_suffices(name, n_uds):
    rng = np.random.default_rng(n_uds)
    for _ in range(10):
        slot = random_slot(rng, n_uds=n_uds)  # capacity 2 × 4 = 8
        server = MATCHERS[name](slot, rng)
        assert server.shape == (n_uds,)
        assert np.all((server >= 0) & (server < 2))
        assert np.all(loads(server, 2) <= 4)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize(
    ("n_uds", "z_max"), [(9, [4, 4]), (20, [4, 4]), (12, [1, 6, 2]), (30, [1, 6, 2]), (7, [1])]
)
def test_overflow_leaves_exactly_n_minus_capacity_unmatched(name, n_uds, z_max):
    rng = np.random.default_rng(n_uds)
    for _ in range(10):
        slot = random_slot(rng, n_uds=n_uds, n_servers=len(z_max), z_max=z_max)
        server = MATCHERS[name](slot, rng)
        assert int((server < 0).sum()) == n_uds - sum(z_max)
        assert_array_equal(loads(server, len(z_max)), z_max)  # every server filled
        assert server.min() >= -1


@pytest.mark.parametrize("name", BUILTIN)
def test_heterogeneous_z_max_respected(name):
    rng = np.random.default_rng(5)
    z_max = [1, 3, 2]
    for n_uds in range(1, 9):
        slot = random_slot(rng, n_uds=n_uds, n_servers=3, z_max=z_max)
        server = MATCHERS[name](slot, rng)
        assert np.all(loads(server, 3) <= z_max)
        assert int((server >= 0).sum()) == min(n_uds, 6)


def constructed_slot() -> SlotState:
    """Three ESs with z_max 1, 2, 2 (plenty of CPUs, equal speeds).

    Round 1: UD0 and UD1 both prefer ES0 (best gain), UD2 strongly prefers ES1. ES0 has room
    for one and keeps the proposer with the smaller τ^a, the small task of UD1 (not the lower
    index). Round 2: UD0 chooses between ES1 (already serving UD2, gain 20) and the empty ES2
    (gain 19). Its own offload cost is a little lower at ES1, but eq. (18) adds UD2's cost
    there, so co_selection sends it to the less-loaded ES2. max_gain sends it to ES1.
    """
    cfg = make_config("small", n_uds=3, n_servers=3, z_max=[1, 2, 2], n_cpus=4)
    return SlotState(
        config=cfg,
        bits=np.array([4e5, 8e3, 8e4]),
        cycles_per_bit=np.full(3, 500.0),
        deadline_s=np.ones(3),
        gain=np.array([[25.0, 20.0, 19.0], [25.0, 20.0, 19.0], [5.0, 25.0, 4.0]]),
        battery_j=np.ones(3),
    )


def test_co_selection_prefers_less_loaded_server():
    slot = constructed_slot()
    cfg = slot.config
    server = matching.co_selection(slot, np.random.default_rng(0))
    assert_array_equal(server, [2, 0, 1])
    # the reason, with eq. (18): UD0's own cost at ES1 is lower than at ES2 ...
    tau_o, tau_p, e_o = slot.offload_estimates(cfg.p_max_w)
    own = cfg.rho_delay * (tau_o + tau_p) + cfg.rho_energy * e_o  # idle CPUs: τ^a = τ^o + τ^p
    assert own[0, 1] < own[0, 2]
    # ... but I_1 = own[0, 1] + own[2, 1] (UD2 already there) exceeds I_2 = own[0, 2]
    assert own[0, 1] + own[2, 1] > own[0, 2]


def test_max_gain_ignores_load_in_the_constructed_case():
    slot = constructed_slot()
    for seed in range(5):
        server = matching.max_gain(slot, np.random.default_rng(seed))
        # UD2 on ES1; one of UD0/UD1 wins ES0 at random, the other follows its gain to ES1
        assert server[2] == 1
        assert sorted(server[:2].tolist()) == [0, 1]
        assert loads(server, 3).tolist() == [1, 2, 0]


def test_max_gain_stable_in_gain():
    # every matched UD sits at its best server among those that were not full: any server
    # with a strictly larger gain ends up full
    rng = np.random.default_rng(7)
    for _ in range(30):
        slot = random_slot(rng, n_uds=int(rng.integers(1, 14)), n_servers=3, z_max=[2, 4, 3])
        server = matching.max_gain(slot, rng)
        full = loads(server, 3) == np.array([2, 4, 3])
        for n in np.flatnonzero(server >= 0):
            better = slot.gain[n] > slot.gain[n, server[n]]
            assert np.all(full[better])


def test_random_matching_uses_the_rng():
    rng = np.random.default_rng(0)
    slot = random_slot(rng, n_uds=8)
    results = {tuple(matching.random_matching(slot, np.random.default_rng(s))) for s in range(8)}
    assert len(results) > 1
    same = [matching.random_matching(slot, np.random.default_rng(3)) for _ in range(2)]
    assert_array_equal(*same)


# ------------------------------------------------------------------ registries


@pytest.fixture
def clean_registries():
    with mec_env.MATCHERS.restored(), mec_env.ADMISSIONS.restored():
        yield


def test_registered_matcher_is_used(clean_registries):
    calls = []

    def last_server_first(slot, rng):
        calls.append(slot.n_uds)
        cfg = slot.config
        server = np.full(slot.n_uds, -1, dtype=np.int64)
        places = [m for m in reversed(range(cfg.n_servers)) for _ in range(cfg.z_max[m])]
        k = min(len(places), slot.n_uds)
        server[:k] = places[:k]
        return server

    mec_env.register_matcher("last_server_first", last_server_first)
    env = mec_env.parallel_env("small", matcher="last_server_first")
    _, infos = env.reset(seed=0)
    # small: 6 UDs, 2 servers × 4: UDs 0-3 on ES1, UDs 4-5 on ES0
    assert_array_equal(env.server, [1, 1, 1, 1, 0, 0])
    assert_array_equal(infos["es_1"]["members"], [0, 1, 2, 3])
    assert_array_equal(infos["es_0"]["members"], [4, 5, -1, -1])
    assert [infos[f"ud_{i}"]["server"] for i in range(6)] == [1, 1, 1, 1, 0, 0]
    env.step({a: env.action_space(a).sample() for a in env.agents})
    assert calls == [6, 6]  # once per slot


def test_registry_rejects_duplicates_and_non_callables(clean_registries):
    with pytest.raises(ValueError, match="already registered"):
        mec_env.register_matcher("co_selection", matching.co_selection)
    mec_env.register_matcher("co_selection", matching.co_selection, overwrite=True)
    with pytest.raises(TypeError, match="callable"):
        mec_env.register_matcher("not_callable", 42)
    with pytest.raises(ValueError, match="non-empty string"):
        mec_env.register_matcher("", matching.co_selection)
    with pytest.raises(ValueError, match="already registered"):
        mec_env.register_admission("accept_all", lambda ctx: ctx.upload_s)
    with pytest.raises(TypeError, match="callable"):
        mec_env.register_admission("nope", None)


@pytest.mark.parametrize(
    ("bad_matcher", "message"),
    [
        (lambda slot, rng: np.zeros(slot.n_uds, dtype=np.int64), "put"),  # 6 UDs on ES0, z 4
        (lambda slot, rng: np.zeros(slot.n_uds - 1, dtype=np.int64), "shape"),
        (lambda slot, rng: np.zeros(slot.n_uds), "int"),  # float array
        (lambda slot, rng: np.full(slot.n_uds, 2), "outside"),  # only ES 0 and 1 exist
        (lambda slot, rng: np.full(slot.n_uds, -2), "outside"),
    ],
)
def test_matcher_breaking_the_contract_raises(clean_registries, bad_matcher, message):
    mec_env.register_matcher("broken", bad_matcher)
    env = mec_env.parallel_env("small", matcher="broken")
    with pytest.raises(mec_env.MatcherError, match=message) as err:
        env.reset(seed=0)
    assert "broken" in str(err.value)


def test_matcher_breaking_capacity_later_in_the_episode(clean_registries):
    state = {"calls": 0}

    def breaks_on_second_slot(slot, rng):
        state["calls"] += 1
        if state["calls"] == 1:
            return np.arange(slot.n_uds) % 2
        return np.ones(slot.n_uds, dtype=np.int64)

    mec_env.register_matcher("breaks_later", breaks_on_second_slot)
    env = mec_env.parallel_env("small", matcher="breaks_later")
    env.reset(seed=0)
    with pytest.raises(mec_env.MatcherError, match="z_max"):
        env.step({a: env.action_space(a).sample() for a in env.agents})


def test_registered_admission_rule_is_used(clean_registries):
    mec_env.register_admission("smallest_first", lambda ctx: ctx.slot.bits)
    env = mec_env.parallel_env("small", es_agents=False, admission="smallest_first", subchannels=1)
    env.reset(seed=4)
    while env.agents:
        server, bits = env.server.copy(), env.current_slot.bits.copy()
        env.step({a: np.array([1.0, 0.5, 1.0], np.float32) for a in env.agents})
        # all request; K = 1: each server admits exactly its smallest member's task
        for m in range(2):
            members = np.flatnonzero(server == m)
            expected = members[np.argmin(bits[members])]
            assert_array_equal(
                np.flatnonzero(env.last_step["offloaded"] & (server == m)), [expected]
            )


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("accept_all", lambda s: s["_upload_s"]),  # arrival order τ^o
        ("deadline_first", lambda s: s["deadline_s"]),
        ("offload_cost_first", lambda s: s["_offload_cost"]),
    ],
)
def test_builtin_admission_orders(rule, key):
    # K = 1 per server and every UD requests: the admitted one is the rule's first choice
    env = mec_env.parallel_env("small", es_agents=False, admission=rule, subchannels=1)
    env.reset(seed=11)
    cfg = env.config
    while env.agents:
        server = env.server.copy()
        env.step({a: np.array([1.0, 0.5, 0.6], np.float32) for a in env.agents})
        s = dict(env.last_step)
        p = s["p_w"]
        g = s["gain"][np.arange(cfg.n_uds), server]
        rate = cfg.subchannel_bw_hz[server] * np.log2(1 + p * g)
        s["_upload_s"] = s["task_bytes"] * 8 / rate
        tau_p = s["task_bytes"] * 8 * s["cycles_per_bit"] / cfg.f_server_hz[server]
        s["_offload_cost"] = 0.5 * (s["_upload_s"] + tau_p) + 0.5 * p * s["_upload_s"]
        prio = key(s)
        for m in range(2):
            members = np.flatnonzero(server == m)
            admitted = np.flatnonzero(s["offloaded"] & (server == m))
            assert_array_equal(admitted, [members[np.argmin(prio[members])]])


def test_saving_first_rejects_requests_that_save_nothing():
    # At a low transmit power (p^u = 0.02 → 5 mW) the upload of a large task is slow, so
    # only some requests save anything; saving_first approves exactly those.
    env = mec_env.parallel_env("paper_kb", es_agents=False, admission="saving_first")
    env.reset(seed=2)
    cfg = env.config
    s = env.current_slot
    env.step({a: np.array([1.0, 0.5, 0.02], np.float32) for a in env.agents})
    ls = env.last_step
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
    srv = ls["server"]
    rate = cfg.subchannel_bw_hz[srv] * np.log2(1 + ls["p_w"] * s.gain[np.arange(48), srv])
    tau_o = s.bits / rate
    tau_p = s.bits * s.cycles_per_bit / cfg.f_server_hz[srv]
    offload = physics.late_penalty_cost(0.5, 0.5, tau_o + tau_p, ls["p_w"] * tau_o, s.deadline_s)
    saves = local - offload > 0
    assert_array_equal(ls["approved"], ls["requested"] & saves)
    assert np.all(ls["offloaded"] <= ls["approved"])
    assert 0 < saves.sum() < 48


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("overrides", [{}, {"z_max": 3, "n_cpus": 2}])
def test_masked_batched_form_equals_matching_the_active_uds_alone(name, overrides):
    """The time-coupled model matches only the UDs with a task: a built-in's batched form
    with ``active`` gives each copy what the per-copy matcher gives on its active UDs alone,
    and leaves each copy's generator where that call leaves it."""
    from mec_env.sim.matchers.base import match_active

    rng = np.random.default_rng(7)
    slots = [random_slot(rng, **overrides) for _ in range(6)]
    cfg = slots[0].config
    batch = SlotState(
        config=cfg, **{k: np.stack([getattr(s, k) for s in slots]) for k in
                       ("bits", "cycles_per_bit", "deadline_s", "gain", "battery_j")}
    )  # fmt: skip
    active = rng.random((6, cfg.n_uds)) < np.array([0.0, 0.3, 0.6, 0.9, 1.0, 0.5])[:, None]
    masked_rngs = [np.random.default_rng(100 + b) for b in range(6)]
    server = match_active(name, batch, masked_rngs, active)
    assert server is not None and server.shape == active.shape
    for b in range(6):
        alone_rng = np.random.default_rng(100 + b)
        sub = active[b]
        if sub.any():
            one = SlotState(config=cfg, **{k: getattr(slots[b], k)[sub] for k in
                                           ("bits", "cycles_per_bit", "deadline_s", "gain",
                                            "battery_j")})  # fmt: skip
            expected = np.full(cfg.n_uds, -1)
            expected[sub] = MATCHERS[name](one, alone_rng)
            assert_array_equal(server[b], expected)
        else:
            assert (server[b] == -1).all()
        assert masked_rngs[b].random() == alone_rng.random()  # the same draws were taken
