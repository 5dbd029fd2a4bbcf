"""The batched core: B copies of the MEC environment as arrays, stepped in one call.

:class:`BatchCore` holds the state of B independent copies (batteries, previous controls, the
slot each copy's next action applies to, the matching) and advances them through the backend
it chose once (:mod:`mec_env.sim.backend`: numpy, or the compiled kernels) and the scenario's
components (:mod:`mec_env.sim.components`). It has no agents, no dicts and no validation of
actions: the adapters do that at the edge (:class:`mec_env.adapters.parallel.MECParallelEnv`
with B = 1, per-agent dicts; :class:`mec_env.adapters.vector.MECVectorEnv`, arrays).

Each copy draws from its own ``np.random.Generator`` in the order the single environment
draws: at a reset the slot (one ``random((N, 3 + M))`` with the default components) and
whatever the matcher draws; at a step the harvest (``uniform(0, 2 d, N)``), then the next
slot and its matching. So copy b seeded with s gives, bit for bit, what
``parallel_env(...).reset(seed=s)`` gives.

Units are SI throughout: bits, s, Hz, W, J, linear gains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from gymnasium.utils import seeding

from mec_env.admission import ADMISSIONS, AdmissionContext
from mec_env.sim import slot, taskqueue
from mec_env.sim.backend import NumpyBackend, Task, es_counts, make_backend, slot_values
from mec_env.sim.battery import harvest_j
from mec_env.sim.channel import uplink_rate, upload_delay
from mec_env.sim.components import Scenario
from mec_env.sim.matchers.base import match, match_active
from mec_env.sim.params import EnvConfig
from mec_env.sim.queue import group_order
from mec_env.sim.state import SlotState, gain_at, server_columns

#: the UD observation's extra columns in the time-coupled model: queue length, the head's
#: wait, the UD's CPU backlog, its ES's mean CPU backlog, its ES's members per subchannel and
#: its rank among them in upload order
QUEUE_COLUMNS = 6

#: per-UD output columns of a step, each (B, N)
STEP_COLUMNS = (
    "task_bytes",
    "cycles_per_bit",
    "deadline_s",
    "server",
    "requested",
    "offloaded",
    "f_hz",
    "p_w",
    "delay_s",
    "energy_j",
    "cost",
    "penalty",
    "timed_out",
    "battery_j",
    "below_b_min",
)


@dataclass
class StepOutput:
    """What a batched step returns, every array with a leading batch axis B.

    ``out``: per-UD arrays (B, N) keyed like ``MECParallelEnv.last_step`` (``delay_s`` s,
    ``energy_j`` J, ``cost``, ``penalty``, ``reward``, ``battery_j`` J after the update, ...;
    ``gain`` (B, N, M) linear). ``requests``, ``admitted``, ``cuts``: (B, M) int64 per ES.
    ``slot_values``: (B, 6) float64 in the order of ``SLOT_METRICS`` (the last, admission cuts,
    is a whole number). ``es_reward``: (B,) the mean UD reward. ``truncated``: (B,) bool.
    """

    out: dict[str, np.ndarray]
    requests: np.ndarray
    admitted: np.ndarray
    cuts: np.ndarray
    slot_values: np.ndarray
    es_reward: np.ndarray
    truncated: np.ndarray


class Decisions(NamedTuple):
    """The decision phase of a step (:meth:`BatchCore._decide`), each with the played copies
    on axis 0: ``requested`` (B', N) bool, ``f_hz``, ``p_w`` (B', N), ``terms`` (τ^o, τ^p,
    e^o) at the matched ES, ``approved`` (B', N) bool, ``priority`` (B', N) the admission
    order, ``u`` the step's uniforms (B', N·(1 + k)), ``harvest`` (B', N) J; with DNN split
    tasks ``split`` (B', N) int64 each UD's split point and ``stored_bits`` (B', N) what an
    offloaded request stores at the ES (15j), else None (the task's β)."""

    requested: np.ndarray
    f_hz: np.ndarray
    p_w: np.ndarray
    terms: tuple[np.ndarray, np.ndarray, np.ndarray]
    approved: np.ndarray
    priority: np.ndarray
    u: np.ndarray
    harvest: np.ndarray
    split: np.ndarray | None = None
    stored_bits: np.ndarray | None = None


def _task_columns(task: Task, d: Decisions, offloaded: np.ndarray) -> dict[str, np.ndarray]:
    """The step outputs that restate the slot and the decisions (keys of ``StepOutput.out``;
    ``split`` only with DNN split tasks, ``near`` only with reach)."""
    out = dict(task_bytes=task.bits / 8.0, cycles_per_bit=task.cpb, deadline_s=task.deadline,
               server=task.server, requested=d.requested, offloaded=offloaded, f_hz=d.f_hz,
               p_w=d.p_w, gain=task.gain, approved=d.approved, harvest_j=d.harvest)  # fmt: skip
    if d.split is not None:
        out["split"] = d.split
    if task.near is not None:  # reach: the ES ids of the gain columns
        out["near"] = task.near
    return out


class BatchCore:
    """B copies of the environment with configuration ``cfg``; see the module docstring."""

    def __init__(self, cfg: EnvConfig, num_envs: int, kernels: str | None = None) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or (num_envs < 1)
        ):
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.config = cfg
        self.backend = make_backend(cfg, kernels)  # numpy, or the compiled kernels
        self.scenario = Scenario(cfg)  # arrivals, tasks, channel, mobility
        # the compiled backend plays a whole slot of all copies when the slot is one affine draw
        self._plays_whole_slot = self.backend.plays_whole_slot and self.scenario.affine is not None
        self.num_envs = b = int(num_envs)
        n, m = cfg.n_uds, cfg.n_servers
        self.z_cap = int(cfg.z_max.max())
        #: the time-coupled model's carried state (mec_env.sim.taskqueue), None without it
        self.queues = taskqueue.TaskQueues.empty(cfg, b) if cfg.queued else None
        self.wait_s = np.zeros((b, n))  # how long the slot's task has waited, s
        k = cfg.reach  # the ESs a UD sees: M, or its K nearest with reach
        self.ud_obs_dim = 2 * k + 7 + (QUEUE_COLUMNS if cfg.queued else 0)
        self.es_obs_dim = 6 * self.z_cap + 3
        self.rngs: list[np.random.Generator] = []
        self.seeds: list[int | None] = []
        for _ in range(b):
            rng, seed = seeding.np_random(None)
            self.rngs.append(rng)
            self.seeds.append(seed)
        self._build_scales()
        self.t = np.zeros(b, dtype=np.int64)
        self.battery = np.full((b, n), cfg.b_max_j)
        self.prev_f = np.zeros((b, n))
        self.prev_p = np.zeros((b, n))
        self.bits = np.zeros((b, n))
        self.cycles_per_bit = np.zeros((b, n))
        self.deadline_s = np.zeros((b, n))
        self.gain = np.ones((b, n, k))
        self.gain_db = np.zeros((b, n, k))
        #: with reach: the ES ids (B, N, K) of the gain columns, nearest first; else None
        self.near = None if cfg.nearest_servers is None else np.zeros((b, n, k), np.int64)
        self.server = np.full((b, n), -1, dtype=np.int64)
        self.members = np.full((b, m, self.z_cap), -1, dtype=np.int64)
        self._rows = np.arange(b)

    @property
    def kernels(self):
        """The compiled kernel module of the backend, or None for numpy."""
        return self.backend.kernels

    def _build_scales(self) -> None:
        cfg = self.config
        head_max = np.array(
            [
                cfg.task_bits[1],
                cfg.cycles_per_bit[1],
                cfg.deadline_s[1],
                cfg.f_max_hz,
                cfg.p_max_w,
                cfg.b_max_j,
            ]
        )
        self.head_max = head_max
        self.head_scale = 1.0 / head_max if cfg.normalize_obs else np.ones(6)

    # ------------------------------------------------------------------ seeding and reset
    def seed(self, seeds: Sequence[int | None], idx: np.ndarray | None = None) -> None:
        """New generators for copies ``idx`` (default all) from ``seeds`` (one per copy)."""
        idx = self._rows if idx is None else np.asarray(idx)
        for b, s in zip(idx.tolist(), seeds, strict=True):
            self.rngs[b], self.seeds[b] = seeding.np_random(s)

    def reset(self, idx: np.ndarray | None = None) -> None:
        """Start a new episode in copies ``idx`` (default all): full batteries, zero previous
        controls, slot 0 drawn and matched."""
        cfg = self.config
        sel = slice(None) if idx is None else idx
        self.t[sel] = 0
        # new arrays, never writes into the old ones: a step hands them out as its outputs
        # (battery_j, f_hz, p_w), and the caller may keep those
        self.battery, self.prev_f, self.prev_p = (
            x.copy() for x in (self.battery, self.prev_f, self.prev_p)
        )
        self.battery[sel] = cfg.b_max_j
        self.prev_f[sel] = 0.0
        self.prev_p[sel] = 0.0
        self.scenario.reset(self._rows if idx is None else np.asarray(idx))
        if self.queues is not None:
            self.queues.reset(cfg, self._rows if idx is None else np.asarray(idx))
        self.new_slot(idx)

    def new_slot(self, idx: np.ndarray | None = None, u: np.ndarray | None = None) -> None:
        """Draw the next slot's tasks and gains for copies ``idx`` (default all) and match.

        ``u``: the copies' uniform draws (B', N·k) if already drawn (a step draws the harvest
        and the next slot in one call per copy); k = 3 + M with the default components
        (:class:`mec_env.sim.components.Scenario`)."""
        cfg = self.config
        n = cfg.n_uds
        rows = self._rows if idx is None else np.asarray(idx)
        rngs = [self.rngs[b] for b in rows.tolist()]
        per_ud = self.scenario.uniforms_per_ud
        if u is None:
            u = self.uniforms(rngs, n * per_ud)
        if self.queues is not None:
            self._new_queued_slot(idx, rows, rngs, u.reshape(rows.size, n, per_ud))
            return
        bits, cpb, dl, gain_db = self.scenario.draw(u.reshape(rows.size, n, per_ud), rows=rows)
        gain = self.scenario.channel.linear(gain_db)
        battery = self.battery if idx is None else self.battery[rows]
        near = self._keep_near(idx, rows)
        slots = SlotState(config=cfg, bits=bits, cycles_per_bit=cpb, deadline_s=dl, gain=gain,
                          battery_j=battery, near=near)  # fmt: skip
        server, members = self.backend.match(slots, rngs)
        if idx is None:
            self.bits, self.cycles_per_bit, self.deadline_s = bits, cpb, dl
            self.gain, self.gain_db, self.server, self.members = gain, gain_db, server, members
        else:
            self.bits[rows], self.cycles_per_bit[rows], self.deadline_s[rows] = bits, cpb, dl
            self.gain[rows], self.gain_db[rows] = gain, gain_db
            self.server[rows], self.members[rows] = server, members

    def _new_queued_slot(self, idx, rows, rngs, u) -> None:
        """:meth:`new_slot` in the time-coupled model (:mod:`mec_env.sim.taskqueue`, steps
        1-3): arrivals join the queues, expired tasks drop, the heads are the slot's tasks
        and only UDs with a task are matched."""
        cfg = self.config
        sel = None if idx is None else rows
        part = self.queues.rows(sel)
        counts, part.phase, tasks, gain_db = self.scenario.draw_arrivals(u, part.phase, rows)
        t = self.t[rows]
        part.dropped = taskqueue.push_arrivals(part, counts, *tasks, t, cfg.slot_s)
        part.dropped += taskqueue.expire(part, t)
        has, bits, cpb, remaining, wait = taskqueue.head(part, cfg, t)
        self.queues.put(sel, part)
        gain = self.scenario.channel.linear(gain_db)
        battery = self.battery if idx is None else self.battery[rows]
        near = self._keep_near(idx, rows)
        slots = SlotState(config=cfg, bits=bits, cycles_per_bit=cpb, deadline_s=remaining,
                          gain=gain, battery_j=battery, near=near)  # fmt: skip
        server = self._match_active(slots, has, rngs)
        members = self.backend.members_of(server)
        if idx is None:
            self.bits, self.cycles_per_bit, self.deadline_s = bits, cpb, remaining
            self.gain, self.gain_db, self.server, self.members = gain, gain_db, server, members
            self.wait_s = wait
        else:
            new = {"bits": bits, "cycles_per_bit": cpb, "deadline_s": remaining, "gain": gain,
                   "gain_db": gain_db, "server": server, "members": members,
                   "wait_s": wait}  # fmt: skip
            for name, value in new.items():
                getattr(self, name)[rows] = value

    def _keep_near(self, idx, rows) -> np.ndarray | None:
        """With reach: store the ES ids of the gain columns just drawn for ``rows``; returns
        them (None without reach)."""
        if self.near is None:
            return None
        near = self.scenario.channel.near
        if idx is None:
            self.near = near
        else:
            self.near[rows] = near
        return near

    def _match_active(self, slots: SlotState, has: np.ndarray, rngs) -> np.ndarray:
        """The matcher on the UDs with a task only, as if the others were not there: the
        copies with k such UDs are matched together on (B_k, k) arrays of them (in UD order),
        each with its own generator; the others get −1. (B', N) int64.

        A built-in matcher on numpy takes the mask in one call (``active`` in its
        registration, :func:`mec_env.sim.matchers.base.match_active`): the same result.
        Otherwise the UDs with a task are gathered once, grouped by their copy's k (copies
        in order, each copy's UDs in order), so each group's arrays are contiguous slices."""
        b, n = has.shape
        server = np.full(b * n, -1, dtype=np.int64)
        count = has.sum(axis=1)
        flat = np.flatnonzero(has)  # (copy, UD) in order
        if flat.size == b * n:  # every UD of every copy has a task: the arrays as they are
            return self._match_servers(slots, rngs).reshape(b, n)
        if type(self.backend).match is NumpyBackend.match or slots.near is not None:
            masked = match_active(self.config.matcher, slots, rngs, has)
            if masked is not None:
                return masked
        copies = np.argsort(count, kind="stable")  # copies grouped by k, in order
        flat = flat[np.argsort(count[flat // n], kind="stable")]
        fields = [x.reshape(b * n, -1)[flat] if x.ndim == 3 else x.reshape(-1)[flat]
                  for x in (slots.bits, slots.cycles_per_bit, slots.deadline_s, slots.gain,
                            slots.battery_j)]  # fmt: skip
        ks, first = np.unique(count[copies], return_index=True)
        start = 0  # of the group's items in ``flat``
        for k, c0, c1 in zip(ks.tolist(), first.tolist(), [*first[1:].tolist(), b], strict=True):
            if k == 0:
                continue
            sel = copies[c0:c1]
            stop = start + sel.size * k
            sub = [x[start:stop].reshape(sel.size, k, *x.shape[1:]) for x in fields]
            sub = SlotState(config=slots.config, bits=sub[0], cycles_per_bit=sub[1],
                            deadline_s=sub[2], gain=sub[3], battery_j=sub[4])  # fmt: skip
            server[flat[start:stop]] = self._match_servers(sub, [rngs[j] for j in sel.tolist()])
            start = stop
        return server.reshape(b, n)

    def _match_servers(self, slots: SlotState, rngs) -> np.ndarray:
        """The backend's matching of ``slots`` (B', N) int64, without its members table where
        the backend would build it apart (numpy)."""
        if type(self.backend).match is NumpyBackend.match:
            return match(self.config.matcher, slots, rngs, self.backend.kernels).reshape(-1)
        return self.backend.match(slots, rngs)[0].reshape(-1)

    @staticmethod
    def uniforms(rngs: list[np.random.Generator], size: int) -> np.ndarray:
        """(len(rngs), size) uniform draws in [0, 1), one ``random`` call per copy."""
        if len(rngs) == 1:
            return rngs[0].random(size)[None]
        u = np.empty((len(rngs), size))
        for j, rng in enumerate(rngs):
            rng.random(out=u[j])
        return u

    def members_of(self, server: np.ndarray) -> np.ndarray:
        """(B, M, max z_max) UD index in each ES place, ascending, −1 for empty places."""
        return self.backend.members_of(server)

    def slot_state(self, idx: int | None = None) -> SlotState:
        """The slot the next action applies to: batched (B, N) arrays, or copy ``idx``'s."""
        slots = SlotState(
            config=self.config,
            bits=self.bits,
            cycles_per_bit=self.cycles_per_bit,
            deadline_s=self.deadline_s,
            gain=self.gain,
            battery_j=self.battery,
            near=self.near,
        )
        return slots if idx is None else slots.copy(idx)

    def queue_view(self, b: int) -> taskqueue.QueueView | None:
        """Copy ``b``'s time-coupled state for policies (None without queues)."""
        q = self.queues
        if q is None:
            return None
        return taskqueue.QueueView(
            config=self.config, t=int(self.t[b]), has_task=q.length[b] > 0,
            wait_s=self.wait_s[b].copy(), length=q.length[b].copy(),
            local_busy_s=q.local_busy_s[b].copy(), es_free_s=q.es_free_s[b].copy(),
        )  # fmt: skip

    # ------------------------------------------------------------------ observations
    def _gain_part(self) -> np.ndarray:
        """The gain columns of the UD observations (B, N, M), float64."""
        cfg = self.config
        if not cfg.normalize_obs:
            return self.gain
        span = cfg.gain_db[1] - cfg.gain_db[0]
        if span > 0:
            return (self.gain_db - cfg.gain_db[0]) / span
        return np.zeros(self.gain_db.shape)

    def ud_matrix(self) -> np.ndarray:
        """(B, N, 2M + 7) float32 UD observations: float64 values cast once."""
        b, n = self.bits.shape
        m = self.config.reach  # M, or K with reach: columns are the K nearest
        d = self.ud_obs_dim
        ud = np.empty((b, n, d), dtype=np.float32)
        head = (self.bits, self.cycles_per_bit, self.deadline_s, self.prev_f, self.prev_p,
                self.battery)  # fmt: skip
        for j, column in enumerate(head):  # products in float64, cast on writing
            np.multiply(column, self.head_scale[j], out=ud[..., j])
        ud[..., 6 : 6 + m] = self._gain_part()
        onehot = ud[..., 6 + m : 7 + 2 * m]
        onehot.fill(0.0)
        col = server_columns(self.server, self.near)
        col = np.where(col >= 0, col, m).ravel()
        ud.reshape(-1)[np.arange(b * n) * d + (6 + m) + col] = 1.0
        if self.queues is not None:
            self.queue_columns(out=ud[..., 7 + 2 * m :])
        return ud

    def queue_columns(self, out: np.ndarray | None = None) -> np.ndarray:
        """(B, N, 6): the time-coupled model's UD observation columns: queue length, the head
        task's wait (s), the UD's CPU backlog (s), its ES's mean CPU backlog (s), its ES's
        members (UDs with a task) per subchannel, and how many of them would finish their
        upload first at p_max (:meth:`_upload_rank`); the last three 0 if unmatched.
        Each is clipped at its upper bound (:func:`mec_env.sim.taskqueue.observation_high`)
        and divided by it when observations are normalised; computed in float64 and written
        into ``out`` (any float dtype; a new float64 array if None)."""
        cfg, q = self.config, self.queues
        matched = self.server >= 0
        srv = np.maximum(self.server, 0)
        free = np.where(np.isfinite(q.es_free_s), q.es_free_s, 0.0).sum(axis=2) / cfg.n_cpus
        es_backlog = np.where(matched, np.take_along_axis(free, srv, axis=1), 0.0)
        members = (self.members >= 0).sum(axis=2) / cfg.subchannels  # (B, M)
        es_load = np.where(matched, np.take_along_axis(members, srv, axis=1), 0.0)
        cols = (q.length.astype(np.float64), self.wait_s, q.local_busy_s, es_backlog, es_load,
                self._upload_rank(matched, srv).astype(np.float64))  # fmt: skip
        if out is None:
            out = np.empty(matched.shape + (len(cols),))
        high = self.queue_high()
        for j, col in enumerate(cols):
            col = np.minimum(col, high[j])
            out[..., j] = col / high[j] if cfg.normalize_obs else col
        return out

    def _upload_rank(self, matched: np.ndarray, srv: np.ndarray) -> np.ndarray:
        """(B, N): co-members of each matched UD that would finish their upload first at
        p_max (τ^o at p_max, eqs. 6-7: the order in which the K subchannels admit requests;
        ties: lower UD index first); 0 if unmatched. One grouped sort of the matched UDs by
        (copy and ES, τ^o, UD): a UD's rank is its place in its group."""
        cfg = self.config
        b, n = matched.shape
        m = cfg.n_servers
        flat = np.flatnonzero(matched)  # (copy, UD) order
        at = srv.ravel()[flat]
        own = gain_at(self.gain, self.server, self.near).ravel()[flat]  # each UD's to its ES
        rate = uplink_rate(cfg.subchannel_bw_hz[at], cfg.p_max_w, own)
        key = upload_delay(self.bits.ravel()[flat], rate)  # τ^o at p_max, s
        group = (flat // n) * m + at
        order, g_sorted = group_order(group, key, b * m)
        counts = np.bincount(g_sorted, minlength=b * m)
        rank = np.zeros(b * n, dtype=np.int64)
        rank[flat[order]] = np.arange(flat.size) - (np.cumsum(counts) - counts)[g_sorted]
        return rank.reshape(b, n)

    def queue_high(self) -> np.ndarray:
        """The raw upper bounds (6,) of :meth:`queue_columns`."""
        return taskqueue.observation_high(self.config)

    def es_loads(self) -> np.ndarray:
        """(B, M, 3) members/K, Σβ_members/D_m, members/U_m (float64)."""
        cfg = self.config
        b = self.server.shape[0]
        m = cfg.n_servers
        # unmatched UDs count in one extra bin; each bin sums its UDs in (copy, UD) order
        group = np.where(self.server >= 0, self._rows[:, None] * m + self.server, b * m).ravel()
        count = np.bincount(group, minlength=b * m + 1)[: b * m].reshape(b, m)
        stored = np.bincount(group, self.bits.ravel(), minlength=b * m + 1)[: b * m]
        loads = np.empty((b, m, 3))
        loads[..., 0] = count / cfg.subchannels
        loads[..., 1] = stored.reshape(b, m) / cfg.storage_bits
        loads[..., 2] = count / cfg.n_cpus
        return loads

    def observe(self, es: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(ud (B, N, 2M+7), es (B, M, 6 max z_max + 3) or None, loads (B, M, 3))``.

        UD and ES observations are float32, loads float64. An ES row holds its places
        (occupied, β, c, φ, g, b scaled) for max z_max places (zeros past its own z_max), then
        its three load figures.
        """
        return self.backend.observe(self, es)

    def es_matrix(self, ud: np.ndarray, loads: np.ndarray) -> np.ndarray:
        """(B, M, 6Z + 3) float32 ES observations from the UD observations and the loads."""
        b, n, d = ud.shape
        m, z = self.config.n_servers, self.z_cap
        es = np.empty((b, m, 6 * z + 3), dtype=np.float32)
        places = es[..., : 6 * z].reshape(b, m, z, 6)
        occupied = self.members >= 0
        rows = np.where(occupied, self._rows[:, None, None] * n + self.members, b * n)
        places[..., 0] = occupied
        es[..., 6 * z :] = loads
        if self.near is not None:  # reach: each member's gain column to its own ES
            self._es_places_near(ud, rows, places)
            return es
        # the columns an ES reads (β, c, φ, b, the M gains), one zero row after the UDs for
        # the empty places
        table = np.zeros((b * n + 1, 4 + m), dtype=np.float32)
        table[:-1, :3] = ud.reshape(b * n, d)[:, :3]
        table[:-1, 3:] = ud.reshape(b * n, d)[:, 5 : 6 + m]
        picked = np.take(table, rows, axis=0)  # (B, M, Z, 4 + M)
        places[..., 1:4] = picked[..., :3]
        if m <= 16:  # ES m reads its own gain column
            for j in range(m):
                places[:, j, :, 4] = picked[:, j, :, 4 + j]
        else:
            gain_col = (4 + np.arange(m))[None, :, None, None]
            places[..., 4] = np.take_along_axis(picked, gain_col, axis=3)[..., 0]
        places[..., 5] = picked[..., 3]
        return es

    def _es_places_near(self, ud: np.ndarray, rows: np.ndarray, places: np.ndarray) -> None:
        """With reach, the places' β, c, φ, g, b from the UD observations: g is the member's
        gain column of its own ES (its place among its K nearest)."""
        b, n, d = ud.shape
        col = np.maximum(server_columns(self.server, self.near), 0).ravel()
        table = np.zeros((b * n + 1, 5), dtype=np.float32)
        flat = ud.reshape(b * n, d)
        table[:-1, :3] = flat[:, :3]
        table[:-1, 3] = flat[np.arange(b * n), 6 + col]
        table[:-1, 4] = flat[:, 5]
        places[..., 1:] = np.take(table, rows, axis=0)

    # ------------------------------------------------------------------ step
    def step(
        self, ud_actions: np.ndarray, es_bits: np.ndarray | None, idx: np.ndarray | None = None
    ) -> StepOutput:
        """Play one slot in copies ``idx`` (default all) and draw their next slot.

        ``ud_actions``: (B', N, 3) float64 in [0, 1] (x^u, f^u, p^u) for the B' copies played;
        ``es_bits``: (B', M, max z_max) bool approvals by member place, or None to let the
        admission rule decide. Actions are not checked here.
        """
        if self.queues is not None:
            return self._step_queued(ud_actions, es_bits, idx)
        if idx is None and self._plays_whole_slot:
            out, counts, metrics, truncated = self.backend.play(
                self, ud_actions, es_bits, self._rule_approvals
            )
            return StepOutput(out, *counts, metrics[:, :6], metrics[:, 6], truncated)
        rows = self._rows if idx is None else np.asarray(idx)
        task = self._task(idx, rows)
        d = self._decide(ud_actions, es_bits, idx, rows, task)
        res = self.backend.resolve(
            task, d.requested, d.approved, d.priority, d.f_hz, d.terms, d.harvest, d.stored_bits
        )
        out = res.out
        out.update(_task_columns(task, d, res.offloaded))
        n = self.config.n_uds
        truncated = self._advance(idx, rows, out["battery_j"], d.f_hz, d.p_w, d.u[:, n:])
        return StepOutput(out, res.requests, res.admitted, res.cuts, res.values, res.es_reward,
                          truncated)  # fmt: skip

    def _decide(self, ud_actions, es_bits, idx, rows, task: Task) -> Decisions:
        """The played copies' controls and offload terms, the approvals (ES agents' bits or
        the admission rule) and the step's draws (harvest, next slot): the phase a step has
        in both models. With ``battery_hard`` a request the battery cannot pay for is not
        made."""
        cfg = self.config
        split = stored = None
        if cfg.split_tasks:  # x^u is the share of the DNN offloaded (mec_env.sim.dnn)
            _, f_hz, p_w = slot.ud_controls(cfg, ud_actions, task.server)  # numpy backend
            split, requested, *terms, stored = self.scenario.tasks.plan.offload_terms(
                cfg, ud_actions[..., 0], task.cpb, task.gain, task.server, f_hz, p_w, task.near
            )
        else:
            requested, f_hz, p_w, *terms = self.backend.controls(ud_actions, task)
        if cfg.battery_hard:
            requested = requested & (terms[2] <= task.battery)
        if split is not None and self.queues is not None:
            # [decision] units 1..s run on the UD's CPU: a split request needs it idle
            busy = self.queues.local_busy_s[rows] > 0.0
            local_s = self.scenario.tasks.plan.local_seconds(split, task.cpb, f_hz)
            requested = requested & ~(busy & (local_s > 0.0))
        if es_bits is not None:
            members = self.members if idx is None else self.members[rows]
            approved = self.backend.approvals(requested, members, es_bits)
            priority = terms[0]  # in order of arrival τ^o
        else:
            approved, priority = self._rule_approvals(task, requested, f_hz, p_w, *terms)
        # admission draws nothing: each copy draws its harvest, uniform(0, 2d, N), and the
        # next slot's random((N, k)) in one call (0 + 2d·u is uniform's own formula)
        n = cfg.n_uds
        u = self.uniforms(
            [self.rngs[r] for r in rows.tolist()], n * (1 + self.scenario.uniforms_per_ud)
        )
        harvest = harvest_j(u[:, :n], cfg.harvest_mean_j)
        return Decisions(requested, f_hz, p_w, tuple(terms), approved, priority, u, harvest,
                         split, stored)  # fmt: skip

    def _step_queued(self, ud_actions, es_bits, idx) -> StepOutput:
        """:meth:`step` in the time-coupled model (:mod:`mec_env.sim.taskqueue`, steps 4-6)."""
        cfg = self.config
        rows = self._rows if idx is None else np.asarray(idx)
        sel = None if idx is None else rows
        task = self._task(idx, rows)
        d = self._decide(ud_actions, es_bits, idx, rows, task)
        stored = task.bits if d.stored_bits is None else d.stored_bits
        offloaded = slot.admit(cfg, d.approved, d.priority, task.server, stored)
        part = self.queues.rows(sel)
        res = taskqueue.resolve_queued(
            cfg, has=part.length > 0, bits=task.bits, cycles_per_bit=task.cpb,
            remaining_s=task.deadline, wait_s=self.wait_s[rows], server=task.server,
            requested=d.requested, offloaded=offloaded, f_hz=d.f_hz, upload_s=d.terms[0],
            processing_s=d.terms[1], offload_energy_j=d.terms[2], battery_j=task.battery,
            harvest_j=d.harvest, local_busy_s=part.local_busy_s, es_free_s=part.es_free_s,
            dropped=part.dropped, length=part.length, flush=self.t[rows] + 1 >= cfg.n_slots,
            split_local_s=self._split_local_s(task, d),
        )  # fmt: skip
        taskqueue.pop(part, res.out["served"])
        part.local_busy_s, part.es_free_s = res.local_busy_s, res.es_free_s
        self.queues.put(sel, part)
        out = res.out
        counts = es_counts(task.server, cfg.n_servers, d.requested, offloaded, d.approved)
        values, es_reward = slot_values(out, offloaded, *counts)
        out.update(_task_columns(task, d, offloaded))
        n = cfg.n_uds
        truncated = self._advance(idx, rows, out["battery_j"], d.f_hz, d.p_w, d.u[:, n:])
        return StepOutput(out, *counts, values, es_reward, truncated)

    def _split_local_s(self, task: Task, d: Decisions) -> np.ndarray | None:
        """With DNN split tasks, C^l(s)/f of each UD's split (s), the time its units 1..s keep
        its CPU if the request is admitted; None otherwise."""
        if d.split is None:
            return None
        return self.scenario.tasks.plan.local_seconds(d.split, task.cpb, d.f_hz)

    def _task(self, idx: np.ndarray | None, rows: np.ndarray) -> Task:
        """The slot of the played copies (all if ``idx`` is None, then no copies)."""
        if idx is None:
            return Task(self.bits, self.cycles_per_bit, self.deadline_s, self.gain, self.server,
                        self.battery, self.near)  # fmt: skip
        near = None if self.near is None else self.near[rows]
        return Task(self.bits[rows], self.cycles_per_bit[rows], self.deadline_s[rows],
                    self.gain[rows], self.server[rows], self.battery[rows], near)  # fmt: skip

    def _rule_approvals(self, task: Task, requested, f_hz, p_w, tau_o, tau_p, e_o):
        """(approved, priority) by the admission rule: a finite priority approves."""
        cfg = self.config
        slots = SlotState(
            config=cfg,
            bits=task.bits,
            cycles_per_bit=task.cpb,
            deadline_s=task.deadline,
            gain=task.gain,
            battery_j=task.battery,
            near=task.near,
        )
        priority = admission_priority(
            cfg, slots, task.server, requested, f_hz, p_w, tau_o, tau_p, e_o
        )
        approved = requested & np.isfinite(priority)
        return approved, np.where(approved, priority, 0.0)

    def _advance(self, idx, rows, battery_j, f_hz, p_w, u) -> np.ndarray:
        """Carry the battery and the controls over, count the slot, draw the next slot of the
        played copies; returns their truncation flags."""
        cfg = self.config
        if idx is None:
            self.battery, self.prev_f, self.prev_p = battery_j, f_hz, p_w
            self.t += 1
            truncated = self.t >= cfg.n_slots
        else:  # into copies: the old arrays may be a previous step's outputs (see reset)
            self.battery, self.prev_f, self.prev_p = (
                x.copy() for x in (self.battery, self.prev_f, self.prev_p)
            )
            self.battery[rows], self.prev_f[rows], self.prev_p[rows] = (battery_j, f_hz, p_w)
            self.t[rows] += 1
            truncated = self.t[rows] >= cfg.n_slots
        self.new_slot(idx, u)  # the next state; after the last slot it is never acted on
        return truncated


def admission_priority(
    cfg: EnvConfig,
    slots: SlotState,
    server: np.ndarray,
    requested: np.ndarray,
    f_hz: np.ndarray,
    p_w: np.ndarray,
    tau_o: np.ndarray,
    tau_p: np.ndarray,
    e_o: np.ndarray,
) -> np.ndarray:
    """The admission rule's priorities (B, N): batched if the rule is registered as batched
    (every built-in is), else one call per copy. Checks the shape, naming the copy."""
    fn = ADMISSIONS[cfg.admission]
    b, n = server.shape
    arrays = (server, requested, f_hz, p_w, tau_o, tau_p, e_o)
    if ADMISSIONS.metadata(cfg.admission).get("batched"):
        priority = np.asarray(fn(AdmissionContext(slots, *arrays)), dtype=np.float64)
        if priority.shape != (b, n):
            raise ValueError(
                f"batched admission rule {cfg.admission!r} must return a float "
                f"array of shape ({b}, {n}), got {priority.shape}"
            )
        return priority
    priority = np.empty((b, n))
    for j in range(b):
        ctx = AdmissionContext(slots.copy(j), *(x[j] for x in arrays))
        p = np.asarray(fn(ctx), dtype=np.float64)
        if p.shape != (n,):
            where = f" (copy {j})" if b > 1 else ""
            raise ValueError(
                f"admission rule {cfg.admission!r} must return a float array of "
                f"shape ({n},){where}, got {p.shape}"
            )
        priority[j] = p
    return priority
