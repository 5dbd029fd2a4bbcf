"""The hindsight bound (mec_env.bounds): the recorded episode is the env's, the MILP's optimum
is the relaxation's (brute force on tiny instances), the per-option minima are minima, and
the bound is below every reference policy's realised cost."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("scipy.optimize", reason="scipy not installed")

import mec_env  # noqa: E402
from mec_env import bounds  # noqa: E402
from mec_env.config import make_config  # noqa: E402
from mec_env.policies import env_overrides_for, make_policy  # noqa: E402

TINY = dict(n_uds=2, n_servers=1, z_max=2, subchannels=1, n_cpus=1, n_slots=4,
            deadline_s=[0.1, 0.15], drop_cost=0.02)  # fmt: skip
# two subchannels but storage for one large task or two small ones: (15j) binds
TINY_STORAGE = {**TINY, "subchannels": 2, "storage_bytes": 60e3}


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


def _brute_force(rel: bounds.Relaxation) -> float:
    """The relaxation's optimum by enumerating every choice of every task (None: not
    dispatched, else one of its variables)."""
    ep, cfg = rel.episode, rel.episode.config
    choices = [[None, *np.flatnonzero(rel.task == i)] for i in range(ep.ud.size)]
    best = np.inf
    for pick in itertools.product(*choices):
        chosen = np.array([v for v in pick if v is not None], dtype=np.int64)
        ud_slot = ep.ud[rel.task[chosen]] * cfg.n_slots + rel.slot[chosen]
        if np.unique(ud_slot).size < ud_slot.size:
            continue
        off = chosen[rel.option[chosen] > 0]
        es_slot = (rel.option[off] - 1) * cfg.n_slots + rel.slot[off]
        count = np.bincount(es_slot, minlength=cfg.n_servers * cfg.n_slots)
        stored = np.bincount(es_slot, ep.bits[rel.task[off]], cfg.n_servers * cfg.n_slots)
        if np.any(count > np.repeat(cfg.subchannels, cfg.n_slots)) or np.any(
            stored > np.repeat(cfg.storage_bits, cfg.n_slots)
        ):
            continue
        skipped = np.ones(ep.ud.size, dtype=bool)
        skipped[rel.task[chosen]] = False
        best = min(best, rel.cost[chosen].sum() + rel.undispatched[skipped].sum())
    return best


@pytest.mark.parametrize("overrides", [TINY, TINY_STORAGE], ids=["K=1", "storage"])
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
    """Some tiny instance's optimum is above the sum of each task's cheapest choice: the
    per-UD, subchannel or storage constraints bind (else the brute force tests little)."""
    gaps = []
    for overrides, seed in itertools.product([TINY, TINY_STORAGE], [0, 1, 2]):
        cfg = make_config("queue_small", **overrides)
        rel = bounds.build_relaxation(bounds.record_episode(cfg, seed))
        free = sum(min([rel.undispatched[i], *rel.cost[rel.task == i]])
                   for i in range(rel.undispatched.size))  # fmt: skip
        gaps.append(bounds.solve_relaxation(rel).total - free)
    assert min(gaps) > -1e-12
    assert max(gaps) > 1e-6


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


def test_tasks_expire_as_the_env_drops_them():
    cfg = make_config("queue_small")
    ep = bounds.record_episode(cfg, 0)
    e = bounds.expiry_slot(ep)
    assert np.all((e - ep.arrival - 1) * cfg.slot_s < ep.deadline_s)
    assert np.all((e - ep.arrival) * cfg.slot_s >= ep.deadline_s)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bound_is_below_every_reference_policy(seed):
    got = bounds.hindsight_bound("queue_small", seed)
    assert got.optimal
    assert got.n_tasks > 0
    for name in ("greedy", "all_offload", "all_local", "random"):
        realised, _ = _play(name, seed)
        assert got.bound <= realised, name


@pytest.mark.parametrize("seed", [0, 1])
def test_a_policy_that_dispatches_nothing_pays_exactly_the_charged_drops(seed):
    """Every UD requests and every ES refuses: nothing is dispatched, and with a queue too
    long to fill the env charges exactly the tasks that expire before T (Σ u_i): the tasks
    left at the end and the expiries found when slot T is drawn cost nothing."""
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
    assert rel.expires.sum() < rel.expires.size  # some tasks are still queued at the end
    assert np.sum(costs) == pytest.approx(rel.undispatched.sum(), abs=1e-12)
