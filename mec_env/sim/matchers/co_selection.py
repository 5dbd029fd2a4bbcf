"""The co-selection matcher (Algorithm 1 with eqs. 18-19, **[decision]** 6 and 8 of
docs/environment.md), in its three forms, registered here as ``"co_selection"``:

- :func:`co_selection`, per copy (the reference);
- :func:`co_selection_batched`, B copies in one call with its exact pruning (numpy);
- :func:`co_selection_compiled`, the rounds in a compiled kernel.

Sums of co-selection scores are taken in service order, one term after another, so that a
copy's scores do not depend on how wide the other copies' queues are; the compiled kernels
sum in the same order. Queue tables are laid out position-major (places on axis 0, queues on
axis 1): numpy reduces over a short inner axis far slower than over an outer one.
``tests/env/test_vector.py`` and ``tests/env/test_fast.py`` check that the forms agree.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np

from mec_env.sim.channel import snr_term, uplink_rate, upload_delay, upload_delays_server_major
from mec_env.sim.compute import (
    cost,
    cost_into,
    idle_cost_into,
    offload_energy,
    processing_delay,
)
from mec_env.sim.matchers.base import (
    MATCHERS,
    propose_and_accept,
    propose_and_accept_batched,
    propose_and_accept_near,
)
from mec_env.sim.params import EnvConfig
from mec_env.sim.queue import group_order, group_table, queue_done, queue_table
from mec_env.sim.queue import queue_done_into as _queue_done_into
from mec_env.sim.state import SlotState, server_columns

_PRUNE_K = 4  # exact co-selection scores first for each UD's 4 most promising servers


def co_selection(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """User-server co-selection, Algorithm 1 with eqs. (18)-(19) (**[decision]**,
    docs/environment.md).

    Offload costs are estimated at p = p_max with the queue model of eq. (9) applied to each
    server's already-accepted set Z_m:

    - UD n scores server m by I_m = Σ_{k ∈ Z_m ∪ {n}} (ρ1 τ^a_{k,m} + ρ2 e^o_{k,m}) (18), the
      total offload cost at m if n joins, and proposes to its lowest-score open server;
    - server m keeps proposers in ascending I_n = τ^a_{n,m} (19), n's completion time in
      Z_m ∪ {n}, until full; the rest propose again in the next round.
    """
    cfg = slot.config
    tau_o, tau_p, e_o = slot.offload_estimates(cfg.p_max_w)
    alone_tau_a = tau_o + tau_p  # completion time with an idle CPU
    alone_cost = cost(cfg.rho_delay, cfg.rho_energy, alone_tau_a, e_o)
    own_tau_a: dict[str, np.ndarray] = {}

    def ud_scores(cand: np.ndarray, open_servers: np.ndarray, server: np.ndarray) -> np.ndarray:
        if cand.size == server.size:  # first round: every Z_m is empty
            own_tau_a["value"] = alone_tau_a[:, open_servers]
            return alone_cost[:, open_servers]
        queues = _ServerQueues(cfg, server, open_servers, tau_o, tau_p, e_o)
        n_open = open_servers.size
        # Adding a task never lets the others finish earlier (identical CPUs, FIFO), so
        # S(Z_m) + (n's cost with an idle CPU) is a lower bound of I_m, exact while
        # Z_m ∪ {n} fits on the U_m CPUs (nobody waits).
        queued = queues.load + 1 > cfg.n_cpus[open_servers]
        exact_base = n_open <= _PRUNE_K or not queued.any()
        scores = queues.base(exact=not exact_base)[None, :] + alone_cost[cand][:, open_servers]
        tau_a = alone_tau_a[cand][:, open_servers]
        own_tau_a["value"] = tau_a
        if not queued.any():
            return scores
        if n_open <= _PRUNE_K:
            queues.evaluate(cand, queued[None, :].repeat(cand.size, 0), scores, tau_a)
            return scores
        # Exact scores for each candidate's _PRUNE_K best bounds, then for any other pair
        # whose bound does not exclude it; the rest cannot win and score inf.
        lower = scores.copy()
        top = np.argpartition(lower, _PRUNE_K - 1, axis=1)[:, :_PRUNE_K]
        first = np.zeros(scores.shape, dtype=bool)
        first[np.arange(cand.size)[:, None], top] = True
        first &= queued
        queues.evaluate(cand, first, scores, tau_a)
        best = np.where(first | ~queued, scores, np.inf).min(axis=1, keepdims=True)
        second = queued & ~first & (lower <= best)
        queues.evaluate(cand, second, scores, tau_a)
        scores[queued & ~first & ~second] = np.inf
        return scores

    def es_priority(cand: np.ndarray, col: np.ndarray) -> np.ndarray:
        return own_tau_a["value"][np.arange(cand.size), col]

    return propose_and_accept(cfg.z_max, slot.n_uds, ud_scores, es_priority)


class _ServerQueues:
    """The open servers' current members in service order, for co-selection scores.

    Member tables are (n_open, Z): UD index (−1 padding), arrival τ^o (inf padding), τ^p and
    e^o at p_max, rows in service order (arrival, then UD index).
    """

    def __init__(
        self,
        cfg: EnvConfig,
        server: np.ndarray,
        open_servers: np.ndarray,
        tau_o: np.ndarray,
        tau_p: np.ndarray,
        e_o: np.ndarray,
    ) -> None:
        self.cfg, self.open_servers = cfg, open_servers
        self.tau_o, self.tau_p, self.e_o = tau_o, tau_p, e_o
        n_open = open_servers.size
        col_of_server = np.full(cfg.n_servers + 1, -1)  # index −1 (unmatched) stays −1
        col_of_server[open_servers] = np.arange(n_open)
        member_col = col_of_server[server]
        members = np.flatnonzero(member_col >= 0)
        member_col = member_col[members]
        self.load = np.bincount(member_col, minlength=n_open)
        table = group_table(
            member_col, tau_o[members, open_servers[member_col]], n_open, tiebreak=members
        )
        self.present = table >= 0
        self.ud = np.where(self.present, members[np.maximum(table, 0)], -1)
        col_srv = open_servers[:, None]
        self.arrival = np.where(self.present, tau_o[self.ud, col_srv], np.inf)
        self.proc = tau_p[self.ud, col_srv]
        self.energy = e_o[self.ud, col_srv]

    def base(self, exact: bool) -> np.ndarray:
        """S(Z_m) = Σ_{k∈Z_m} (ρ1 τ^a + ρ2 e^o) per open server; with ``exact=False`` the
        idle-CPU sum (equal to S while members ≤ U_m)."""
        cfg = self.cfg
        done = self.arrival + self.proc
        if exact and self.present.shape[1]:
            _, done = queue_table(
                self.arrival, self.proc, self.present, cfg.n_cpus[self.open_servers]
            )
        item = cost(cfg.rho_delay, cfg.rho_energy, done, self.energy)
        return np.where(self.present, item, 0.0).sum(axis=1)

    def evaluate(
        self, cand: np.ndarray, mask: np.ndarray, scores: np.ndarray, tau_a: np.ndarray
    ) -> None:
        """Exact I_m (18) and the candidate's own τ^a (19) for the (candidate, open server)
        pairs in ``mask`` (R, n_open), written into ``scores`` and ``tau_a``."""
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            return
        cfg = self.cfg
        ud, srv = cand[rows], self.open_servers[cols]
        cand_arrival = self.tau_o[ud, srv][:, None]
        mem_arrival, mem_ud = self.arrival[cols], self.ud[cols]
        # The candidate's place in the server's service order; one queue of Z + 1 per pair.
        before = (mem_arrival < cand_arrival) | (
            (mem_arrival == cand_arrival) & (mem_ud < ud[:, None])
        )
        place = before.sum(axis=1, keepdims=True)
        k = np.arange(mem_arrival.shape[1] + 1)
        src = np.where(k < place, k, np.maximum(k - 1, 0))
        is_cand = k == place
        c = cols[:, None]
        arrival = np.where(is_cand, cand_arrival, self.arrival[c, src])
        proc = np.where(is_cand, self.tau_p[ud, srv][:, None], self.proc[c, src])
        energy = np.where(is_cand, self.e_o[ud, srv][:, None], self.energy[c, src])
        valid = np.isfinite(arrival)  # padding has arrival inf
        _, done = queue_table(arrival, proc, valid, cfg.n_cpus[srv])
        item = cost(cfg.rho_delay, cfg.rho_energy, done, energy)
        scores[rows, cols] = np.where(valid, item, 0.0).sum(axis=1)
        tau_a[rows, cols] = np.take_along_axis(done, place, axis=1)[:, 0]


class _Scratch(threading.local):
    """Float arrays reused from one call to the next, one set per thread.

    A fresh array of a few hundred KiB is a fresh mapping whose pages fault in on first
    touch (glibc hands large freed blocks back to the OS), which here costs as much as the
    arithmetic on it. The co-selection scorer's (M, B·N) arrays and its queue tables never
    leave :func:`co_selection_batched`, so each call reuses its thread's. One live use per
    name; arrays over ``max_bytes`` are not kept."""

    max_bytes = 8 << 20

    def __init__(self) -> None:
        self.flat: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        """An uninitialised array of ``shape``: scratch ``name``, overwriting it."""
        size = math.prod(shape)
        if size * np.dtype(dtype).itemsize > self.max_bytes:
            return np.empty(shape, dtype)
        buf = self.flat.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self.flat[name] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


_SCRATCH = _Scratch()


def _server_major_delays(slots: SlotState, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(τ^o, τ^p) of every UD at every server at power ``p``, in s, laid out server-major:
    (M, B·N), entry (m, b·N + n). The per-server factors then broadcast over long rows; only
    the first product reads the gains (B, N, M) across. τ^o is this thread's scratch array."""
    cfg = slots.config
    gain = slots.gain
    m = gain.shape[-1]
    tau_o = _SCRATCH.array("tau_o", (m,) + gain.shape[:-1])
    upload_delays_server_major(tau_o, slots.bits, cfg.subchannel_bw_hz, p, gain)  # (6), (7)
    tau_p = processing_delay(slots.bits, slots.cycles_per_bit, cfg.f_server_hz[:, None, None])
    return tau_o.reshape(m, -1), tau_p.reshape(m, -1)


def _row_sum(x: np.ndarray) -> np.ndarray:
    """Sum over axis 0 one row after another (zero rows at the end change nothing)."""
    if x.shape[0] == 0:
        return np.zeros(x.shape[1:])
    acc = x[0].copy()
    for row in x[1:]:
        acc += row
    return acc


def co_selection_batched(
    slots: SlotState,
    rngs: Sequence[np.random.Generator] | None = None,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`mec_env.matching.co_selection` for B copies, with its exact pruning.

    Scores I_m (18) of every (unmatched UD, open server) pair; where a server's queue is
    longer than its CPUs the exact score is simulated for the pairs whose lower bound
    S(Z_m) + (own idle-CPU cost) does not exclude them (each UD's ``_PRUNE_K`` best bounds
    first, then any pair whose bound is at most the best exact score found). ``active``
    (B, N) bool, optional: only these UDs are matched (it draws nothing, and the scores of
    a UD read only its own task and the members already accepted).
    """
    batch, n = slots.bits.shape
    scorer = _CoSelectionScorer(slots)
    return propose_and_accept_batched(slots.config.z_max, batch, n, scorer, active)


class _CoSelectionScorer:
    """The co-selection :data:`RoundScorer` of one slot of B copies: the delays at p_max
    computed once, the member queues of the candidates' copies once per round.

    ``tau_o``, ``tau_p`` and ``alone_cost`` are server-major (M, B·N) (see
    :func:`_server_major_delays`): (UD n of copy b, server m) is entry m·B·N + b·N + n.
    Energies e^o = p τ^o and τ^a alone = τ^o + τ^p are formed where they are read (the same
    floats as :meth:`SlotState.offload_estimates` gives), not as whole arrays."""

    def __init__(self, slots: SlotState) -> None:
        cfg = slots.config
        self.batch, self.n = slots.bits.shape
        self.m = cfg.n_servers
        self.n_cpus, self.z_max = cfg.n_cpus, cfg.z_max
        self.rho = (cfg.rho_delay, cfg.rho_energy)
        self.p = np.asarray(cfg.p_max_w, dtype=np.float64)
        self.tau_o, self.tau_p = _server_major_delays(slots, self.p)
        shape = self.tau_o.shape
        # the cost alone, ρ1 τ^a + ρ2 e^o with τ^a = τ^o + τ^p and e^o = p τ^o (eqs. 9, 10, 14)
        self.alone_cost = idle_cost_into(
            _SCRATCH.array("alone", shape), _SCRATCH.array("energy", shape), self.p,
            self.tau_o, self.tau_p, *self.rho,
        )  # fmt: skip

    def __call__(self, ci, ni, server, load, open_):
        if ci.size == self.batch * self.n:  # first round: every UD proposes, every Z_m empty
            tau_o, tau_p = self.tau_o, self.tau_p
            return self.alone_cost.T, lambda col: _pick_sum(tau_o, tau_p, col)
        cand = ci * self.n + ni  # the candidates' columns of the (M, B·N) arrays
        if not load.any():  # first round of a masked call: every Z_m empty, I_m = own cost
            tau_o, tau_p = self.tau_o, self.tau_p
            return _columns(self.alone_cost, cand), lambda col: _pick_sum(tau_o, tau_p, col, cand)
        tau_a = _columns(self.tau_o, cand)
        tau_a += _columns(self.tau_p, cand)
        scores = _columns(self.alone_cost, cand)
        at = np.flatnonzero(self._scores_matter(ci, load, open_)[ci])
        if at.size:  # exact scores and τ^a of those candidates; the others keep these
            ci_at, tau_at = ci[at], tau_a[at]
            queues = _MemberQueues(self, ci_at, server, load, open_)
            lower = queues.base[queues.slot_of[ci_at]] + scores[at]
            scores[at] = self._exact_scores(queues, ci_at, ni[at], lower, tau_at)
            tau_a[at] = tau_at
        return scores, lambda col: _pick(tau_a, col)

    def _scores_matter(self, ci, load, open_) -> np.ndarray:
        """(B,) bool: the copies whose candidates' scores and priorities can change the
        round. A copy with one open server and room there for all its candidates sends
        them all to it and it keeps them all, whatever they score (no draws to keep in
        step: this scorer draws nothing)."""
        n_open = open_.sum(axis=1)
        room = np.where(open_, self.z_max - load, 0).sum(axis=1)
        return (n_open > 1) | (np.bincount(ci, minlength=self.batch) > room)

    def _exact_scores(self, queues, ci, ni, lower, tau_a) -> np.ndarray:
        """The scores: the lower bounds, replaced by exact I_m where a queue forms, pruned
        as :func:`mec_env.matching.co_selection` prunes; writes exact τ^a into ``tau_a``."""
        slot = queues.slot_of[ci]
        queued = queues.queued[slot]  # (R, M): queued servers are open
        small = queues.small[slot]
        scores = lower.copy()
        first = queued & small[:, None]
        big = ~small & queues.any_queued[slot]
        if big.any():
            ranked = np.where(queues.open_[slot], lower, np.inf)
            top = np.argpartition(ranked, _PRUNE_K - 1, axis=1)[:, :_PRUNE_K]
            pick = np.zeros(queued.shape, dtype=bool)
            np.put_along_axis(pick, top, True, axis=1)
            first |= pick & queued & big[:, None]
        queues.evaluate(self, first, ci, ni, scores, tau_a)
        if big.any():
            kept = (first | ~queued) & queues.open_[slot]
            best = np.where(kept, scores, np.inf).min(axis=1, keepdims=True)
            rest = queued & big[:, None] & ~first
            second = rest & (lower <= best)
            queues.evaluate(self, second, ci, ni, scores, tau_a)
            scores[rest & ~second] = np.inf
        return scores


def _pick(values: np.ndarray, col: np.ndarray) -> np.ndarray:
    """``values[r, col[r]]`` of an (R, M) array, by a flat take."""
    return np.take(values, np.arange(col.size) * values.shape[1] + col)


def _pick_sum(a: np.ndarray, b: np.ndarray, col: np.ndarray, cols=None) -> np.ndarray:
    """``a[col[r], c_r] + b[col[r], c_r]`` of two (M, K) arrays, by flat takes; c_r =
    ``cols[r]`` (default r)."""
    at = col * a.shape[1] + (np.arange(col.size) if cols is None else cols)
    return np.take(a, at) + np.take(b, at)


def _columns(a: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``a[:, cols].T`` of an (M, K) array as a C-contiguous (len(cols), M) array."""
    return np.ascontiguousarray(np.take(a, cols, axis=1).T)


def _service_order(group: np.ndarray, key: np.ndarray, n_groups: int):
    """Items (I,) given in (copy, UD) order, sorted by (group, key, given order).

    Returns ``order`` (I,), each sorted item's ``group`` and its ``rank`` in its group."""
    order, g_sorted = group_order(group, key, n_groups)
    counts = np.bincount(g_sorted, minlength=n_groups)
    return order, g_sorted, np.arange(order.size) - (np.cumsum(counts) - counts)[g_sorted]


class _MemberQueues:
    """The open servers' members in the copies that have candidates this round, in service
    order (arrival τ^o at p_max, then UD index).

    The tables are laid out position-major, (1 + W + 1, G) for G = A·M rows (copy slot a,
    server m) with W the longest open queue: row 0 is padding, then W positions and one
    padding position (arrival inf), so that a candidate can always be placed last. ``base``
    (A, M) is S(Z_m); ``slot_of`` maps a copy to its slot a (−1 for copies without
    candidates).
    """

    def __init__(self, sc: _CoSelectionScorer, ci, server, load, open_) -> None:
        batch, n, m = sc.batch, sc.n, sc.m
        has = np.zeros(batch, dtype=bool)
        has[ci] = True
        act = np.flatnonzero(has)
        self.slot_of = np.full(batch, -1, dtype=np.int64)
        self.slot_of[act] = np.arange(act.size)
        srv, self.open_, act_load = server[act], open_[act], load[act]
        # each UD's (slot, server) row, g if unmatched; members are those at an open server
        g = act.size * m
        row = np.where(srv >= 0, np.arange(0, g, m)[:, None] + srv, g).ravel()
        at = np.flatnonzero(np.append(self.open_.ravel(), False)[row])  # in (slot, UD) order
        row = row[at]
        ai = at // n
        ui = at - ai * n
        src = (row - ai * m) * (batch * n) + act[ai] * n + ui  # entries of (M, B·N) arrays
        arrival = np.take(sc.tau_o, src)
        order, group, rank = _service_order(row, arrival, g)
        self.width = width = int(np.where(self.open_, act_load, 0).max())
        # arrival, processing and energy of each place
        self.table = table = np.zeros((3, width + 2, g))
        table[0] = np.inf
        place = (1 + rank) * g + group
        arrival = arrival[order]
        src = src[order]
        table[0].ravel()[place] = arrival
        table[1].ravel()[place] = np.take(sc.tau_p, src)
        table[2].ravel()[place] = offload_energy(sc.p, arrival)  # e^o = p τ^o
        self._ud_places = (place, ui, order, n)  # for ud_table, read on ties only
        self.queued = (act_load + 1 > sc.n_cpus) & self.open_
        self.any_queued = self.queued.any(axis=1)
        n_open = self.open_.sum(axis=1)
        self.small = n_open <= _PRUNE_K
        # S(Z_m) with idle CPUs: the members' costs alone, summed in service order
        alone = np.zeros(table.shape[1:])
        alone.ravel()[place] = np.take(sc.alone_cost, src)
        base = _row_sum(alone[1:])
        exact = np.repeat(~self.small & self.any_queued, m)
        if exact.any():
            base = np.where(exact, self._queued_base(sc), base)
        self.base = base.reshape(act.size, m)

    def ud_table(self) -> np.ndarray:
        """The UD index of each place (W + 2, G) as float (exact), N at padding."""
        place, ui, order, n = self._ud_places
        table = np.full(self.table.shape[1:], float(n))
        table.ravel()[place] = ui[order]
        return table

    def _queued_base(self, sc: _CoSelectionScorer) -> np.ndarray:
        """S(Z_m) per row (G,) with the members' queue simulated."""
        arrival, proc, energy = self.table[0, 1:], self.table[1, 1:], self.table[2, 1:]
        valid = np.isfinite(arrival)
        done = queue_done(arrival, proc, valid, np.tile(sc.n_cpus, self.open_.shape[0]))
        return _row_sum(np.where(valid, cost(sc.rho[0], sc.rho[1], done, energy), 0.0))

    def evaluate(self, sc, mask, ci, ni, scores, tau_a) -> None:
        """Exact I_m (18) and the candidate's own τ^a (19) for the (candidate, server) pairs
        in ``mask`` (R, M), written into ``scores`` and ``tau_a``."""
        at = np.flatnonzero(mask)
        if at.size == 0:
            return
        m, g = sc.m, self.table.shape[2]
        ri = at // m
        si = at - ri * m
        bi, ui = ci[ri], ni[ri]
        src = si * (sc.batch * sc.n) + bi * sc.n + ui
        arr = np.take(sc.tau_o, src)
        cand = (arr, np.take(sc.tau_p, src), offload_energy(sc.p, arr))
        shape = (self.width + 1, at.size)  # (W + 1, P); scratch arrays, indices in range
        # the flat index of each pair's member places 0..W in a table (W + 2, G)
        member = _SCRATCH.array("member", shape, np.int64)
        np.add(np.arange(g, (self.width + 2) * g, g)[:, None], self.slot_of[bi] * m + si, member)
        mem_arr = np.take(self.table[0], member, mode="clip", out=_SCRATCH.array("arr", shape))
        # the candidate's place in the server's service order (arrival, then UD index)
        place = (mem_arr < arr).sum(axis=0)
        tie = mem_arr == arr
        if tie.any():
            place += (tie & (np.take(self.ud_table(), member) < ui)).sum(axis=0)
        # one queue of W + 1 per pair: members before the place, a slot, the others one later
        later = np.less_equal(place, np.arange(self.width + 1)[:, None])
        member -= np.multiply(later, g, out=_SCRATCH.array("shift", shape, np.int64))
        queue = _SCRATCH.array("queue", (3, *shape))
        np.take(self.table.reshape(3, -1), member, axis=1, mode="clip", out=queue)
        pairs = np.arange(at.size)
        for j in range(3):
            queue[j, place, pairs] = cand[j]
        done, proc, energy = queue
        valid = np.isfinite(done)
        _queue_done_into(done, proc, valid, sc.n_cpus[si])  # arrivals become τ^a
        tau_a[ri, si] = done[place, pairs]
        # each place's cost ρ1 τ^a + ρ2 e^o in place, 0 at padding
        cost_into(done, energy, *sc.rho)
        done[~valid] = 0.0
        scores[ri, si] = _row_sum(done)


def co_selection_near(
    slots: SlotState,
    rngs: Sequence[np.random.Generator] | None = None,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`co_selection_batched` with reach (docs/environment.md, "Reach"): Algorithm 1
    where a UD's servers are its K nearest (``slots.near``). Every (candidate, ES) pair is
    scored exactly (K is small: no pruning), in O(R·K·Z) a round whatever M."""
    return propose_and_accept_near(slots.config.z_max, slots.near, _NearScorer(slots), active)


class _NearScorer:
    """The co-selection :data:`RoundScorer` with reach: τ^o, τ^p and the idle-CPU cost at
    p_max of each UD at each of its K ESs (B, N, K), once a slot; each round the members'
    queues of the ESs in reach, in service order (arrival τ^o, then UD index)."""

    def __init__(self, slots: SlotState) -> None:
        cfg = slots.config
        self.cfg, self.near = cfg, slots.near
        self.batch, self.n, self.k = slots.near.shape
        self.p = np.asarray(cfg.p_max_w, dtype=np.float64)
        rate = uplink_rate(slots.per_column(cfg.subchannel_bw_hz), self.p, slots.gain)  # (6)
        self.tau_o = upload_delay(slots.bits[..., None], rate)  # (7)
        f_server = slots.per_column(cfg.f_server_hz)
        self.tau_p = processing_delay(slots.bits[..., None], slots.cycles_per_bit[..., None],
                                      f_server)  # fmt: skip
        self.alone = idle_cost_into(np.empty(self.tau_o.shape), np.empty(self.tau_o.shape),
                                    self.p, self.tau_o, self.tau_p, cfg.rho_delay,
                                    cfg.rho_energy)  # fmt: skip

    def __call__(self, ci, ni, server, load, open_):
        tau_a = self.tau_o[ci, ni] + self.tau_p[ci, ni]
        scores = self.alone[ci, ni]
        if load.any():  # I_m = S(Z_m) + own idle cost, exact where n would wait (18)
            cfg, m = self.cfg, self.cfg.n_servers
            srv = self.near[ci, ni]
            group = ci[:, None] * m + srv
            table, base = self._members(server)
            scores = base[group] + scores
            queued = (np.take(load, group) + 1 > cfg.n_cpus[srv]) & np.take(open_, group)
            rows, cols = np.nonzero(queued)
            if rows.size:
                exact, own = self._exact(table, ci[rows], ni[rows], cols, group[rows, cols])
                scores[rows, cols] = exact
                tau_a[rows, cols] = own
        return scores, lambda col: tau_a[np.arange(col.size), col]

    def _members(self, server):
        """Each (copy, ES)'s members in service order, position-major (3, Z + 1, B·M):
        arrival, processing, energy (arrival inf and UD index N past the members), with
        their UD indices (Z + 1, B·M); and S(Z_m) (B·M,) with idle CPUs."""
        cfg, n, k = self.cfg, self.n, self.k
        m = cfg.n_servers
        flat = np.flatnonzero(server >= 0)
        ci = flat // n
        col = server_columns(server.ravel()[flat], self.near.reshape(-1, k)[flat])
        at = flat * k + col
        arrival = np.take(self.tau_o, at)
        group = ci * m + server.ravel()[flat]
        order, g_sorted = group_order(group, arrival, self.batch * m)
        counts = np.bincount(g_sorted, minlength=self.batch * m)
        rank = np.arange(order.size) - (np.cumsum(counts) - counts)[g_sorted]
        width = int(counts.max()) + 1
        values = np.zeros((4, width, self.batch * m))
        values[0] = np.inf
        values[3] = n
        place = rank * values.shape[2] + g_sorted
        values[0].ravel()[place] = arrival[order]
        values[1].ravel()[place] = np.take(self.tau_p, at[order])
        values[2].ravel()[place] = offload_energy(self.p, arrival[order])
        values[3].ravel()[place] = (flat - ci * n)[order]
        alone = np.zeros(values.shape[1:])
        alone.ravel()[place] = np.take(self.alone, at[order])
        return values, _row_sum(alone)

    def _exact(self, table, ci, ni, cols, group):
        """Exact I_m (18) and the candidate's τ^a (19) of the pairs (UD (ci, ni), its column
        ``cols`` at ES ``group``): the members' queue with the candidate in its place."""
        cfg = self.cfg
        arr = self.tau_o[ci, ni, cols]
        cand = (arr, self.tau_p[ci, ni, cols], offload_energy(self.p, arr), ni)
        mem = table[:, :, group]  # (4, W, P)
        place = (mem[0] < arr).sum(axis=0) + ((mem[0] == arr) & (mem[3] < ni)).sum(axis=0)
        width = mem.shape[1]
        later = np.arange(width)[:, None] >= place
        src = np.where(later, np.arange(width)[:, None] - 1, np.arange(width)[:, None])
        queue = np.take_along_axis(mem, np.maximum(src, 0)[None], axis=1)
        pairs = np.arange(arr.size)
        for j in range(4):
            queue[j, place, pairs] = cand[j]
        done, proc, energy = queue[0], queue[1], queue[2]
        valid = np.isfinite(done)
        srv = group % cfg.n_servers
        _queue_done_into(done, proc, valid, cfg.n_cpus[srv])
        own = done[place, pairs]
        item = np.where(valid, cost(cfg.rho_delay, cfg.rho_energy, done, energy), 0.0)
        return _row_sum(item), own


def co_selection_compiled(slots: SlotState, rngs, kernels) -> np.ndarray:
    """:func:`co_selection_batched` with the matcher rounds in a compiled kernel (numpy
    takes the log2 of the uplink rate, the kernel the rest of the estimates at p_max)."""
    return kernels.co_selection_from_log(
        *co_selection_log2_arguments(slots.config, slots.bits, slots.cycles_per_bit, slots.gain),
        *co_selection_constants(slots.config),
    )


def co_selection_log2_arguments(cfg, bits, cycles_per_bit, gain) -> tuple[np.ndarray, ...]:
    """The per-slot arguments of the compiled co_selection: the tasks and numpy's
    log2(1 + p_max g) (B, N, M), whose log2 is the reference."""
    log2_arg = np.log2(snr_term(np.asarray(cfg.p_max_w, dtype=np.float64), gain))
    return bits, cycles_per_bit, log2_arg


def co_selection_constants(cfg) -> tuple:
    """The constant arguments of the compiled co_selection after the per-slot ones: the
    servers' bandwidth per subchannel (Hz) and CPU rate (Hz), p_max (W), z_max, CPUs, ρ1, ρ2
    and the pruning K."""
    return (cfg.subchannel_bw_hz, cfg.f_server_hz, float(cfg.p_max_w), cfg.z_max, cfg.n_cpus,
            float(cfg.rho_delay), float(cfg.rho_energy), _PRUNE_K)  # fmt: skip


MATCHERS.register(
    "co_selection",
    co_selection,
    batched=co_selection_batched,
    compiled=co_selection_compiled,
    active=True,
    near=co_selection_near,
)
