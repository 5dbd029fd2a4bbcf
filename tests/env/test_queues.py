"""The time-coupled model (mec_env.sim.taskqueue, docs/environment.md "Time-coupled presets"):
hand-computed slots of the queues, the UD's busy CPU and the ES CPU backlog, drops, refusals,
battery_hard, the arrival processes and the config errors; then property tests of the queue
presets under random and adversarial actions.

Most hand-computed cases play ``queue_small`` with :data:`CONTROLLED`: no arrivals (the test
writes the queues itself), a gain of 0 dB, a transmit power of 1 W and a local CPU of 0.5 GHz,
so every delay and energy below is a short sum. The standard task is β = 2e5 bits, c = 500
cycles/bit (βc = 1e8 cycles):

- local: τ^l = 1e8 / 0.5e9 = 0.2 s, e^l = κ βc f² = 5e-27 · 1e8 · 2.5e17 = 0.125 J;
- offload: rate = W/K · log2(1 + p g) = 40e6/2 · log2(2) = 2e7 bit/s, τ^o = 2e5 / 2e7 = 0.01 s,
  τ^p = 1e8 / 4e9 = 0.025 s, e^o = 1 W · 0.01 s = 0.01 J.

With ρ1 = ρ2 = 0.5 a cost is 0.5·delay + 0.5·energy; Δ = 0.1 s; drop_cost = 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import mec_env
from mec_env.config import make_config
from mec_env.sim import components as comp
from mec_env.sim import dnn, taskqueue
from mec_env.sim.queue import queue_carry, queue_finish_times
from tests.env.test_properties import clipped_ud_actions, make_actions

CONTROLLED = dict(
    arrival_rate=0.0, gain_db=[0.0, 0.0], p_tx_dbm=[30.0, 30.0], f_local_hz=[0.5e9, 0.5e9]
)
TASK = (2e5, 500.0)  # β bits, c cycles/bit: τ^l 0.2 s, e^l 0.125 J, τ^o 0.01 s, τ^p 0.025 s
HEAVY = (2e5, 8000.0)  # βc = 1.6e9 cycles: τ^p = 1.6e9 / 4e9 = 0.4 s at the ES
TAU_L, E_L, TAU_O, TAU_P, E_O = 0.2, 0.125, 0.01, 0.025, 0.01


def make(n_uds: int = 1, **overrides):
    env = mec_env.parallel_env("queue_small", n_uds=n_uds, **{**CONTROLLED, **overrides})
    env.reset(seed=0)
    return env


def load(env, ud: int, *tasks, redraw: bool = True) -> None:
    """Append ``tasks`` ((bits, cycles per bit, deadline s, born slot) each) to UD ``ud``'s
    queue and draw the slot again (the head becomes the slot's task, the UDs are matched)."""
    core = env.unwrapped._core
    for bits, cpb, deadline, born in tasks:
        core.queues.append(0, ud, bits, cpb, deadline, born, core.config.slot_s)
    if redraw:
        core.new_slot()


def act(env, x=0.0, f=0.0, p=1.0, es=1) -> dict:
    """Actions: UD n gets (x[n], f, p) (x a scalar or one per UD); every ES approves (es=1)
    or refuses (es=0) every place."""
    xs = np.broadcast_to(np.asarray(x, dtype=np.float32), (len(env.ud_agents),))
    actions = {a: np.array([xs[n], f, p], np.float32) for n, a in enumerate(env.ud_agents)}
    for a, z in zip(env.es_agent_names, env.config.z_max):  # none without ES agents
        actions[a] = np.full(int(z), es, np.int8)
    return actions


def step(env, actions) -> dict:
    env.step(actions)
    return env.last_step


# ------------------------------------------------------------------ the ES CPU queue


def test_queue_carry_with_busy_cpus_by_hand():
    # group 0: two CPUs free at 0.5 and 0.25 s; group 1: one CPU (the second is inf) free at
    # 0.125; group 2: two idle CPUs and no items (its free times come back unchanged)
    free = np.array([[0.5, 0.25], [0.125, np.inf], [0.0, 0.0]])
    arrival = np.array([0.0, 0.0625, 0.25, 0.25, 0.0])
    processing = np.array([0.25, 0.5, 0.125, 0.125, 0.0625])
    group = np.array([0, 0, 0, 0, 1])
    tiebreak = np.array([0, 1, 3, 2, 4])  # items 2 and 3 arrive together: item 3 goes first
    done, after = queue_carry(arrival, processing, group, free, tiebreak=tiebreak)
    # group 0, in order of arrival (item 3 before item 2 on the tie):
    #   item 0 (τ^o 0)      -> CPU 1 (0.25):  0.25 + max(0, 0.25)      = 0.5;   CPUs [0.5, 0.5]
    #   item 1 (τ^o 0.0625) -> CPU 0 (0.5, lowest index on the tie): 0.5 + 0.5 = 1.0; [1.0, 0.5]
    #   item 3 (τ^o 0.25)   -> CPU 1 (0.5):   0.125 + max(0.25, 0.5)   = 0.625; [1.0, 0.625]
    #   item 2 (τ^o 0.25)   -> CPU 1 (0.625): 0.125 + 0.625            = 0.75;  [1.0, 0.75]
    # group 1: item 4 -> CPU 0 (0.125): 0.0625 + max(0, 0.125) = 0.1875; [0.1875, inf]
    assert done.tolist() == [0.5, 1.0, 0.75, 0.625, 0.1875]
    assert after.tolist() == [[1.0, 0.75], [0.1875, np.inf], [0.0, 0.0]]
    assert free.tolist() == [[0.5, 0.25], [0.125, np.inf], [0.0, 0.0]]  # not written into


def test_queue_carry_with_idle_cpus_equals_queue_finish_times():
    rng = np.random.default_rng(7)
    for _ in range(200):
        g = int(rng.integers(1, 7))
        n_cpus = rng.integers(1, 5, g)
        items = int(rng.integers(0, 25))
        group = rng.integers(0, g, items)
        arrival = rng.random(items) * rng.choice([0.0, 1.0], items, p=[0.2, 0.8])  # some ties
        processing = rng.random(items)
        tiebreak = rng.permutation(items) if rng.random() < 0.5 else None
        idle = np.where(np.arange(n_cpus.max()) < n_cpus[:, None], 0.0, np.inf)
        done, free = queue_carry(arrival, processing, group, idle, tiebreak=tiebreak)
        _, tau_a = queue_finish_times(arrival, processing, group, n_cpus, tiebreak=tiebreak)
        assert_array_equal(done, tau_a)
        # each CPU ends at the finish of the last item it served, or stays idle (0) / inf
        for j in range(g):
            ends = np.sort(free[j][np.isfinite(free[j])])
            assert ends.size == n_cpus[j]
            served = np.sort(done[group == j])
            last = served[::-1][: n_cpus[j]]
            assert set(ends[ends > 0]) <= set(last)


def test_es_backlog_carries_to_the_next_slot_minus_the_slot_floored_at_zero():
    env = make(n_uds=2, n_servers=1, n_cpus=1, es_agents=False, normalize_obs=False)
    load(env, 0, (*HEAVY, 1.0, 0))
    s = step(env, act(env, x=[1.0, 0.0]))
    # slot 0: UD 0 offloads the heavy task to the idle CPU: τ^a = 0.4 + max(0.01, 0) = 0.41 s
    assert s["offloaded"].tolist() == [True, False] and s["served"].tolist() == [True, False]
    assert_allclose(s["delay_s"], [TAU_O + 0.4, 0.0])
    q = env.queues
    assert_allclose(q.es_free_s, [[0.41 - 0.1]])  # 0.31 s left after Δ = 0.1 s
    col = 6 + 1 + 2 + 3  # raw UD observation: 6 head, M gains, M + 1 one-hot, then 4 columns
    load(env, 1, (*TASK, 1.0, 0))  # UD 1's task arrived in slot 0: it has waited 0.1 s
    obs = env.unwrapped._observe()
    assert_allclose(obs["ud_1"][col], 0.31, rtol=1e-6)  # its ES's mean CPU backlog
    s = step(env, act(env, x=[0.0, 1.0]))
    # slot 1: UD 1's light task waits for the CPU: τ^a = 0.025 + max(0.01, 0.31) = 0.335 s;
    # its delay is the wait 0.1 plus that: 0.435 s; cost 0.5·0.435 + 0.5·0.01 = 0.2225
    assert s["offloaded"].tolist() == [False, True]
    assert_allclose(s["delay_s"][1], 0.1 + 0.335)
    assert_allclose(s["cost"], [0.0, 0.5 * 0.435 + 0.5 * E_O])
    assert_allclose(env.queues.es_free_s, [[0.335 - 0.1]])  # 0.235
    step(env, act(env))  # nothing dispatched: 0.235 -> 0.135 -> 0.035 -> max(-0.065, 0) = 0
    assert_allclose(env.queues.es_free_s, [[0.135]])
    step(env, act(env))
    assert_allclose(env.queues.es_free_s, [[0.035]])
    step(env, act(env))
    assert env.queues.es_free_s.tolist() == [[0.0]]


def test_es_backlog_of_cpus_it_does_not_have_stays_inf():
    env = make(n_uds=2, n_servers=2, n_cpus=[1, 2], es_agents=False)
    assert env.queues.es_free_s.tolist() == [[0.0, np.inf], [0.0, 0.0]]
    load(env, 0, (*HEAVY, 1.0, 0))
    load(env, 1, (*HEAVY, 1.0, 0))
    step(env, act(env, x=1.0))
    free = env.queues.es_free_s
    assert np.isinf(free[0, 1]) and np.isfinite(free[0, 0]) and np.isfinite(free[1]).all()


# ------------------------------------------------------------------ the UD's CPU


def test_busy_local_cpu_blocks_the_next_local_run():
    env = make(normalize_obs=False)
    load(env, 0, (*TASK, 1.0, 0), (*TASK, 1.0, 0))
    s = step(env, act(env, x=0.0))
    # slot 0: the head runs locally at an idle CPU: delay 0 + 0.2 s, energy 0.125 J
    assert s["local"].tolist() == [True] and s["served"].tolist() == [True]
    assert_allclose(s["delay_s"], [TAU_L])
    assert_allclose(s["energy_j"], [E_L])
    assert_allclose(s["cost"], [0.5 * TAU_L + 0.5 * E_L])
    assert env.queues.local_busy_s.tolist() == [0.2 - 0.1]  # 0.1 s of the run left
    assert env.queues.length.tolist() == [1]
    obs = env.unwrapped._observe()["ud_0"]
    # length, wait, UD backlog, ES backlog, ES members per subchannel (1 / K = 2), upload rank
    assert_allclose(obs[-6:], [1, 0.1, 0.1, 0.0, 0.5, 0.0], rtol=1e-6)
    s = step(env, act(env, x=0.0))
    # slot 1: the CPU is busy for 0.1 s more: the task does not start, it waits
    assert s["local"].tolist() == [False] and s["served"].tolist() == [False]
    assert s["delay_s"].tolist() == [0.0] and s["energy_j"].tolist() == [0.0]
    assert s["cost"].tolist() == [0.0]
    assert env.queues.local_busy_s.tolist() == [0.0]  # max(0.1 - 0.1, 0)
    assert env.queues.length.tolist() == [1]
    s = step(env, act(env, x=0.0))
    # slot 2: the second task (arrived in slot 0) runs: delay = wait 0.2 + 0.2 = 0.4 s
    assert s["served"].tolist() == [True]
    assert_allclose(s["wait_s"], [0.2])
    assert_allclose(s["delay_s"], [0.2 + TAU_L])
    assert env.queues.length.tolist() == [0]


def test_busy_local_cpu_does_not_stop_an_offload():
    env = make(es_agents=False)
    load(env, 0, (*TASK, 1.0, 0))
    env.unwrapped._core.queues.local_busy_s[0, 0] = 0.5
    s = step(env, act(env, x=1.0))
    assert s["offloaded"].tolist() == [True] and s["local"].tolist() == [False]
    assert_allclose(s["delay_s"], [TAU_O + TAU_P])  # 0.035 s at an idle ES CPU
    assert_allclose(env.queues.local_busy_s, [0.4])  # the UD's CPU keeps counting down


# ------------------------------------------------------------------ drops


def test_deadline_expiry_drops_the_task_and_charges_drop_cost_in_that_slot():
    env = make()
    # A (φ 1.0), B (φ 0.25), C (φ 1.0), all arrived in slot 0; the UD's CPU is busy 1 s so
    # nothing runs. B's age t·Δ reaches 0.25 at t = 3 (0.2 < 0.25 <= 0.3): dropped there, from
    # the middle of the queue, A and C kept in order
    load(env, 0, (2e5, 500.0, 1.0, 0), (1e5, 600.0, 0.25, 0), (3e5, 700.0, 1.0, 0))
    env.unwrapped._core.queues.local_busy_s[0, 0] = 1.0
    for t in range(3):
        s = step(env, act(env, x=0.0))
        assert s["cost"].tolist() == [0.0] and s["dropped"].tolist() == [0], t
        assert env.queues.length.tolist() == [3 if t < 2 else 2]
    q = env.unwrapped._core.queues
    assert q.fifo("bits")[0, 0, :2].tolist() == [2e5, 3e5]  # A then C
    assert_allclose(env.current_slot.deadline_s, [1.0 - 0.3])  # the head A's remaining deadline
    s = step(env, act(env, x=0.0))  # slot 3: B's drop is charged now
    assert s["dropped"].tolist() == [1] and s["served"].tolist() == [False]
    assert s["cost"].tolist() == [1.0]  # drop_cost
    assert_allclose(s["reward"], [-1.0 + s["penalty"][0]])


def test_head_expiring_with_an_idle_cpu_is_dropped_not_served():
    env = make(drop_cost=2.5)
    load(env, 0, (*TASK, 0.15, -2))  # arrived 2 slots ago: age 0.2 >= 0.15 at t = 0
    assert env.queues.length.tolist() == [0] and not env.queues.has_task[0]
    assert env.server.tolist() == [-1]  # nothing to match
    s = step(env, act(env, x=1.0))
    assert s["dropped"].tolist() == [1] and s["cost"].tolist() == [2.5]
    assert s["requested"].tolist() == [False]


def test_arrival_at_a_full_queue_is_dropped():
    env = make(arrival_rate=1.0, queue_capacity=1)  # Bernoulli(1): one arrival every slot
    q = env.unwrapped._core.queues
    assert q.length.tolist() == [[1]]
    first = q.bits[0, 0, 0]
    q.length[0, 0] = 0  # the first arrival again, waiting up to 1 s
    q.append(0, 0, first, q.cycles_per_bit[0, 0, 0], 1.0, 0, env.config.slot_s)
    q.local_busy_s[0, 0] = 1.0  # and cannot run
    s = step(env, act(env, x=0.0))
    assert s["dropped"].tolist() == [0] and s["cost"].tolist() == [0.0]
    s = step(env, act(env, x=0.0))  # slot 1's arrival found the queue full
    assert s["dropped"].tolist() == [1] and s["cost"].tolist() == [1.0]
    assert q.length.tolist() == [[1]] and q.fifo("bits")[0, 0, 0] == first
    assert q.fifo("born")[0, 0, 0] == 0


def test_push_arrivals_fills_to_capacity_and_counts_the_rest():
    cfg = make_config("queue_small", n_uds=2, queue_capacity=2)
    q = taskqueue.TaskQueues.empty(cfg, 1)
    q.append(0, 0, 9.0, 1.0, 1.0, 3, cfg.slot_s)
    counts = np.array([[3, 2]])
    bits = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    ones = np.ones((1, 2, 3))
    dropped = taskqueue.push_arrivals(q, counts, bits, ones, ones, np.array([4]), cfg.slot_s)
    # UD 0: one queued + 3 arriving at capacity 2: arrival 1 joins, 2 and 3 are dropped
    # UD 1: empty + 2 arriving: both join
    assert dropped.tolist() == [[2, 0]]
    assert q.length.tolist() == [[2, 2]]
    assert q.bits[0, 0].tolist() == [9.0, 1.0] and q.bits[0, 1].tolist() == [4.0, 5.0]
    assert q.born[0, 0, 1] == 4 and q.born[0, 1].tolist() == [4, 4]
    # a 1 s deadline at Δ = 0.1 s: born at 4, expired from slot 14 on
    assert q.expiry[0, 0].tolist() == [13, 14] and q.expiry[0, 1].tolist() == [14, 14]


def test_expire_pop_and_head_by_hand():
    cfg = make_config("queue_small", n_uds=2, queue_capacity=3)
    q = taskqueue.TaskQueues.empty(cfg, 1)
    for bits, deadline, born in [(1.0, 0.5, 0), (2.0, 0.15, 0), (3.0, 0.3, 1)]:
        q.append(0, 0, bits, 300.0, deadline, born, cfg.slot_s)
    q.append(0, 1, 7.0, 450.0, 0.9, 0, cfg.slot_s)
    # expiry slots: born + the least a with a·Δ >= φ: 0 + 5, 0 + 2, 1 + 3 and 0 + 9
    assert q.expiry[0, 0, :3].tolist() == [5, 2, 4] and q.expiry[0, 1, 0] == 9
    t = np.array([2])
    # at t = 2 the ages are 0.2, 0.2, 0.1 (UD 0) and 0.2 (UD 1): only the 0.15 s task expires
    assert taskqueue.expire(q, t).tolist() == [[1, 0]]
    assert q.length.tolist() == [[2, 1]] and q.fifo("bits")[0, 0, :2].tolist() == [1.0, 3.0]
    assert q.fifo("expiry")[0, 0].tolist() == [5, 4, taskqueue.EMPTY]
    has, bits, cpb, remaining, wait = taskqueue.head(q, cfg, t)
    assert has.tolist() == [[True, True]] and bits.tolist() == [[1.0, 7.0]]
    assert_allclose(remaining, [[0.5 - 0.2, 0.9 - 0.2]])
    assert_allclose(wait, [[0.2, 0.2]])
    taskqueue.pop(q, np.array([[False, True]]))
    assert q.length.tolist() == [[2, 0]]
    has, bits, cpb, remaining, wait = taskqueue.head(q, cfg, t)
    # no task: β = 0, c = c_min, φ = φ_max, wait 0
    assert has.tolist() == [[True, False]] and bits[0, 1] == 0.0
    assert cpb[0, 1] == cfg.cycles_per_bit[0] and remaining[0, 1] == cfg.deadline_s[1]
    assert wait[0, 1] == 0.0


# ------------------------------------------------------------------ refusals and outcomes


def test_refused_offload_request_waits_at_the_head():
    env = make(n_servers=1)
    load(env, 0, (*TASK, 1.0, 0), (1e5, 400.0, 1.0, 0))
    s = step(env, act(env, x=1.0, es=0))  # the ES refuses
    assert s["requested"].tolist() == [True] and s["approved"].tolist() == [False]
    assert s["served"].tolist() == [False] and s["local"].tolist() == [False]
    assert s["cost"].tolist() == [0.0] and s["delay_s"].tolist() == [0.0]
    assert env.queues.length.tolist() == [2]
    assert env.current_slot.bits.tolist() == [2e5]  # still the head
    assert_allclose(env.queues.wait_s, [0.1])
    s = step(env, act(env, x=1.0, es=1))  # approved now
    # delay = wait 0.1 + τ^o 0.01 + τ^p 0.025 = 0.135 s; cost 0.5·0.135 + 0.5·0.01 = 0.0725
    assert s["offloaded"].tolist() == [True]
    assert_allclose(s["delay_s"], [0.135])
    assert_allclose(s["energy_j"], [E_O])
    assert_allclose(s["cost"], [0.0725])
    assert env.queues.length.tolist() == [1] and env.current_slot.bits.tolist() == [1e5]


def test_request_cut_by_k_waits_at_the_head():
    env = make(n_uds=2, n_servers=1, subchannels=1, es_agents=False)
    load(env, 0, (*TASK, 1.0, 0))  # τ^o = 0.01 s
    load(env, 1, (1e5, 500.0, 1.0, 0))  # τ^o = 1e5 / 2e7 = 0.005 s: arrives first
    s = step(env, act(env, x=1.0))
    # K = 1: UD 1 gets the subchannel, UD 0 is approved (accept_all) and cut
    assert s["approved"].tolist() == [True, True]
    assert s["offloaded"].tolist() == [False, True]
    assert s["served"].tolist() == [False, True]
    assert env.queues.length.tolist() == [1, 0]
    assert env.current_slot.bits.tolist() == [2e5, 0.0]


def test_dispatched_delay_is_wait_plus_service_and_timeout_flag():
    env = make(n_uds=2, es_agents=False)
    load(env, 0, (*TASK, 0.25, -1))  # waited 0.1 s: remaining 0.15 s
    load(env, 1, (*TASK, 0.25, -1))
    assert_allclose(env.current_slot.deadline_s, [0.15, 0.15])
    s = step(env, act(env, x=[0.0, 1.0]))
    # UD 0 local: delay 0.1 + 0.2 = 0.3 > φ = 0.25 (service 0.2 > remaining 0.15): timed out;
    #   cost 0.5·0.3 + 0.5·0.125 = 0.2125; late penalty ρ1·min(0.15 − 0.2, 0) = −0.025
    # UD 1 offloaded: delay 0.1 + 0.035 = 0.135 <= 0.25: on time, cost 0.5·0.135 + 0.005
    assert_allclose(s["wait_s"], [0.1, 0.1])
    assert_allclose(s["delay_s"], [0.3, 0.135])
    assert s["timed_out"].tolist() == [True, False]
    assert_allclose(s["cost"], [0.2125, 0.0725])
    battery = s["battery_j"]
    b_min = env.config.b_min_j
    low = 0.5 * np.minimum(battery - b_min, 0.0)
    assert_allclose(s["penalty"], [-0.025 + low[0], low[1]], atol=1e-12)
    assert_allclose(s["reward"], -s["cost"].mean() + s["penalty"])


def test_ud_without_a_task_dispatches_nothing_and_costs_nothing():
    env = make(n_uds=2, es_agents=False)
    load(env, 0, (*TASK, 1.0, 0))
    assert env.server[1] == -1 and env.queues.has_task.tolist() == [True, False]
    s = step(env, act(env, x=1.0))
    assert s["served"].tolist() == [True, False]
    assert s["requested"].tolist() == [True, False]
    assert s["cost"][1] == 0.0 and s["energy_j"][1] == 0.0 and s["delay_s"][1] == 0.0


@pytest.mark.parametrize("matcher", ["co_selection", "max_gain", "random"])
def test_the_only_task_gets_the_free_place(matcher):
    # one ES place, three UDs, only UD 0 has a task: it should be matched
    env = make(n_uds=3, n_servers=1, z_max=1, subchannels=1, matcher=matcher)
    load(env, 0, (*TASK, 1.0, 0))
    assert env.server.tolist() == [0, -1, -1]


# ------------------------------------------------------------------ battery_hard

BATTERY = dict(battery_hard=True, battery_j=[0.001, 1.0], harvest_mean_j=0.0, es_agents=False)


def test_battery_hard_blocks_what_the_battery_cannot_pay_for():
    env = make(n_uds=4, n_servers=1, **BATTERY)
    for n in range(4):
        load(env, n, (*TASK, 1.0, 0), redraw=n == 3)
    env.unwrapped._core.battery[0] = [0.005, 0.05, 0.05, 0.2]
    s = step(env, act(env, x=[1.0, 1.0, 0.0, 0.0]))
    # UD 0: e^o 0.01 > 0.005: no request; e^l 0.125 > 0.005: no local run -> waits
    # UD 1: e^o 0.01 <= 0.05: requests, offloads
    # UD 2: e^l 0.125 > 0.05: no local run -> waits
    # UD 3: e^l 0.125 <= 0.2: runs locally
    assert s["requested"].tolist() == [False, True, False, False]
    assert s["offloaded"].tolist() == [False, True, False, False]
    assert s["local"].tolist() == [False, False, False, True]
    assert_allclose(s["energy_j"], [0.0, E_O, 0.0, E_L])
    assert_allclose(s["battery_j"], [0.005, 0.04, 0.05, 0.075])  # no harvest
    assert env.queues.length.tolist() == [1, 0, 1, 0]


def test_without_battery_hard_the_same_slot_spends_and_floors_at_zero():
    env = make(n_uds=2, n_servers=1, **{**BATTERY, "battery_hard": False})
    for n in range(2):
        load(env, n, (*TASK, 1.0, 0), redraw=n == 1)
    env.unwrapped._core.battery[0] = [0.005, 0.05]
    s = step(env, act(env, x=[1.0, 0.0]))
    assert s["offloaded"].tolist() == [True, False] and s["local"].tolist() == [False, True]
    assert_allclose(s["battery_j"], [0.0, 0.0])  # max(0.005 − 0.01, 0), max(0.05 − 0.125, 0)


# ------------------------------------------------------------------ arrivals


def test_bernoulli_counts():
    cfg = make_config("queue_small", arrival_rate=0.3)
    u = np.array([[0.0, 0.29, 0.3, 0.31, 0.99, 0.5]])
    counts, phase = comp.BernoulliArrivals(cfg).arrivals(u[..., None], np.zeros((1, 6), np.int8))
    assert counts.tolist() == [[1, 1, 0, 0, 0, 0]]  # u < 0.3
    assert phase.tolist() == [[0] * 6]


def test_poisson_counts_by_hand():
    # λ = 0.5: P(0) = e^-0.5 = 0.60653, P(1) = 0.5 e^-0.5 = 0.30327 -> cdf 0.90980,
    #          P(2) = 0.125 e^-0.5 = 0.07582 -> cdf 0.98561
    u = np.array([0.0, 0.60, 0.61, 0.90, 0.91, 0.98, 0.99])
    assert comp.poisson_counts(u, 0.5, 3).tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert comp.poisson_counts(u, 0.5, 2).tolist() == [0, 0, 1, 1, 2, 2, 2]  # capped at 2
    assert comp.poisson_counts(u, 0.5, 1).tolist() == [0, 0, 1, 1, 1, 1, 1]
    # λ = 1: cdf e^-1 = 0.36788, 2e^-1 = 0.73576, 2.5e^-1 = 0.91970, (8/3)e^-1 = 0.98101
    u = np.array([0.36, 0.37, 0.73, 0.74, 0.91, 0.92, 0.98, 0.99])
    assert comp.poisson_counts(u, 1.0, 5).tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    # λ = 0: P(0) = 1, nothing ever arrives
    assert comp.poisson_counts(np.array([0.0, 0.999999]), 0.0, 4).tolist() == [0, 0]
    # one rate per entry
    rates = np.array([0.5, 1.0, 0.0])
    assert comp.poisson_counts(np.full(3, 0.92), rates, 9).tolist() == [2, 3, 0]


def test_poisson_arrivals_use_arrival_rate_and_max_arrivals():
    cfg = make_config("queue_small", arrivals="poisson", arrival_rate=0.5, max_arrivals=2)
    u = np.array([[[0.5], [0.7], [0.99]]])
    counts, _ = comp.PoissonArrivals(cfg).arrivals(u, np.zeros((1, 3), np.int8))
    assert counts.tolist() == [[0, 1, 2]]


def test_bursty_counts_switch_then_draw_at_the_new_phase():
    cfg = make_config("queue_small", arrivals="bursty", arrival_rate=0.1, burst_rate=2.0,
                      burst_switch=[0.2, 0.5], max_arrivals=4)  # fmt: skip
    phase = np.array([[0, 0, 1, 1]], np.int8)
    # UD 0 calm, switch u 0.1 < 0.2: turns bursty, Poisson(2): e^-2 = 0.13534,
    #   cdf 3e^-2 = 0.40601, 5e^-2 = 0.67668; count u 0.5 -> 2
    # UD 1 calm, 0.3 >= 0.2: stays calm, Poisson(0.1): e^-0.1 = 0.90484; count u 0.5 -> 0
    # UD 2 bursty, 0.4 < 0.5: calms, Poisson(0.1): cdf 1.1 e^-0.1 = 0.99532; u 0.95 -> 1
    # UD 3 bursty, 0.6 >= 0.5: stays, Poisson(2): u 0.5 -> 2
    u = np.array([[[0.1, 0.5], [0.3, 0.5], [0.4, 0.95], [0.6, 0.5]]])
    counts, new_phase = comp.BurstyArrivals(cfg).arrivals(u, phase)
    assert new_phase.tolist() == [[1, 0, 0, 1]] and new_phase.dtype == np.int8
    assert counts.tolist() == [[2, 0, 1, 2]]


def test_bursty_phase_starts_calm_and_resets():
    env = mec_env.parallel_env("queue_small", arrivals="bursty", burst_switch=[1.0, 1.0],
                               burst_rate=3.0, max_arrivals=3)  # fmt: skip
    env.reset(seed=0)  # every UD switches at every slot: bursty after the first draw
    q = env.unwrapped._core.queues
    assert q.phase.tolist() == [[1] * 6]
    env.reset(seed=0)
    assert q.phase.tolist() == [[1] * 6]  # calm at the reset, bursty after the first draw
    env2 = mec_env.parallel_env("queue_small", arrivals="bursty", max_arrivals=3)
    env2.reset(seed=0)  # burst_switch [0, 0]: never bursty
    assert env2.unwrapped._core.queues.phase.tolist() == [[0] * 6]


def test_burst_switch_is_a_pair_of_probabilities_not_a_range():
    cfg = make_config("queue_small", arrivals="bursty", burst_switch=[0.5, 0.2])
    assert cfg.burst_switch == (0.5, 0.2)


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        ("paper_kb", dict(arrivals="bernoulli"), "'every_slot' unless queue_capacity >= 1"),
        ("paper_kb", dict(arrivals="poisson"), "'every_slot' unless queue_capacity >= 1"),
        ("queue_small", dict(queue_capacity=0), "'every_slot' unless queue_capacity >= 1"),
        ("queue_small", dict(arrival_rate=1.5), r"a probability in \[0, 1\] with 'bernoulli'"),
        (
            "queue_small",
            dict(arrivals="poisson", max_arrivals=5, queue_capacity=3),
            ">= max_arrivals = 5",
        ),
        ("paper_kb", dict(battery_hard=True), "False unless queue_capacity >= 1"),
        ("queue_small", dict(burst_switch=[0.0, 1.5]), r"two probabilities in \[0, 1\]"),
        ("queue_small", dict(burst_switch=[-0.1, 0.5]), r"two probabilities in \[0, 1\]"),
        ("queue_small", dict(queue_capacity=-1), "queue_capacity"),
        ("queue_small", dict(slot_s=0.0), "slot_s"),
        ("queue_small", dict(max_arrivals=0), "max_arrivals"),
        ("queue_small", dict(drop_cost=-1.0), "drop_cost"),
        ("queue_small", dict(battery_hard=1), "battery_hard"),
    ],
)
def test_time_key_errors_are_one_line_config_errors(preset, overrides, message):
    with pytest.raises(mec_env.ConfigError, match=message) as err:
        mec_env.parallel_env(preset, **overrides)
    assert "\n" not in str(err.value)


def test_poisson_rate_above_one_is_fine():
    cfg = make_config("queue_small", arrivals="poisson", arrival_rate=1.5, max_arrivals=3)
    assert cfg.arrival_rate == 1.5 and cfg.queued


# ------------------------------------------------------------------ property tests

QUEUE_STYLES = (
    "random",
    "all_offload",
    "extremes",
    "clip_out_of_range",
    "slow_local",
    "fast_local",
)
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def queue_actions(env, style: str, rng: np.random.Generator) -> dict:
    if style not in ("slow_local", "fast_local"):
        return make_actions(env, style, rng)
    # never offload; slowest CPU: long local runs keep the UD's CPU busy and queues fill;
    # fastest CPU: e^l = κ β c f_max² up to 3.15 J, more than queue_energy's battery holds
    actions = make_actions(env, "random", rng)
    f = 0.0 if style == "slow_local" else 1.0
    for a in env.ud_agents:
        actions[a] = np.array([0.0, f, rng.random()], np.float32)
    return actions


def snapshot(env) -> dict:
    q = env.unwrapped._core.queues
    return {
        "length": q.length[0].copy(),
        "entries": [
            list(zip(q.fifo("bits")[0, i, :k].tolist(), q.fifo("born")[0, i, :k].tolist()))
            for i, k in enumerate(q.length[0].tolist())
        ],
        "battery": env.battery_j.copy(),
        "server": env.server.copy(),
        "has": env.queues.has_task.copy(),
        "t": env.queues.t,
        "local_busy": env.queues.local_busy_s.copy(),
    }


def expected_requests(
    env, ud: np.ndarray, server: np.ndarray, local_busy: np.ndarray | None = None
) -> np.ndarray:
    """The requests the clipped UD actions ``ud`` (N, 3) make before ``battery_hard``: matched
    and x^u >= 0.5; with DNN split tasks matched and a split s < L, s read from x^u as the share
    of the network offloaded (and the env's ``split`` checked against it), and, in the queue
    model (``local_busy`` the UDs' CPU backlogs at the slot's start), a split after local
    units 1..s only on an idle CPU."""
    if not env.config.split_tasks:
        return (ud[:, 0] >= 0.5) & (server >= 0)
    plan = dnn.SplitPlan.for_config(env.config)
    n_units = plan.table.n_units[plan.network_of(env.last_step["cycles_per_bit"])]
    split = dnn.split_for_offload_share(ud[:, 0], n_units)
    assert_array_equal(env.last_step["split"], split)
    requested = (split < n_units) & (server >= 0)
    if local_busy is not None:
        requested &= (split == 0) | (local_busy <= 0.0)
    return requested


def stored_bits(env) -> np.ndarray:
    """What each UD's request stores at its ES (15j), bits: the task's β; with DNN split tasks
    the activation β(s) uploaded after its split s."""
    s = env.last_step
    if not env.config.split_tasks:
        return s["task_bytes"] * 8.0
    plan = dnn.SplitPlan.for_config(env.config)
    net = plan.network_of(s["cycles_per_bit"])
    return plan.table.profile.upload_bits[net, s["split"]].astype(np.float64)


def check_queued_slot(env, actions, before: dict, observations) -> None:
    cfg = env.config
    s = env.last_step
    n, m = cfg.n_uds, cfg.n_servers
    server = before["server"]
    for key, value in s.items():
        assert not np.any(np.isnan(np.asarray(value, dtype=np.float64))), key
    # only UDs with a task are matched; served = local | offloaded, each only with a task
    assert np.all(server[~before["has"]] == -1)
    assert_array_equal(s["served"], s["local"] | s["offloaded"])
    assert not np.any(s["local"] & s["offloaded"])
    assert np.all(s["served"] <= before["has"])
    # (15h) at most z_max UDs per ES
    assert np.all(np.bincount(server[server >= 0], minlength=m) <= cfg.z_max)
    ud = clipped_ud_actions(env, actions)
    requested = expected_requests(env, ud, server, before["local_busy"])
    if cfg.battery_hard:
        assert np.all(s["requested"] <= requested)
        # nothing spent beyond the battery at the slot's start
        assert np.all(s["energy_j"] <= before["battery"])
        assert np.all(s["battery_j"] >= before["battery"] - s["energy_j"])
    else:
        assert_array_equal(s["requested"], requested)
    assert np.all(s["offloaded"] <= s["approved"]) and np.all(s["approved"] <= s["requested"])
    # admitted per ES <= K and their bits <= D_m
    off = s["offloaded"]
    bits = stored_bits(env)
    assert np.all(np.bincount(server[off], minlength=m) <= cfg.subchannels)
    assert np.all(
        np.bincount(server[off], bits[off], minlength=m) <= cfg.storage_bits * (1 + 1e-12)
    )
    # outcomes: delay = wait + service for a dispatched task, cost = eq. 14 + drops
    assert np.all(s["delay_s"][~s["served"]] == 0.0)
    assert np.all(s["delay_s"][s["served"]] >= s["wait_s"][s["served"]])
    assert np.all(s["timed_out"] <= s["served"])
    assert np.all(s["cost"] >= 0.0)
    served_cost = cfg.rho_delay * s["delay_s"] + cfg.rho_energy * s["energy_j"]
    assert_allclose(
        s["cost"], np.where(s["served"], served_cost, 0.0) + cfg.drop_cost * s["dropped"]
    )
    assert np.all(s["penalty"] <= 0.0)
    assert np.all((s["battery_j"] >= 0.0) & (s["battery_j"] <= cfg.b_max_j))
    # the queues: at most one task left per UD (the head, if served), FIFO, within capacity
    q = env.unwrapped._core.queues
    after = snapshot(env)
    assert np.all((q.length >= 0) & (q.length <= cfg.queue_capacity))
    t_next = before["t"] + 1
    for i in range(n):
        old = before["entries"][i][1 if s["served"][i] else 0 :]
        kept = [e for e in after["entries"][i] if e[1] < t_next]
        new = [e for e in after["entries"][i] if e[1] == t_next]
        assert after["entries"][i] == kept + new  # old tasks first, then the arrivals
        assert len(new) <= cfg.max_arrivals
        it = iter(old)
        assert all(e in it for e in kept), i  # the old tasks kept are a subsequence, in order
        expired = len(old) - len(kept)
        assert q.dropped[0, i] >= expired
    # backlogs: >= 0 and finite for existing CPUs, inf for missing ones
    assert np.all(np.isfinite(q.local_busy_s) & (q.local_busy_s >= 0.0))
    if cfg.split_tasks:  # an offloaded split's units 1..s keep the UD's CPU (from the start)
        plan = dnn.SplitPlan.for_config(cfg)
        local_s = plan.local_seconds(s["split"], s["cycles_per_bit"], s["f_hz"])
        ran = s["offloaded"] & (local_s > 0.0)
        assert_allclose(q.local_busy_s[0][ran], np.maximum(local_s[ran] - cfg.slot_s, 0.0))
    has_cpu = np.arange(q.es_free_s.shape[-1]) < cfg.n_cpus[:, None]
    free = q.es_free_s[0]
    assert np.all(np.isfinite(free[has_cpu]) & (free[has_cpu] >= 0.0))
    assert np.all(np.isinf(free[~has_cpu]))
    # observations and state in their spaces
    for a, obs in observations.items():
        assert np.all(np.isfinite(obs))
        assert env.observation_space(a).contains(obs), a
    assert env.state_space.contains(env.state())


def play_queued(preset: str, overrides: dict, style: str, seed: int) -> None:
    clip = style == "clip_out_of_range"
    env = mec_env.parallel_env(preset, clip_actions=clip, **overrides)
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    for a, obs in observations.items():
        assert env.observation_space(a).contains(obs), a
    while env.agents:
        before = snapshot(env)
        actions = queue_actions(env, style, rng)
        observations, *_ = env.step(actions)
        check_queued_slot(env, actions, before, observations)


@PROPERTY_SETTINGS
@given(
    style=st.sampled_from(QUEUE_STYLES),
    seed=st.integers(0, 2**16),
    es_agents=st.booleans(),
    normalize_obs=st.booleans(),
    capacity=st.integers(1, 4),
)
def test_queue_small_invariants_every_slot(style, seed, es_agents, normalize_obs, capacity):
    overrides = dict(es_agents=es_agents, normalize_obs=normalize_obs, queue_capacity=capacity,
                     n_slots=12)  # fmt: skip
    play_queued("queue_small", overrides, style, seed)


@pytest.mark.parametrize("preset", ["queue", "queue_heavy", "queue_energy"])
@PROPERTY_SETTINGS
@given(
    style=st.sampled_from(QUEUE_STYLES),
    seed=st.integers(0, 2**16),
    n_uds=st.integers(1, 8),
    n_servers=st.integers(1, 2),
    es_agents=st.booleans(),
)
def test_queue_presets_invariants_every_slot(preset, style, seed, n_uds, n_servers, es_agents):
    overrides = dict(n_uds=n_uds, n_servers=n_servers, z_max=4, subchannels=2, n_cpus=2,
                     es_agents=es_agents, n_slots=12)  # fmt: skip
    if preset == "queue_energy":
        overrides["harvest_mean_j"] = 1e-2  # some UDs run dry, some recover
    play_queued(preset, overrides, style, seed)


@PROPERTY_SETTINGS
@given(
    style=st.sampled_from(QUEUE_STYLES),
    seed=st.integers(0, 2**16),
    arrivals=st.sampled_from(["poisson", "bursty", "every_slot"]),
)
def test_other_arrival_processes_invariants_every_slot(style, seed, arrivals):
    overrides = dict(arrivals=arrivals, arrival_rate=0.8, burst_rate=2.5,
                     burst_switch=[0.2, 0.3], max_arrivals=3, queue_capacity=4,
                     storage_bytes=60e3, n_slots=12)  # fmt: skip
    play_queued("queue_small", overrides, style, seed)


def test_queue_energy_battery_runs_dry_and_is_never_overspent():
    """The battery_hard check bites: at queue_energy's battery (1 J at most), local runs at
    f_max (e^l = κ β c f_max² up to 5e-27 · 2.8e8 · 2.25e18 = 3.15 J) are often more than it
    holds, and nothing is spent beyond it."""
    env = mec_env.parallel_env("queue_energy", n_uds=6, n_servers=1, n_slots=30)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    blocked = 0
    while env.agents:
        before = snapshot(env)
        actions = queue_actions(env, "fast_local", rng)
        observations, *_ = env.step(actions)
        check_queued_slot(env, actions, before, observations)
        s = env.last_step
        # a task at an idle CPU that neither offloaded nor ran: its battery could not pay
        idle = before["has"] & (before["local_busy"] == 0.0) & ~s["requested"]
        blocked += int((idle & ~s["served"]).sum())
    assert blocked > 0


@pytest.mark.parametrize("style", ["all_offload", "slow_local"])
def test_property_checks_are_exercised(style):
    """The adversarial styles really fill queues, drop tasks and leave backlogs (so the
    property checks bite)."""
    env = mec_env.parallel_env("queue_heavy", n_uds=8, n_servers=1, z_max=8, subchannels=4,
                               n_cpus=1, queue_capacity=3, n_slots=30)  # fmt: skip
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    full = dropped = backlog = waited = 0
    while env.agents:
        before = snapshot(env)
        actions = queue_actions(env, style, rng)
        observations, *_ = env.step(actions)
        check_queued_slot(env, actions, before, observations)
        q = env.queues
        full += int((q.length == 3).sum())
        dropped += int(env.last_step["dropped"].sum())
        backlog += int((q.es_free_s > 0.0).sum() + (q.local_busy_s > 0.0).sum())
        waited += int((before["has"] & ~env.last_step["served"]).sum())
    assert full > 0 and dropped > 0 and backlog > 0 and waited > 0


def test_the_es_load_and_upload_rank_columns():
    # three UDs with a task on one ES with K = 2: members per subchannel 3 / 2 = 1.5 each.
    # Upload order at p_max: τ^o = β / ((W/K) log2(1 + p_max g)); same β, gains 2, 5, 2
    # (linear): UD 1 uploads first (rank 0), UD 0 ties with UD 2 and wins (lower index): 1, 2
    env = mec_env.parallel_env("queue_small", n_uds=3, n_servers=1, z_max=3, subchannels=2,
                               arrivals="every_slot", normalize_obs=False)  # fmt: skip
    env.reset(seed=0)
    core = env.unwrapped._core
    assert core.server.tolist() == [[0, 0, 0]]
    core.gain = np.array([[[2.0], [5.0], [2.0]]])
    core.bits = np.full((1, 3), 8e4)
    cols = core.queue_columns()[0]
    assert cols[:, 4].tolist() == [1.5, 1.5, 1.5]
    assert cols[:, 5].tolist() == [1.0, 0.0, 2.0]


def test_the_upload_rank_weighs_task_size_against_the_channel():
    # one ES, K = 2, p_max = 24 dBm = 0.2512 W, W/K = 20 MHz. UD 0: 8e4 bit at g = 10:
    # log2(1 + 2.512) = 1.812, τ^o = 8e4 / 3.624e7 = 2.21 ms. UD 1: 4e4 bit at g = 2:
    # log2(1 + 0.5024) = 0.5874, τ^o = 4e4 / 1.175e7 = 3.40 ms. UD 1 has the worse channel and
    # the smaller task and still uploads second: ranks 0, 1
    env = mec_env.parallel_env("queue_small", n_uds=2, n_servers=1, z_max=2, subchannels=2,
                               arrivals="every_slot", normalize_obs=False)  # fmt: skip
    env.reset(seed=0)
    core = env.unwrapped._core
    core.gain = np.array([[[10.0], [2.0]]])
    core.bits = np.array([[8e4, 4e4]])
    assert core.queue_columns()[0][:, 5].tolist() == [0.0, 1.0]
    core.bits = np.array([[8e4, 1e4]])  # 1e4 / 1.175e7 = 0.85 ms < 2.21 ms: UD 1 first
    assert core.queue_columns()[0][:, 5].tolist() == [1.0, 0.0]
