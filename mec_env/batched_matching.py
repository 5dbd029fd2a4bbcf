"""Batched user-server matching: B environment copies matched in one call.

Every function here takes a :class:`~mec_env.matching.SlotState` whose arrays carry a leading
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

Sums of co-selection scores are taken in service order, one term after another
(``cumsum``), so that a copy's scores do not depend on how wide the other copies' queues are;
the compiled kernels (:mod:`mec_env._kernels`) sum in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mec_env import physics
from mec_env.matching import (
    BATCHED_MATCHERS,
    MATCHERS,
    SlotState,
    co_selection,
    max_gain,
    random_matching,
)

_PRUNE_K = 4  # as in mec_env.matching
_F_MAX = np.finfo(np.float64).max


def batched_matcher(name: str) -> Callable | None:
    """The batched form of the matcher registered as ``name``, or None (run per copy)."""
    return BATCHED_MATCHERS.get(MATCHERS[name])


def offload_estimates(slots: SlotState, p_w: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(τ^o s, τ^p s, e^o J) of every UD at every server, each (B, N, M), at power ``p_w`` W."""
    cfg = slots.config
    rate = physics.uplink_rate(cfg.subchannel_bw_hz, np.asarray(p_w, dtype=np.float64), slots.gain)
    bits = slots.bits[..., None]
    tau_o = physics.upload_delay(bits, rate)
    tau_p = physics.processing_delay(bits, slots.cycles_per_bit[..., None], cfg.f_server_hz)
    return tau_o, tau_p, physics.offload_energy(np.asarray(p_w, dtype=np.float64), tau_o)


def seq_sum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis one term after another (trailing zeros change nothing)."""
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1])
    return np.cumsum(x, axis=-1)[..., -1]


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
        ci, ni = np.nonzero((server < 0) & open_.any(axis=1)[:, None])
        if ci.size == 0:
            return server
        scores, priority = scorer(ci, ni, server, load, open_)
        if not np.isfinite(scores).all():  # a closed server must never win over an open one
            scores = np.nan_to_num(scores, nan=np.inf, posinf=_F_MAX)
        open_r = open_[ci]
        # closed servers lose to every open one; an all-NaN row picks its first open server
        masked = np.where(open_r, scores, np.inf)
        col = np.argmin(masked, axis=1)
        rows = np.arange(ci.size)
        lost = masked[rows, col] == np.inf
        if lost.any():
            col = np.where(lost, np.argmax(open_r, axis=1), col)
        # each (copy, server) keeps its proposers in ascending (priority, UD index) up to its
        # room: sorted per copy on dense (B, N) rows (non-proposers: group m, key inf)
        grp = np.full((batch, n_uds), m, dtype=np.int64)
        grp[ci, ni] = col
        key = np.full((batch, n_uds), np.inf)
        key[ci, ni] = priority(col)
        order, gs, rank = dense_group_order(grp, key, m)
        room = np.concatenate([z_max - load, np.zeros((batch, 1), dtype=load.dtype)], axis=1)
        keep = (gs < m) & (rank < np.take_along_axis(room, gs, axis=1))
        bi, _ = np.nonzero(keep)
        ui, si = order[keep], gs[keep]
        server[bi, ui] = si
        load += np.bincount(bi * m + si, minlength=batch * m).reshape(batch, m)


def dense_group_order(
    group: np.ndarray, key: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of (A, N) arrays, the items sorted by (group, key, item index).

    Returns ``order`` (A, N) item indices in that order, ``group`` in that order and each
    sorted item's ``rank`` within its group (0 for the first). Items of one row that share a
    group are ordered by ascending key, ties by index (as :func:`mec_env.physics.group_table`
    orders them). Excluded items carry group ``n_groups`` (their order is not needed).
    """
    n = key.shape[1]
    offset = np.arange(key.shape[0])[:, None] * n  # flat takes: cheaper than 2-D indexing
    o1 = np.argsort(key, axis=1)
    ks = np.take(key, o1 + offset)
    gs = np.take(group, o1 + offset)
    # Equal keys of real items: quicksort's order between them is arbitrary, sort stably.
    # (In a run of equal keys with two real items some adjacent pair ends in a real one.)
    if ((ks[:, 1:] == ks[:, :-1]) & (gs[:, 1:] < n_groups)).any():
        o1 = np.argsort(key, axis=1, kind="stable")
        gs = np.take(group, o1 + offset)
    o2 = np.argsort(gs * n + np.arange(n), axis=1) + offset  # unique keys: any sort is stable
    order = np.take(o1, o2)
    g_sorted = np.take(gs, o2)
    pos = np.arange(n)
    change = np.ones(g_sorted.shape, dtype=bool)
    change[:, 1:] = g_sorted[:, 1:] != g_sorted[:, :-1]
    start = np.maximum.accumulate(np.where(change, pos, 0), axis=1)
    return order, g_sorted, pos - start


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
    cfg = slots.config
    batch, n = slots.bits.shape
    m = cfg.n_servers
    tau_o, tau_p, e_o = offload_estimates(slots, cfg.p_max_w)
    alone_tau_a = tau_o + tau_p
    alone_cost = physics.cost(cfg.rho_delay, cfg.rho_energy, alone_tau_a, e_o)
    rho1, rho2 = cfg.rho_delay, cfg.rho_energy
    n_cpus = cfg.n_cpus
    copies = np.arange(batch)[:, None]

    def scorer(ci, ni, server, load, open_):
        r = ci.size
        rows = np.arange(r)
        own_cost = alone_cost[ci, ni]  # (R, M)
        tau_a = alone_tau_a[ci, ni]  # a copy: exact evaluations write into it
        if not (server >= 0).any():  # first round: every Z_m is empty
            return own_cost, lambda col: tau_a[rows, col]
        # every open server's members in service order (arrival τ^o, then UD index)
        srv0 = np.maximum(server, 0)
        member = (server >= 0) & open_[copies, srv0]
        key = np.where(member, tau_o[copies, np.arange(n), srv0], np.inf)
        order, gs, rank = dense_group_order(np.where(member, server, m), key, m)
        width = int(np.where(open_, load, 0).max())
        # one padding column (arrival inf) so that a candidate can always be placed last
        arrival = np.full((batch * m, width + 1), np.inf)
        proc = np.zeros((batch * m, width + 1))
        energy = np.zeros((batch * m, width + 1))
        mem_ud = np.full((batch * m, width + 1), -1, dtype=np.int64)
        if width:
            keep = gs < m
            bi, _ = np.nonzero(keep)
            ui, si = order[keep], gs[keep]
            row, col = bi * m + si, rank[keep]
            arrival[row, col] = key[bi, ui]
            proc[row, col] = tau_p[bi, ui, si]
            energy[row, col] = e_o[bi, ui, si]
            mem_ud[row, col] = ui
        valid = np.isfinite(arrival)
        idle_item = physics.cost(rho1, rho2, arrival + proc, energy)
        base = seq_sum(np.where(valid, idle_item, 0.0)).reshape(batch, m)
        queued = (load + 1 > n_cpus) & open_
        n_open = open_.sum(axis=1)
        use_exact = ~((n_open <= _PRUNE_K) | ~queued.any(axis=1))
        if use_exact.any():
            _, done = physics.queue_table(arrival, proc, valid, np.tile(n_cpus, batch))
            exact = seq_sum(np.where(valid, physics.cost(rho1, rho2, done, energy), 0.0))
            base = np.where(use_exact[:, None], exact.reshape(batch, m), base)
        lower = base[ci] + own_cost
        scores = lower.copy()

        def evaluate(mask: np.ndarray) -> None:
            ri, si = np.nonzero(mask)
            if ri.size == 0:
                return
            bi, ui = ci[ri], ni[ri]
            g = bi * m + si
            cand_arrival = tau_o[bi, ui, si][:, None]
            mem_arr = arrival[g]
            before = (mem_arr < cand_arrival) | (
                (mem_arr == cand_arrival) & (mem_ud[g] < ui[:, None])
            )
            place = before.sum(axis=1, keepdims=True)
            k = np.arange(width + 1)
            src = np.where(k < place, k, np.maximum(k - 1, 0))
            is_cand = k == place
            gc = g[:, None]
            q_arr = np.where(is_cand, cand_arrival, arrival[gc, src])
            q_proc = np.where(is_cand, tau_p[bi, ui, si][:, None], proc[gc, src])
            q_energy = np.where(is_cand, e_o[bi, ui, si][:, None], energy[gc, src])
            q_valid = np.isfinite(q_arr)
            _, q_done = physics.queue_table(q_arr, q_proc, q_valid, n_cpus[si])
            item = physics.cost(rho1, rho2, q_done, q_energy)
            scores[ri, si] = seq_sum(np.where(q_valid, item, 0.0))
            tau_a[ri, si] = q_done[np.arange(ri.size), place[:, 0]]

        pairs = queued[ci]  # queued servers are open
        small = (n_open <= _PRUNE_K)[ci]
        big = (~(n_open <= _PRUNE_K) & queued.any(axis=1))[ci]
        first = pairs & small[:, None]
        if big.any():
            ranked = np.where(open_[ci], lower, np.inf)
            top = np.argpartition(ranked, _PRUNE_K - 1, axis=1)[:, :_PRUNE_K]
            pick = np.zeros(pairs.shape, dtype=bool)
            np.put_along_axis(pick, top, True, axis=1)
            first |= pick & pairs & big[:, None]
        evaluate(first)
        if big.any():
            kept = (first | ~queued[ci]) & open_[ci]
            best = np.where(kept, scores, np.inf).min(axis=1, keepdims=True)
            rest = pairs & big[:, None] & ~first
            second = rest & (lower <= best)
            evaluate(second)
            scores[rest & ~second] = np.inf
        return scores, lambda col: tau_a[rows, col]

    return propose_and_accept_batched(cfg.z_max, batch, n, scorer)


def check_matching(
    name: str, server, n_uds: int, n_servers: int, z_max: np.ndarray, copy: int | None = None
) -> np.ndarray:
    """The single environment's matcher checks, naming the copy; returns int64 (N,)."""
    from mec_env.env import MatcherError

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
    cfg = slots.config
    log2_arg = np.log2(1.0 + np.asarray(cfg.p_max_w, dtype=np.float64) * slots.gain)
    return kernels.co_selection_from_log(
        slots.bits,
        slots.cycles_per_bit,
        log2_arg,
        cfg.subchannel_bw_hz,
        cfg.f_server_hz,
        float(cfg.p_max_w),
        cfg.z_max,
        cfg.n_cpus,
        float(cfg.rho_delay),
        float(cfg.rho_energy),
        _PRUNE_K,
    )


def max_gain_compiled(slots: SlotState, rngs, kernels) -> np.ndarray:
    """:func:`max_gain_batched` with the rounds in a compiled kernel (same permutations)."""
    batch, n = slots.bits.shape
    rank = np.empty((batch, n))
    for b, rng in enumerate(rngs):
        rank[b] = rng.permutation(n)
    return kernels.max_gain(np.ascontiguousarray(slots.gain), rank, slots.config.z_max)


#: per-copy matcher function -> compiled form ``fn(slots, rngs, kernels)``
COMPILED_MATCHERS: dict[Callable, Callable] = {
    co_selection: co_selection_compiled,
    max_gain: max_gain_compiled,
}


def match(
    name: str, slots: SlotState, rngs: Sequence[np.random.Generator], kernels=None
) -> np.ndarray:
    """Matcher ``name`` on B copies: compiled if ``kernels`` (a module from
    :func:`mec_env.fast.resolve`) has it, else its batched form, else per copy."""
    fn = MATCHERS[name]
    if kernels is not None and fn in COMPILED_MATCHERS:
        return COMPILED_MATCHERS[fn](slots, rngs, kernels)
    batched = BATCHED_MATCHERS.get(fn)
    if batched is None or slots.bits.shape[0] == 1:
        # one copy: the per-copy function (identical result, fewer numpy calls)
        return per_copy(name, fn, slots, rngs)
    return batched(slots, rngs)


BATCHED_MATCHERS[co_selection] = co_selection_batched
BATCHED_MATCHERS[max_gain] = max_gain_batched
BATCHED_MATCHERS[random_matching] = random_batched
