"""Tasks that wait: the per-UD FIFO task queues, the UD's busy CPU and the ES CPU backlog that
carry from one slot to the next (docs/environment.md, "Time-coupled presets"), written once.

The time-coupled model is on when ``queue_capacity`` >= 1 (:attr:`EnvConfig.queued`). Each
slot t of length Δ = ``slot_s``:

1. **Arrivals.** The arrival process (:mod:`mec_env.sim.components`) gives each UD a count of
   new tasks (at most ``max_arrivals``), each with its own (β, c, φ) from the task model; they
   join the tail of the UD's FIFO in order. An arrival at a full queue (``queue_capacity``
   tasks) is **dropped**.
2. **Expiry.** A queued task whose age (t − its arrival slot)·Δ has reached its deadline φ can
   no longer finish in time and is **dropped** (wherever it is in the queue).
3. **The head.** The task at the head of the queue is the slot's task: the UD's observation
   shows it with its *remaining* deadline φ − age, and only UDs with a task are matched.
4. **Dispatch.** An admitted offload request leaves the queue and joins the ES CPU queue,
   whose CPUs may still be busy with earlier slots' tasks. A UD that does not request runs the
   task locally if its CPU is idle at the slot's start (it is dispatched and leaves the
   queue); if the CPU is still busy, or the request was refused or cut, the task stays at the
   head and waits for the next slot. With ``battery_hard`` a UD cannot start what its battery
   (at the slot's start) cannot pay for: a request whose e^o exceeds it is not made and a local
   run whose e^l exceeds it does not start (the task waits).
5. **Outcomes.** A dispatched task's delay is its wait (age) plus its service time (the local
   run, eq. 3, or the ES completion τ^a, eq. 9, from the slot's start); its cost is eq. (14)
   on that delay; it times out if the delay exceeds φ. A dropped task costs ``drop_cost``,
   charged to its UD in the slot it is dropped. A UD that dispatches nothing costs 0.
6. **Carry-over.** The UD's CPU stays busy for what is left of a local run after Δ; each ES
   CPU stays busy for what is left of its last task after Δ. **The episode's end** flushes
   the queues: a task still queued after the last slot is dropped (and costs ``drop_cost``
   in that slot), so idling at the end is not free.

All arrays carry a leading batch axis B (copies). SI units: bits, s, Hz, W, J.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

import numpy as np

from mec_env.sim.battery import battery_update
from mec_env.sim.compute import cost, local_delay, local_energy, penalty, reward
from mec_env.sim.params import EnvConfig
from mec_env.sim.queue import queue_carry


def observation_high(cfg: EnvConfig) -> np.ndarray:
    """The raw upper bounds (6,) of the time-coupled UD observation columns: queue length (Q
    tasks), the head's wait, the UD's CPU backlog and its ES's mean CPU backlog (φ_max s
    each), its ES's members per subchannel (max z_max/K) and its upload rank among them
    (max z_max − 1, at least 1); larger values are clipped to them."""
    return np.array(
        [float(cfg.queue_capacity)] + [cfg.deadline_s[1]] * 3
        + [float((cfg.z_max / cfg.subchannels).max()), float(max(cfg.z_max.max() - 1, 1))]
    )  # fmt: skip


@dataclass(frozen=True)
class QueueView:
    """What a policy sees of one copy's time-coupled state (copies of the arrays): per UD
    (N,) ``has_task``, ``wait_s`` (the head task's wait, s; its remaining deadline is the
    slot's ``deadline_s``), ``length`` (queued tasks, the head included), ``local_busy_s`` (s
    until the UD's CPU is idle; a UD with a busy CPU cannot start a local run); per ES
    ``es_free_s`` (M, U) s until each CPU is idle (``inf`` for CPUs it does not have);
    ``t`` the slot index and ``config``."""

    config: EnvConfig = field(repr=False)
    t: int
    has_task: np.ndarray
    wait_s: np.ndarray
    length: np.ndarray
    local_busy_s: np.ndarray
    es_free_s: np.ndarray


#: the expiry slot of a free place: no slot index reaches it
EMPTY = np.iinfo(np.int64).max


def expiry_slots(born: np.ndarray, deadline_s: np.ndarray, slot_s: float) -> np.ndarray:
    """The first slot t at which a task born at slot ``born`` with deadline ``deadline_s`` (s)
    has expired, i.e. ``(t − born)·Δ >= φ`` in float64, as int64: born + the least integer
    a >= 0 with a·Δ >= φ (a·Δ rounds monotonically in a, so the integer test ``t >= expiry``
    is exactly the float test)."""
    deadline_s = np.asarray(deadline_s, dtype=np.float64)
    a = np.maximum(np.ceil(deadline_s / slot_s), 0.0).astype(np.int64)
    while True:  # the division may round either way: step to the least such a
        down = (a > 0) & ((a - 1) * slot_s >= deadline_s)
        up = a * slot_s < deadline_s
        if not (down.any() or up.any()):
            return born + a
        a = a - down + up


@dataclass
class TaskQueues:
    """The carried state of the time-coupled model, for B copies, N UDs, M ESs, queues of Q.

    Each UD's queue is a ring of Q places: ``bits``, ``cycles_per_bit``, ``deadline_s``
    (B, N, Q) the queued tasks, ``born`` (B, N, Q) int64 the slot each arrived in and
    ``expiry`` (B, N, Q) int64 the slot it expires at (:func:`expiry_slots`; :data:`EMPTY`
    for a free place); ``start`` (B, N) int64 the head's place and ``length`` (B, N) int64
    the tasks queued, so the j-th task in FIFO order (head first) is at place
    (start + j) mod Q (:meth:`fifo` gives the arrays in that order; places past ``length``
    are meaningless); ``phase`` (B, N) int8 the arrival process's phase; ``local_busy_s``
    (B, N) s until each UD's CPU is idle; ``es_free_s`` (B, M, U) s until each ES CPU is
    idle (``inf`` for CPUs an ES does not have); ``dropped`` (B, N) int64 tasks dropped at
    the start of the current slot (charged in its step).
    """

    bits: np.ndarray
    cycles_per_bit: np.ndarray
    deadline_s: np.ndarray
    born: np.ndarray
    expiry: np.ndarray
    start: np.ndarray
    length: np.ndarray
    phase: np.ndarray
    local_busy_s: np.ndarray
    es_free_s: np.ndarray
    dropped: np.ndarray

    #: the per-task arrays, (B, N, Q) each
    TASK_FIELDS = ("bits", "cycles_per_bit", "deadline_s", "born", "expiry")

    @classmethod
    def empty(cls, cfg: EnvConfig, num_envs: int) -> TaskQueues:
        b, n, q = num_envs, cfg.n_uds, cfg.queue_capacity
        u = int(cfg.n_cpus.max())
        es_free = np.where(np.arange(u) < cfg.n_cpus[:, None], 0.0, np.inf)
        return cls(
            bits=np.zeros((b, n, q)),
            cycles_per_bit=np.zeros((b, n, q)),
            deadline_s=np.zeros((b, n, q)),
            born=np.zeros((b, n, q), dtype=np.int64),
            expiry=np.full((b, n, q), EMPTY, dtype=np.int64),
            start=np.zeros((b, n), dtype=np.int64),
            length=np.zeros((b, n), dtype=np.int64),
            phase=np.zeros((b, n), dtype=np.int8),
            local_busy_s=np.zeros((b, n)),
            es_free_s=np.broadcast_to(es_free, (b, *es_free.shape)).copy(),
            dropped=np.zeros((b, n), dtype=np.int64),
        )

    def rows(self, rows: np.ndarray | None) -> TaskQueues:
        """A copy of the state of copies ``rows`` (all: None)."""
        return TaskQueues(
            **{
                f.name: (getattr(self, f.name) if rows is None else getattr(self, f.name)[rows])
                for f in fields(self)
            }  # fmt: skip
        )

    def put(self, rows: np.ndarray | None, part: TaskQueues) -> None:
        """Write ``part`` (the state of copies ``rows``; all: None) back."""
        for f in fields(self):
            if rows is None:
                setattr(self, f.name, getattr(part, f.name))
            else:
                getattr(self, f.name)[rows] = getattr(part, f.name)

    def reset(self, cfg: EnvConfig, rows: np.ndarray) -> None:
        """Empty queues, idle CPUs and the calm phase in copies ``rows``."""
        self.put(rows, TaskQueues.empty(cfg, len(rows)))

    def fifo(self, name: str) -> np.ndarray:
        """Per-task array ``name`` (B, N, Q) in FIFO order: entry j of a queue is its j-th
        task, head first (entries past ``length`` are meaningless)."""
        cap = self.bits.shape[-1]
        place = (self.start[..., None] + np.arange(cap)) % cap
        return np.take_along_axis(getattr(self, name), place, axis=-1)

    def append(self, b: int, n: int, bits, cycles_per_bit, deadline_s, born, slot_s) -> None:
        """Queue one task (bits, cycles per bit, deadline s, arrival slot) at the tail of
        copy ``b``'s UD ``n`` (which must have room), in place: for tests and tools."""
        cap = self.bits.shape[-1]
        if self.length[b, n] >= cap:
            raise ValueError(f"the queue of UD {n} in copy {b} is full ({cap} tasks)")
        at = (self.start[b, n] + self.length[b, n]) % cap
        self.bits[b, n, at], self.cycles_per_bit[b, n, at] = bits, cycles_per_bit
        self.deadline_s[b, n, at], self.born[b, n, at] = deadline_s, born
        self.expiry[b, n, at] = expiry_slots(np.int64(born), deadline_s, slot_s)
        self.length[b, n] += 1


def push_arrivals(
    q: TaskQueues, counts, bits, cycles_per_bit, deadline_s, t, slot_s: float
) -> np.ndarray:
    """Append each UD's ``counts`` (B, N) new tasks ((B, N, A) each; task j is the j-th
    arrival) at slot ``t`` (B,) to the tails of ``q``, in place; ``slot_s`` Δ (s) dates their
    expiry. Returns the arrivals dropped at full queues (B, N)."""
    cap = q.bits.shape[-1]
    dropped = np.zeros(counts.shape, dtype=np.int64)
    n = counts.shape[1]
    a = bits.shape[-1]
    for j in range(a):
        arriving = counts > j
        ok = arriving & (q.length < cap)
        dropped += arriving & ~ok
        rows = np.flatnonzero(ok)  # flat (copy, UD) indices
        at = rows * cap + (q.start.reshape(-1)[rows] + q.length.reshape(-1)[rows]) % cap
        src = rows * a + j
        born = t[rows // n]
        deadline = deadline_s.reshape(-1)[src]
        for name, value in (("bits", bits.reshape(-1)[src]),
                            ("cycles_per_bit", cycles_per_bit.reshape(-1)[src]),
                            ("deadline_s", deadline), ("born", born),
                            ("expiry", expiry_slots(born, deadline, slot_s))):  # fmt: skip
            arr = getattr(q, name).reshape(-1)
            arr[at] = value
            setattr(q, name, arr.reshape(q.bits.shape))
        q.length = q.length + ok
    return dropped


@functools.cache
def _ring(cap: int) -> np.ndarray:
    """(Q, Q): row s lists the places of a ring of Q in FIFO order from head place s."""
    return (np.arange(cap)[:, None] + np.arange(cap)) % cap


def expire(q: TaskQueues, t: np.ndarray) -> np.ndarray:
    """Drop every queued task whose age at slot ``t`` (B,) has reached its deadline
    (``t >= expiry``), keeping the others in order, in place; returns the tasks dropped per
    UD (B, N). Only the queues with a drop are rewritten (in FIFO order from place 0)."""
    cap = q.bits.shape[-1]
    shape = q.bits.shape
    late_at = np.flatnonzero(q.expiry <= t[:, None, None])  # free places never expire
    dropped = np.bincount(late_at // cap, minlength=q.length.size).reshape(q.length.shape)
    if not late_at.size:
        return dropped
    rows = np.flatnonzero(dropped)  # flat (copy, UD) indices of the queues with a drop
    first = rows * cap
    place = first[:, None] + _ring(cap)[q.start.reshape(-1)[rows]]
    keep = np.arange(cap) < q.length.reshape(-1)[rows, None]
    keep &= q.expiry.reshape(-1)[place] > t[rows // shape[1], None]
    kept = np.cumsum(keep, axis=-1)
    # the kept tasks move to places 0, 1, ... in order; the places after them are freed
    src = place[keep]
    dest = (first[:, None] + kept - 1)[keep]
    for name in TaskQueues.TASK_FIELDS:
        arr = getattr(q, name).reshape(-1)
        arr[dest] = arr[src]
        setattr(q, name, arr.reshape(shape))
    free = (first[:, None] + np.arange(cap))[np.arange(cap) >= kept[:, -1:]]
    q.expiry.reshape(-1)[free] = EMPTY  # a view: expiry was just set from a flat array
    q.start = q.start.copy()
    q.start.reshape(-1)[rows] = 0
    q.length = q.length.copy()
    q.length.reshape(-1)[rows] = kept[:, -1]
    return dropped


def head(q: TaskQueues, cfg: EnvConfig, t: np.ndarray):
    """The slot's task of each UD: ``(has, bits, cycles per bit, remaining deadline s,
    age s)``, each (B, N). A UD without a task gets β = 0, c = c_min and φ = φ_max (so every
    formula stays finite; it is not matched and dispatches nothing)."""
    cap = q.bits.shape[-1]
    at = np.arange(0, q.length.size * cap, cap).reshape(q.length.shape) + q.start
    has = q.length > 0
    age = (t[:, None] - np.take(q.born, at)) * cfg.slot_s
    bits = np.where(has, np.take(q.bits, at), 0.0)
    cpb = np.where(has, np.take(q.cycles_per_bit, at), cfg.cycles_per_bit[0])
    remaining = np.where(has, np.take(q.deadline_s, at) - age, cfg.deadline_s[1])
    return has, bits, cpb, remaining, np.where(has, age, 0.0)


def pop(q: TaskQueues, served: np.ndarray) -> None:
    """Remove the head task of the UDs where ``served`` (B, N), in place: their places are
    freed and their heads move one place on."""
    cap = q.bits.shape[-1]
    rows = np.flatnonzero(served)  # flat (copy, UD) indices
    if not rows.size:
        return
    start = q.start.reshape(-1)[rows]
    expiry = q.expiry.reshape(-1)
    expiry[rows * cap + start] = EMPTY
    q.expiry = expiry.reshape(q.bits.shape)
    new_start = q.start.copy()
    new_start.reshape(-1)[rows] = (start + 1) % cap
    q.start = new_start
    q.length = q.length - served


def _service(cfg, server, offloaded, upload_s, processing_s, es_free_s, local_s):
    """``(service (B, N), es_free (B·M, U))``: each dispatched task's service time from the
    slot's start (``local_s`` for local runs; τ^a through the ES CPU queues, whose CPUs free at
    the carried times ``es_free_s``, for the offloaded) and the ES CPUs' free times after."""
    b, n = server.shape
    m = cfg.n_servers
    flat = np.flatnonzero(offloaded.ravel())
    group = (flat // n) * m + server.ravel()[flat]
    finish, free = queue_carry(
        upload_s.ravel()[flat], processing_s.ravel()[flat], group,
        es_free_s.reshape(b * m, -1), tiebreak=flat,
    )  # fmt: skip
    service = local_s.ravel().copy()
    service[flat] = finish
    return service.reshape(b, n), free


@dataclass
class QueuedOutcome:
    """One slot of the time-coupled model: the per-UD outcomes ``out`` (keyed like
    ``StepOutput.out``, plus ``served``, ``local``, ``wait_s``, ``dropped``), the new
    ``local_busy_s`` (B, N) and ``es_free_s`` (B, M, U)."""

    out: dict[str, np.ndarray]
    local_busy_s: np.ndarray
    es_free_s: np.ndarray


def resolve_queued(
    cfg: EnvConfig,
    *,
    has: np.ndarray,
    bits: np.ndarray,
    cycles_per_bit: np.ndarray,
    remaining_s: np.ndarray,
    wait_s: np.ndarray,
    server: np.ndarray,
    requested: np.ndarray,
    offloaded: np.ndarray,
    f_hz: np.ndarray,
    upload_s: np.ndarray,
    processing_s: np.ndarray,
    offload_energy_j: np.ndarray,
    battery_j: np.ndarray,
    harvest_j: np.ndarray,
    local_busy_s: np.ndarray,
    es_free_s: np.ndarray,
    dropped: np.ndarray,
    length: np.ndarray,
    flush: np.ndarray,
    split_local_s: np.ndarray | None = None,
) -> QueuedOutcome:
    """Steps 4-6 of the module docstring for a slot whose admitted set ``offloaded`` is
    known. All per-UD arrays (B, N); ``es_free_s`` (B, M, U); ``length`` (B, N) the queue
    lengths (head included); ``flush`` (B,) whether this is the episode's last slot (the
    tasks still queued after it are dropped). ``split_local_s`` (B, N), DNN split tasks
    only: how long an offloaded task's local units 1..s keep the UD's CPU (s), from the
    slot's start (a split request is made only on an idle CPU)."""
    e_local = local_energy(bits, cycles_per_bit, f_hz, cfg.kappa)
    local = has & ~requested & (local_busy_s <= 0.0)
    if cfg.battery_hard:
        local &= e_local <= battery_j
    local_s = np.where(local, local_delay(bits, cycles_per_bit, f_hz), 0.0)
    service, free = _service(cfg, server, offloaded, upload_s, processing_s, es_free_s, local_s)
    served = local | offloaded
    # the episode's last slot flushes the queues: what is still queued after it is dropped
    dropped = dropped + np.where(flush[:, None], length - served, 0)
    energy = np.where(local, e_local, np.where(offloaded, offload_energy_j, 0.0))
    delay = np.where(served, wait_s + service, 0.0)
    costs = np.where(served, cost(cfg.rho_delay, cfg.rho_energy, delay, energy), 0.0)
    costs = costs + cfg.drop_cost * dropped
    battery_next = battery_update(battery_j, energy, harvest_j, cfg.b_max_j)
    late = np.where(served, remaining_s, np.inf)  # only dispatched tasks can time out
    pen = penalty(cfg.rho_delay, cfg.rho_energy, late, service, battery_next, cfg.b_min_j)
    busy = np.where(local, service, local_busy_s)
    if split_local_s is not None:  # an offloaded split's units 1..s run on the UD's CPU
        busy = np.where(offloaded & (split_local_s > 0.0), split_local_s, busy)
    out = dict(delay_s=delay, energy_j=energy, cost=costs, battery_j=battery_next, penalty=pen,
               reward=reward(costs, pen), timed_out=served & (service > remaining_s),
               below_b_min=battery_next < cfg.b_min_j, served=served, local=local,
               wait_s=np.where(has, wait_s, 0.0), dropped=dropped)  # fmt: skip
    return QueuedOutcome(
        out,
        np.maximum(busy - cfg.slot_s, 0.0),
        np.maximum(free - cfg.slot_s, 0.0).reshape(es_free_s.shape),
    )
