"""Batched user-server matching: B environment copies matched in one call.

Every function here takes a :class:`~mec_env.slot.SlotState` whose arrays carry a leading
batch axis (``bits`` (B, N), ``gain`` (B, N, M), ...) and a list of B ``np.random.Generator``
(one per copy), and returns ``server`` (B, N) int64 (−1 unmatched). Copy b's row equals what
the per-copy matcher of :mod:`mec_env.matching` returns for that copy's slot and generator, and
each generator is advanced exactly as the per-copy matcher advances it (tested in
``tests/env/test_vector.py``).

The built-in matchers share :func:`propose_and_accept_batched`, the propose/accept loop of
:func:`mec_env.matching.propose_and_accept` over all copies at once: in each round every
unmatched UD of every copy still in play proposes to its best open server, each (copy, server)
keeps its best proposers up to capacity. A copy leaves the loop when it has no unmatched UD or
no open server.

A registered matcher without a batched form runs per copy (:func:`per_copy`): one call of the
user's function per copy, checked like the single environment checks it.

Sums of co-selection scores are taken in service order, one term after another, so that a
copy's scores do not depend on how wide the other copies' queues are; the compiled kernels
(:mod:`mec_env._numba_kernels`) sum in the same order. Queue tables are laid out
position-major (places on axis 0, queues on axis 1): numpy reduces over a short inner axis
far slower than over an outer one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np

from mec_env import physics
from mec_env.errors import MatcherError
from mec_env.matching import (
    MATCHERS,
    co_selection,
    max_gain,
    random_matching,
)
from mec_env.slot import SlotState

_PRUNE_K = 4  # as in mec_env.matching
_F_MAX = np.finfo(np.float64).max


def batched_matcher(name: str) -> Callable | None:
    """The batched form of the matcher registered as ``name``, or None (run per copy)."""
    return MATCHERS.metadata(name).get("batched")


def offload_estimates(slots: SlotState, p_w: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(τ^o s, τ^p s, e^o J) of every UD at every server, each (B, N, M), at power ``p_w`` W.

    The formulas of :mod:`mec_env.physics` (eqs. 6-8, 10), evaluated in place where they
    allow it: a (B, N, M) temporary is a fresh allocation, which costs page faults."""
    p = np.asarray(p_w, dtype=np.float64)
    tau_o, tau_p = _delays(slots, p)
    return tau_o, tau_p, np.multiply(p, tau_o)  # e^o = p τ^o (10)


def _delays(slots: SlotState, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(τ^o, τ^p) of :func:`offload_estimates`, in s. With few servers the per-server factors
    are applied one server column at a time: numpy broadcasts over a short last axis far
    slower than over a long one."""
    cfg = slots.config
    tau_o = np.multiply(p, slots.gain)
    tau_o += 1.0
    np.log2(tau_o, out=tau_o)
    work = slots.bits * slots.cycles_per_bit
    if tau_o.shape[-1] > 16:
        np.multiply(cfg.subchannel_bw_hz, tau_o, out=tau_o)  # the uplink rate v (6)
        np.divide(slots.bits[..., None], tau_o, out=tau_o)  # τ^o = β / v (7)
        return tau_o, np.divide(work[..., None], cfg.f_server_hz)  # τ^p = β c / f_s (8)
    tau_p = np.empty(tau_o.shape)
    for j in range(tau_o.shape[-1]):
        rate = tau_o[..., j]
        np.multiply(cfg.subchannel_bw_hz[j], rate, out=rate)  # (6)
        np.divide(slots.bits, rate, out=rate)  # (7)
        np.divide(work, cfg.f_server_hz[j], out=tau_p[..., j])  # (8)
    return tau_o, tau_p


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
    """(τ^o, τ^p) of :func:`offload_estimates` in s, laid out server-major: (M, B·N), entry
    (m, b·N + n). The per-server factors then broadcast over long rows; only the first
    product reads the gains (B, N, M) across. Both are this thread's scratch arrays."""
    cfg = slots.config
    gain = slots.gain
    m = gain.shape[-1]
    tau_o = _SCRATCH.array("tau_o", (m,) + gain.shape[:-1])
    np.multiply(p, np.moveaxis(gain, -1, 0), out=tau_o)
    tau_o += 1.0
    np.log2(tau_o, out=tau_o)
    np.multiply(cfg.subchannel_bw_hz[:, None, None], tau_o, out=tau_o)  # the uplink rate v (6)
    np.divide(slots.bits, tau_o, out=tau_o)  # τ^o = β / v (7)
    work = slots.bits * slots.cycles_per_bit
    tau_p = _SCRATCH.array("tau_p", tau_o.shape)
    np.divide(work, cfg.f_server_hz[:, None, None], out=tau_p)  # τ^p = β c / f_s (8)
    return tau_o.reshape(m, -1), tau_p.reshape(m, -1)


def _row_sum(x: np.ndarray) -> np.ndarray:
    """Sum over axis 0 one row after another (zero rows at the end change nothing)."""
    if x.shape[0] == 0:
        return np.zeros(x.shape[1:])
    acc = x[0].copy()
    for row in x[1:]:
        acc += row
    return acc


# A round scorer: given the candidates of this round as rows (``copy`` (R,), ``ud`` (R,): the
# unmatched UDs of copies with an open server, in (copy, UD) order), the copies' ``server``
# (B, N), ``load`` (B, M) and open mask ``open_`` (B, M), returns scores (R, M) (lower
# preferred; only open servers are read) and a function col -> (R,) priorities of each
# candidate at its chosen column (lower kept first).
RoundScorer = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]],
]


def propose_and_accept_batched(
    z_max: np.ndarray, batch: int, n_uds: int, scorer: RoundScorer
) -> np.ndarray:
    """The propose/accept loop of :func:`mec_env.matching.propose_and_accept` for B copies."""
    m = z_max.shape[0]
    server = np.full((batch, n_uds), -1, dtype=np.int64)
    load = np.zeros((batch, m), dtype=np.int64)
    while True:
        open_ = load < z_max
        flat = np.flatnonzero((server < 0) & open_.any(axis=1)[:, None])
        if flat.size == 0:
            return server
        ci = flat // n_uds
        ni = flat - ci * n_uds
        scores, priority = scorer(ci, ni, server, load, open_)
        col = _proposals(scores, None if open_.all() else open_[ci])
        _accept(server, load, flat, ci * m + col, col, priority(col), z_max)


def _proposals(scores: np.ndarray, open_r: np.ndarray | None) -> np.ndarray:
    """Each row's first lowest score among its open columns (``open_r`` (R, M), None: all
    open); closed servers lose to every open one, an all-NaN row picks its first open one."""
    if not np.isfinite(scores).all():  # a closed server must never win over an open one
        scores = np.nan_to_num(scores, nan=np.inf, posinf=_F_MAX)
    masked = scores if open_r is None else np.where(open_r, scores, np.inf)
    r, m = masked.shape
    if m > 16:
        col = np.argmin(masked, axis=1)
        low = masked[np.arange(r), col]
    else:  # argmin over a short axis, one column at a time (NaN-free here)
        col = np.zeros(r, dtype=np.int64)
        low = masked[:, 0].copy()
        for j in range(1, m):
            column = masked[:, j]
            better = column < low
            np.minimum(low, column, out=low)
            # col < j so far: max(col, j·better) sets j where better, without a masked write
            np.maximum(col, np.multiply(better, j), out=col)
    lost = low == np.inf
    if lost.any():
        col = np.where(lost, np.argmax(open_r, axis=1), col)
    return col


def _accept(server, load, flat, group, col, prio, z_max) -> None:
    """Each (copy, server) keeps its proposers in ascending (priority, UD index) up to its
    room; writes ``server`` and ``load`` in place.

    ``flat`` (R,): the proposers' entries of ``server`` (B, N) flattened, in (copy, UD)
    order; ``group`` (R,): copy·M + ``col``, their (copy, server); ``prio`` (R,) float64."""
    n_groups = load.size
    order, g_sorted = physics.group_order(group, prio, n_groups)
    counts = np.bincount(g_sorted, minlength=n_groups)
    room = (z_max - load).ravel()
    # a proposer is kept if its rank in its group (place − group start) is below the room
    end = np.cumsum(counts) - counts + room
    kept = order[np.arange(order.size) < end[g_sorted]]
    server.reshape(-1)[flat[kept]] = col[kept]
    load += np.minimum(counts, room).reshape(load.shape)


def max_gain_batched(slots: SlotState, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """:func:`mec_env.matching.max_gain` for B copies (one permutation drawn per copy)."""
    batch, n = slots.bits.shape
    rank = np.empty((batch, n))
    for b, rng in enumerate(rngs):
        rank[b] = rng.permutation(n)
    neg_gain = -slots.gain

    def scorer(ci, ni, server, load, open_):
        return neg_gain[ci, ni], lambda col: rank[ci, ni]

    return propose_and_accept_batched(slots.config.z_max, batch, n, scorer)


def random_batched(slots: SlotState, rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """:func:`mec_env.matching.random_matching` for B copies: each copy's generator draws
    what the per-copy matcher draws, round by round."""
    batch, n = slots.bits.shape
    m = slots.config.n_servers

    def scorer(ci, ni, server, load, open_):
        scores = np.zeros((ci.size, m))
        prio = np.zeros(ci.size)
        copies, starts = np.unique(ci, return_index=True)
        ends = np.append(starts[1:], ci.size)
        for b, lo, hi in zip(copies.tolist(), starts.tolist(), ends.tolist(), strict=True):
            cols = np.flatnonzero(open_[b])
            scores[lo:hi, cols] = rngs[b].random((hi - lo, cols.size))
            prio[lo:hi] = rngs[b].random(hi - lo)
        return scores, lambda col: prio

    return propose_and_accept_batched(slots.config.z_max, batch, n, scorer)


def co_selection_batched(
    slots: SlotState, rngs: Sequence[np.random.Generator] | None = None
) -> np.ndarray:
    """:func:`mec_env.matching.co_selection` for B copies, with its exact pruning.

    Scores I_m (18) of every (unmatched UD, open server) pair; where a server's queue is
    longer than its CPUs the exact score is simulated for the pairs whose lower bound
    S(Z_m) + (own idle-CPU cost) does not exclude them (each UD's ``_PRUNE_K`` best bounds
    first, then any pair whose bound is at most the best exact score found).
    """
    batch, n = slots.bits.shape
    return propose_and_accept_batched(slots.config.z_max, batch, n, _CoSelectionScorer(slots))


class _CoSelectionScorer:
    """The co-selection :data:`RoundScorer` of one slot of B copies: the delays at p_max
    computed once, the member queues of the candidates' copies once per round.

    ``tau_o``, ``tau_p`` and ``alone_cost`` are server-major (M, B·N) (see
    :func:`_server_major_delays`): (UD n of copy b, server m) is entry m·B·N + b·N + n.
    Energies e^o = p τ^o and τ^a alone = τ^o + τ^p are formed where they are read (the same
    floats as :func:`offload_estimates` gives), not as whole arrays."""

    def __init__(self, slots: SlotState) -> None:
        cfg = slots.config
        self.batch, self.n = slots.bits.shape
        self.m = cfg.n_servers
        self.n_cpus, self.z_max = cfg.n_cpus, cfg.z_max
        self.rho = (cfg.rho_delay, cfg.rho_energy)
        self.p = np.asarray(cfg.p_max_w, dtype=np.float64)
        self.tau_o, self.tau_p = _server_major_delays(slots, self.p)
        shape = self.tau_o.shape
        # the cost alone, ρ1 τ^a + ρ2 e^o (physics.cost), with one temporary
        self.alone_cost = np.add(self.tau_o, self.tau_p, out=_SCRATCH.array("alone", shape))
        self.alone_cost *= self.rho[0]
        energy = np.multiply(self.p, self.tau_o, out=_SCRATCH.array("energy", shape))
        energy *= self.rho[1]
        self.alone_cost += energy

    def __call__(self, ci, ni, server, load, open_):
        if ci.size == self.batch * self.n:  # first round: every UD proposes, every Z_m empty
            tau_o, tau_p = self.tau_o, self.tau_p
            return self.alone_cost.T, lambda col: _pick_sum(tau_o, tau_p, col)
        cand = ci * self.n + ni  # the candidates' columns of the (M, B·N) arrays
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


def _pick_sum(a: np.ndarray, b: np.ndarray, col: np.ndarray) -> np.ndarray:
    """``a[col[r], r] + b[col[r], r]`` of two (M, R) arrays, by flat takes."""
    at = col * a.shape[1] + np.arange(col.size)
    return np.take(a, at) + np.take(b, at)


def _columns(a: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``a[:, cols].T`` of an (M, K) array as a C-contiguous (len(cols), M) array."""
    return np.ascontiguousarray(np.take(a, cols, axis=1).T)


def _service_order(group: np.ndarray, key: np.ndarray, n_groups: int):
    """Items (I,) given in (copy, UD) order, sorted by (group, key, given order).

    Returns ``order`` (I,), each sorted item's ``group`` and its ``rank`` in its group."""
    order, g_sorted = physics.group_order(group, key, n_groups)
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
        table[2].ravel()[place] = np.multiply(sc.p, arrival)  # e^o = p τ^o
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
        return _row_sum(np.where(valid, physics.cost(sc.rho[0], sc.rho[1], done, energy), 0.0))

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
        cand = (arr, np.take(sc.tau_p, src), np.multiply(sc.p, arr))
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
        # each place's cost ρ1 τ^a + ρ2 e^o (physics.cost) in place, 0 at padding
        done *= sc.rho[0]
        energy *= sc.rho[1]
        done += energy
        done[~valid] = 0.0
        scores[ri, si] = _row_sum(done)


def queue_done(
    arrival_s: np.ndarray, processing_s: np.ndarray, valid: np.ndarray, n_cpus: np.ndarray
) -> np.ndarray:
    """Completion times τ^a of :func:`mec_env.physics.queue_table`, position-major.

    ``arrival_s``, ``processing_s``, ``valid``: (S, G): column g holds group g's items in
    service order, padding (``valid`` False) only at the end of a column; ``n_cpus``: (G,).
    Returns τ^a (S, G) (meaningless at padding), equal to ``queue_table``'s: the free times of
    each group's CPUs are kept sorted (the values, not which CPU, decide the times), so the
    CPU that frees first is row 0 and a task's finish is merged in by two whole-array ops.
    """
    return _queue_done_into(np.array(arrival_s, dtype=np.float64), processing_s, valid, n_cpus)


def _queue_done_into(
    done: np.ndarray, processing_s: np.ndarray, valid: np.ndarray, n_cpus: np.ndarray
) -> np.ndarray:
    """:func:`queue_done` with the arrivals given in ``done`` (S, G), overwritten by τ^a
    (each position is read before it is written); returns ``done``."""
    width = done.shape[0]
    u0 = int(n_cpus.min())
    if width <= u0:
        done += processing_s
        return done
    done[:u0] += processing_s[:u0]
    u_max = int(n_cpus.max())
    free = np.full((u_max + 1, done.shape[1]), np.inf)  # the last row stays inf
    free[:u0] = np.where(valid[:u0], done[:u0], 0.0)
    free[u0:u_max] = np.where(np.arange(u0, u_max)[:, None] < n_cpus, 0.0, np.inf)
    free[:u_max].sort(axis=0)
    head = free[:u_max]
    for s in range(u0, width):
        finish = done[s]  # the arrival, then τ^p + max(arrival, earliest free time)
        np.maximum(finish, head[0], out=finish)
        finish += processing_s[s]
        # drop the earliest free time (row 0), merge ``finish`` into the sorted rest
        merged = np.minimum(free[1:], finish)
        np.maximum(merged[1:], head[1:], out=head[1:])
        head[0] = merged[0]
    return done


def check_matching(
    name: str, server, n_uds: int, n_servers: int, z_max: np.ndarray, copy: int | None = None
) -> np.ndarray:
    """The single environment's matcher checks, naming the copy; returns int64 (N,)."""
    where = "" if copy is None else f" for copy {copy}"
    server = np.asarray(server)
    if server.shape != (n_uds,) or not np.issubdtype(server.dtype, np.integer):
        raise MatcherError(
            f"matcher {name!r} must return an int array of shape "
            f"({n_uds},){where}, got {server.dtype} {server.shape}"
        )
    if server.min(initial=0) < -1 or server.max(initial=-1) >= n_servers:
        raise MatcherError(f"matcher {name!r} returned servers outside -1..{n_servers - 1}{where}")
    load = np.bincount(server[server >= 0], minlength=n_servers)
    if np.any(load > z_max):
        raise MatcherError(
            f"matcher {name!r} put {load.tolist()} UDs on servers "
            f"with z_max {z_max.tolist()}{where}"
        )
    return server.astype(np.int64)


def per_copy(
    name: str,
    fn: Callable,
    slots: SlotState,
    rngs: Sequence[np.random.Generator],
) -> np.ndarray:
    """Run a per-copy matcher ``fn(slot, rng)`` on each copy; checked, (B, N) int64."""
    cfg = slots.config
    batch, n = slots.bits.shape
    server = np.empty((batch, n), dtype=np.int64)
    for b in range(batch):
        one = SlotState(
            config=cfg,
            bits=slots.bits[b],
            cycles_per_bit=slots.cycles_per_bit[b],
            deadline_s=slots.deadline_s[b],
            gain=slots.gain[b],
            battery_j=slots.battery_j[b],
        )
        server[b] = check_matching(
            name, fn(one, rngs[b]), n, cfg.n_servers, cfg.z_max, copy=b if batch > 1 else None
        )
    return server


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
    log2_arg = np.log2(1.0 + np.asarray(cfg.p_max_w, dtype=np.float64) * gain)
    return bits, cycles_per_bit, log2_arg


def co_selection_constants(cfg) -> tuple:
    """The constant arguments of the compiled co_selection after the per-slot ones: the
    servers' bandwidth per subchannel (Hz) and CPU rate (Hz), p_max (W), z_max, CPUs, ρ1, ρ2
    and the pruning K."""
    return (cfg.subchannel_bw_hz, cfg.f_server_hz, float(cfg.p_max_w), cfg.z_max, cfg.n_cpus,
            float(cfg.rho_delay), float(cfg.rho_energy), _PRUNE_K)  # fmt: skip


def max_gain_compiled(slots: SlotState, rngs, kernels) -> np.ndarray:
    """:func:`max_gain_batched` with the rounds in a compiled kernel (same permutations)."""
    batch, n = slots.bits.shape
    rank = np.empty((batch, n))
    for b, rng in enumerate(rngs):
        rank[b] = rng.permutation(n)
    return kernels.max_gain(np.ascontiguousarray(slots.gain), rank, slots.config.z_max)


def match(
    name: str, slots: SlotState, rngs: Sequence[np.random.Generator], kernels=None
) -> np.ndarray:
    """Matcher ``name`` on B copies: compiled if ``kernels`` (a module from
    :func:`mec_env.fast.resolve`) has it, else its batched form, else per copy."""
    fn, forms = MATCHERS[name], MATCHERS.metadata(name)
    if kernels is not None and "compiled" in forms:
        return forms["compiled"](slots, rngs, kernels)
    batched = forms.get("batched")
    if batched is None or slots.bits.shape[0] == 1:
        # one copy: the per-copy function (identical result, fewer numpy calls)
        return per_copy(name, fn, slots, rngs)
    return batched(slots, rngs)


# the built-in matchers (mec_env.matching), with their batched and compiled forms as metadata
MATCHERS.register(
    "co_selection", co_selection, batched=co_selection_batched, compiled=co_selection_compiled
)
MATCHERS.register("max_gain", max_gain, batched=max_gain_batched, compiled=max_gain_compiled)
MATCHERS.register("random", random_matching, batched=random_batched)
