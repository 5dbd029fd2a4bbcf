"""The hindsight bound (mec_env.bounds): the recorded episode is the env's, the MILP's optimum
is the relaxation's (brute force on tiny instances), the per-option minima are minima, a
local option never blocks the UD's CPU longer than the env does, and the bound is below
every registered policy's realised cost."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("scipy.optimize", reason="scipy not installed")

import mec_env  # noqa: E402
from mec_env import bounds  # noqa: E402
from mec_env.config import make_config  # noqa: E402
from mec_env.policies import POLICIES, env_overrides_for, make_policy  # noqa: E402

TINY = dict(n_uds=2, n_servers=1, z_max=2, subchannels=1, n_cpus=1, n_slots=4,
            deadline_s=[0.1, 0.15], drop_cost=0.02)  # fmt: skip
# two subchannels but storage for one large task or two small ones: (15j) binds
TINY_STORAGE = {**TINY, "subchannels": 2, "storage_bytes": 60e3}
# drops dear enough that a UD runs tasks locally back to back: the busy CPU binds (seed 2)
TINY_BUSY = {**TINY, "drop_cost": 0.5}


def _play(name: str, seed: int, preset: str = "queue_small", **overrides):
    """The env and the per-slot states (current_slot, queues) seen while ``name`` plays
    ``seed``; returns (mean cost per UD-slot, [(t, slot, queues)])."""
    env = mec_env.parallel_env(preset, **{**overrides, **env_overrides_for(name)})
    policy = make_policy(name, env, seed=0)
    obs, _ = env.reset(seed=seed)
    costs, seen = [], []
    while env.agents:
        seen.append((len(costs), env.unwrapped.current_slot, env.unwrapped.queues))
        obs, *_ = env.step(policy(obs))
        costs.append(env.unwrapped.last_step["cost"])
    return float(np.mean(costs)), seen


@pytest.mark.parametrize("name", ["greedy", "random"])
def test_the_recorded_episode_is_the_one_every_policy_meets(name):
    cfg = make_config("queue_small")
    ep = bounds.record_episode(cfg, 3)
    _, seen = _play(name, 3)
    assert len(seen) == cfg.n_slots
    for t, slot, queues in seen:
        np.testing.assert_array_equal(slot.gain, ep.gain[t])
        for n in np.flatnonzero(queues.has_task):
            born = t - int(round(queues.wait_s[n] / cfg.slot_s))
            mine = (ep.ud == n) & (ep.arrival == born) & (ep.bits == slot.bits[n])
            assert mine.sum() == 1, (t, n)
            assert ep.cycles_per_bit[mine][0] == slot.cycles_per_bit[n]
            assert ep.deadline_s[mine][0] - queues.wait_s[n] == slot.deadline_s[n]


def _feasible(rel: bounds.Relaxation, chosen: list[int], blocking: bool) -> bool:
    """Whether the chosen variables satisfy the relaxation's constraints (each task once is
    by construction): one dispatch per UD and slot, K_m and D_m per ES and slot, and (with
    ``blocking``) no local start while an earlier local start keeps the CPU busy."""
    ep, cfg = rel.episode, rel.episode.config
    chosen = np.array(chosen, dtype=np.int64)
    ud_slot = ep.ud[rel.task[chosen]] * cfg.n_slots + rel.slot[chosen]
    if np.unique(ud_slot).size < ud_slot.size:
        return False
    off = chosen[rel.option[chosen] > 0]
    es_slot = (rel.option[off] - 1) * cfg.n_slots + rel.slot[off]
    count = np.bincount(es_slot, minlength=cfg.n_servers * cfg.n_slots)
    stored = np.bincount(es_slot, ep.bits[rel.task[off]], cfg.n_servers * cfg.n_slots)
    if np.any(count > np.repeat(cfg.subchannels, cfg.n_slots)) or np.any(
        stored > np.repeat(cfg.storage_bits, cfg.n_slots)
    ):
        return False
    local = chosen[rel.option[chosen] == 0]
    for a, b in itertools.combinations(local, 2):
        first, second = (a, b) if rel.slot[a] <= rel.slot[b] else (b, a)
        same_ud = ep.ud[rel.task[a]] == ep.ud[rel.task[b]]
        if blocking and same_ud and rel.slot[second] <= rel.slot[first] + rel.blocks[first]:
            return False
    return True


def _brute_force(rel: bounds.Relaxation, blocking: bool = True) -> float:
    """The relaxation's optimum by enumerating every choice of every task (None: not
    dispatched, else one of its variables), depth first, cutting only infeasible branches
    and branches whose cost already reaches the best found (costs are ≥ 0)."""
    ep = rel.episode
    choices = [[None, *np.flatnonzero(rel.task == i)] for i in range(ep.ud.size)]
    best = [np.inf]

    def walk(i: int, chosen: list[int], total: float) -> None:
        if total >= best[0]:
            return
        if i == len(choices):
            best[0] = total
            return
        for v in choices[i]:
            if v is None:
                walk(i + 1, chosen, total + rel.undispatched[i])
            elif _feasible(rel, [*chosen, v], blocking):
                walk(i + 1, [*chosen, v], total + rel.cost[v])

    walk(0, [], 0.0)
    return best[0]


@pytest.mark.parametrize(
    "overrides", [TINY, TINY_STORAGE, TINY_BUSY], ids=["K=1", "storage", "busy"]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_milp_optimum_is_the_brute_force_optimum(overrides, seed):
    cfg = make_config("queue_small", **overrides)
    rel = bounds.build_relaxation(bounds.record_episode(cfg, seed))
    got = bounds.solve_relaxation(rel)
    assert got.optimal
    assert got.n_vars == rel.task.size and got.n_tasks == rel.undispatched.size
    want = _brute_force(rel)
    assert got.total == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert got.bound == pytest.approx(want / (cfg.n_uds * cfg.n_slots), rel=1e-9, abs=1e-12)


def test_the_tiny_instances_make_the_constraints_bind():
    """Some tiny instance's optimum is above the sum of each task's cheapest choice (the
    per-UD, subchannel or storage constraints bind), and some is above its optimum without
    the busy-CPU rows (else the brute force tests little)."""
    gaps, blocking = [], []
    for overrides, seed in itertools.product([TINY, TINY_STORAGE, TINY_BUSY], [0, 1, 2]):
        cfg = make_config("queue_small", **overrides)
        rel = bounds.build_relaxation(bounds.record_episode(cfg, seed))
        free = sum(min([rel.undispatched[i], *rel.cost[rel.task == i]])
                   for i in range(rel.undispatched.size))  # fmt: skip
        total = bounds.solve_relaxation(rel).total
        gaps.append(total - free)
        blocking.append(total - _brute_force(rel, blocking=False))
    assert min(gaps) > -1e-12
    assert max(gaps) > 1e-6
    assert min(blocking) > -1e-12
    assert max(blocking) > 1e-6


def test_the_option_costs_are_minima_over_the_controls():
    cfg = make_config("queue_small")
    rng = np.random.default_rng(0)
    bits = rng.uniform(*cfg.task_bits, 20)
    cpb = rng.uniform(*cfg.cycles_per_bit, 20)
    gain = 10 ** (rng.uniform(*cfg.gain_db, 20) / 10)
    wait = rng.integers(0, 5, 20) * cfg.slot_s
    p = np.geomspace(cfg.p_min_w, cfg.p_max_w, 20001)[:, None]
    tau_o = bits / (cfg.subchannel_bw_hz[1] * np.log2(1 + p * gain))
    tau_p = bits * cpb / cfg.f_server_hz[1]
    grid = (cfg.rho_delay * (wait + tau_o + tau_p) + cfg.rho_energy * p * tau_o).min(axis=0)
    got = bounds.offload_cost(cfg, bits, cpb, wait, gain, 1)
    assert np.all(got <= grid * (1 + 1e-12))
    assert np.all(got >= grid * (1 - 1e-6))
    f = np.linspace(cfg.f_min_hz, cfg.f_max_hz, 20001)[:, None]
    work = bits * cpb
    grid = (cfg.rho_delay * (wait + work / f) + cfg.rho_energy * cfg.kappa * work * f**2).min(0)
    got = bounds.local_cost(cfg, bits, cpb, wait)
    assert np.all(got <= grid * (1 + 1e-12))
    assert np.all(got >= grid * (1 - 1e-6))


def test_the_local_options_cover_every_frequency_cheaper_and_blocking_less():
    """Every f ∈ [f_min, f_max] (a dense grid, the breakpoints and their float neighbours)
    has an option whose cost is at most its cost and whose blocking is at most the env's
    (:func:`bounds.busy_slots` of βc/f); the options of a task block distinct counts."""
    cfg = make_config("queue_small")
    rng = np.random.default_rng(1)
    bits = rng.uniform(*cfg.task_bits, 30)
    cpb = rng.uniform(*cfg.cycles_per_bit, 30)
    task, f_lo, f_hi, blocks = bounds.local_options(cfg, bits, cpb)
    assert np.array_equal(np.unique(task), np.arange(30))
    for i in range(30):
        mine = task == i
        assert np.unique(blocks[mine]).size == mine.sum()
        edges = np.concatenate([f_lo[mine], f_hi[mine]])
        f = np.concatenate([np.linspace(cfg.f_min_hz, cfg.f_max_hz, 2001), edges,
                            np.nextafter(edges, 0), np.nextafter(edges, np.inf)])  # fmt: skip
        f = f[(f >= cfg.f_min_hz) & (f <= cfg.f_max_hz)]
        env_cost = bounds.local_cost_at(cfg, bits[i], cpb[i], 0.0, f)
        env_blocks = bounds.busy_slots(cfg, bits[i] * cpb[i] / f)
        opt_cost = bounds.local_cost_at(cfg, bits[i], cpb[i], 0.0, f_lo[mine])
        ok = (opt_cost[None, :] <= env_cost[:, None] * (1 + 1e-12)) & (
            blocks[mine][None, :] <= env_blocks[:, None]
        )
        assert ok.any(axis=1).all(), i


def test_a_local_run_blocks_the_cpu_as_busy_slots_says():
    """Played in the env, UDs that always run locally at random frequencies start a local run
    exactly 1 + busy_slots(βc/f) slots after the previous one when their queue has a task."""
    cfg = make_config("queue_small", queue_capacity=50, deadline_s=[1.0, 1.0])
    env = mec_env.parallel_env("queue_small", queue_capacity=50, deadline_s=[1.0, 1.0])
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    starts = {n: [] for n in range(cfg.n_uds)}
    t = 0
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        for a in env.ud_agents:
            actions[a] = np.array([0.0, rng.uniform(0.2, 1.0), 0.0], dtype=np.float32)
        env.step(actions)
        step = env.unwrapped.last_step
        for n in np.flatnonzero(step["local"][0] if step["local"].ndim > 1 else step["local"]):
            starts[n].append((t, float(np.ravel(step["delay_s"])[n] - np.ravel(step["wait_s"])[n])))
        t += 1
    gaps = 0
    for runs in starts.values():
        for (s0, run_s), (s1, _) in zip(runs[:-1], runs[1:], strict=True):
            assert s1 >= s0 + 1 + bounds.busy_slots(cfg, run_s)
            gaps += s1 == s0 + 1 + bounds.busy_slots(cfg, run_s)
    assert gaps > 10


def test_tasks_expire_as_the_env_drops_them():
    cfg = make_config("queue_small")
    ep = bounds.record_episode(cfg, 0)
    e = bounds.expiry_slot(ep)
    assert np.all((e - ep.arrival - 1) * cfg.slot_s < ep.deadline_s)
    assert np.all((e - ep.arrival) * cfg.slot_s >= ep.deadline_s)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bound_is_below_every_registered_policy(seed):
    got = bounds.hindsight_bound("queue_small", seed)
    assert got.optimal
    assert got.n_tasks > 0
    names = set(POLICIES) | {"greedy", "all_offload", "all_local", "random"}
    for name in sorted(names):
        realised, _ = _play(name, seed)
        assert got.bound <= realised, name


@pytest.mark.parametrize("seed", [0, 1])
def test_a_policy_that_dispatches_nothing_pays_drop_cost_for_every_task(seed):
    """Every UD requests and every ES refuses: nothing is dispatched, and the env charges
    ``drop_cost`` for every task that arrived in slots 0..T − 1 (Σ u_i): those that expire
    before T at expiry, the others in the last slot's flush (slot T's arrivals and the
    expiries found when slot T is drawn are not charged again)."""
    env = mec_env.parallel_env("queue_small", queue_capacity=50)
    env.reset(seed=seed)
    costs = []
    while env.agents:
        actions = {a: np.zeros(env.action_space(a).shape, dtype=env.action_space(a).dtype)
                   for a in env.agents}  # fmt: skip
        actions.update({a: np.array([1.0, 0.0, 0.0], dtype=np.float32) for a in env.ud_agents})
        env.step(actions)
        assert not env.unwrapped.last_step["served"].any()
        costs.append(env.unwrapped.last_step["cost"])
    cfg = make_config("queue_small", queue_capacity=50)
    rel = bounds.build_relaxation(bounds.record_episode(cfg, seed))
    assert rel.expires.sum() < rel.expires.size  # some tasks are flushed at the end
    assert np.all(rel.undispatched == cfg.drop_cost)
    assert np.sum(costs) == pytest.approx(rel.undispatched.sum(), abs=1e-12)


def test_the_bound_refuses_models_it_does_not_bound():
    with pytest.raises(ValueError, match="time-coupled"):
        bounds.hindsight_bound("small", seed=0)
    with pytest.raises(ValueError, match="split points"):
        bounds.hindsight_bound("queue_small", seed=0, task_model="dnn")
