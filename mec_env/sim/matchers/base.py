"""The matcher framework: the registry of matchers, the propose/accept rounds every built-in
shares (per copy, :func:`propose_and_accept`, and for B copies at once,
:func:`propose_and_accept_batched`), the checks of a user's result, and :func:`match`, which
runs a matcher on B copies in its fastest registered form.

A matcher is ``matcher(slot, rng) -> server`` (:mod:`mec_env.matching` documents it); the
built-ins live one per module in :mod:`mec_env.sim.matchers`, each registered there with its
batched and compiled forms as metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mec_env.errors import MatcherError
from mec_env.registry import Registry
from mec_env.sim.queue import group_order, group_table
from mec_env.sim.state import SlotState

Matcher = Callable[[SlotState, np.random.Generator], np.ndarray]


#: the matchers by name (``parallel_env(matcher=name)``); also resolves import paths and the
#: ``mec_env.matchers`` entry points (:class:`mec_env.registry.Registry`). Registration
#: metadata ``batched``: the same matcher for B copies at once, ``fn(slots, rngs) -> server``
#: (B, N) with ``slots`` a :class:`SlotState` with a leading batch axis on every array and
#: ``rngs`` the B copies' generators (:mod:`mec_env.batched_matching`); ``compiled``: its
#: numba form (built-ins only); ``active``: True if the batched form takes ``active=`` (B, N)
#: bool and then matches only those UDs, giving what it gives on arrays of the active UDs
#: alone (the time-coupled model matches only the UDs with a task); ``near``: its form for
#: reach (``nearest_servers``, :func:`propose_and_accept_near`), the only form that plays
#: there. A matcher without them runs once per copy in the batched core.
MATCHERS: Registry[Matcher] = Registry("matcher", entry_point_group="mec_env.matchers")


def register_matcher(
    name: str, fn: Matcher, *, overwrite: bool = False, batched: Callable | None = None
) -> Matcher:
    """Register ``fn`` as matcher ``name`` (usable as ``parallel_env(matcher=name)``):
    ``MATCHERS.register(name, fn, batched=batched)``.

    ``batched``, optional: the same matcher for B copies at once, ``batched(slots, rngs) ->
    server`` (B, N), used by the batched core (:func:`mec_env.vector_env`) instead of calling
    ``fn`` once per copy. It must give copy b exactly what ``fn`` gives with ``rngs[b]`` and
    advance ``rngs[b]`` as ``fn`` does.
    """
    if batched is not None and not callable(batched):
        raise TypeError(f"batched form of matcher {name!r} must be callable")
    forms = {} if batched is None else {"batched": batched}
    return MATCHERS.register(name, fn, overwrite=overwrite, **forms)


def propose_and_accept(
    z_max: np.ndarray,
    n_uds: int,
    ud_scores: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    es_priority: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """The shared propose/accept loop.

    ``ud_scores(cand, open_servers, server)`` returns (R, len(open_servers)) scores of the
    unmatched UDs ``cand`` for each open server (lower is preferred); ``es_priority(cand,
    choice_col)`` returns each proposer's (R,) priority at the server it chose (lower is kept
    first; ties by UD index). Returns ``server`` (N,) with −1 for unmatched UDs.
    """
    n_servers = z_max.shape[0]
    server = np.full(n_uds, -1, dtype=np.int64)
    load = np.zeros(n_servers, dtype=np.int64)
    while True:
        cand = np.flatnonzero(server < 0)
        open_servers = np.flatnonzero(load < z_max)
        if cand.size == 0 or open_servers.size == 0:
            return server
        scores = np.asarray(ud_scores(cand, open_servers, server), dtype=np.float64)
        if not np.isfinite(scores).all():  # a closed server must never win over an open one
            scores = np.nan_to_num(scores, nan=np.inf, posinf=np.finfo(np.float64).max)
        col = np.argmin(scores, axis=1)
        choice = open_servers[col]
        prio = np.asarray(es_priority(cand, col), dtype=np.float64)
        table = group_table(choice, prio, n_servers, tiebreak=cand)
        room = (z_max - load)[:, None]
        keep = (table >= 0) & (np.arange(table.shape[1]) < room)
        kept = table[keep]
        server[cand[kept]] = choice[kept]
        load += np.bincount(choice[kept], minlength=n_servers)


_F_MAX = np.finfo(np.float64).max


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
    z_max: np.ndarray,
    batch: int,
    n_uds: int,
    scorer: RoundScorer,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """The propose/accept loop of :func:`mec_env.matching.propose_and_accept` for B copies.

    ``active`` (B, N) bool, optional: only these UDs take part (the others never propose
    and stay at −1), as if each copy held only its active UDs, in UD order."""
    m = z_max.shape[0]
    server = np.full((batch, n_uds), -1, dtype=np.int64)
    load = np.zeros((batch, m), dtype=np.int64)
    while True:
        open_ = load < z_max
        waiting = server < 0 if active is None else (server < 0) & active
        flat = np.flatnonzero(waiting & open_.any(axis=1)[:, None])
        if flat.size == 0:
            return server
        ci = flat // n_uds
        ni = flat - ci * n_uds
        scores, priority = scorer(ci, ni, server, load, open_)
        col = _proposals(scores, None if open_.all() else open_[ci])
        _accept(server, load, flat, ci * m + col, col, priority(col), z_max)


def propose_and_accept_near(
    z_max: np.ndarray,
    near: np.ndarray,
    scorer: RoundScorer,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`propose_and_accept_batched` with reach (docs/environment.md, "Reach"): a UD
    proposes only to the ESs ``near`` (B, N, K) of it, so the scorer returns (R, K) scores,
    column k for the candidate's k-th nearest ES, and the priorities at a chosen column. A UD
    whose K ESs are all full stays unmatched (−1). Each round costs O(R·K), whatever M."""
    batch, n, k = near.shape
    m = z_max.shape[0]
    flat_near = near.reshape(batch * n, k)
    server = np.full((batch, n), -1, dtype=np.int64)
    load = np.zeros((batch, m), dtype=np.int64)
    while True:
        open_ = load < z_max
        waiting = server < 0 if active is None else (server < 0) & active
        flat = np.flatnonzero(waiting)
        ids = flat_near[flat]  # (R, K) the waiting UDs' ESs
        open_r = np.take(open_, (flat // n)[:, None] * m + ids)
        reach = open_r.any(axis=1)
        if not reach.all():
            flat, ids, open_r = flat[reach], ids[reach], open_r[reach]
        if flat.size == 0:
            return server
        ci = flat // n
        scores, priority = scorer(ci, flat - ci * n, server, load, open_)
        col = _proposals(scores, None if open_r.all() else open_r)
        choice = np.take(ids, np.arange(col.size) * k + col)
        _accept(server, load, flat, ci * m + choice, choice, priority(col), z_max)


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
    order, g_sorted = group_order(group, prio, n_groups)
    counts = np.bincount(g_sorted, minlength=n_groups)
    room = (z_max - load).ravel()
    # a proposer is kept if its rank in its group (place − group start) is below the room
    end = np.cumsum(counts) - counts + room
    kept = order[np.arange(order.size) < end[g_sorted]]
    server.reshape(-1)[flat[kept]] = col[kept]
    load += np.minimum(counts, room).reshape(load.shape)


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
        one = slots.copy(b)
        server[b] = check_matching(
            name, fn(one, rngs[b]), n, cfg.n_servers, cfg.z_max, copy=b if batch > 1 else None
        )
    return server


def match_active(
    name: str, slots: SlotState, rngs: Sequence[np.random.Generator], active: np.ndarray
) -> np.ndarray | None:
    """Matcher ``name`` on B copies with only the UDs ``active`` (B, N) taking part, in one
    batched call (numpy), if the matcher's batched form takes a mask; else None."""
    forms = MATCHERS.metadata(name)
    if slots.near is not None:
        return _near_form(name)(slots, rngs, active=active)
    if not forms.get("active") or forms.get("batched") is None:
        return None
    return forms["batched"](slots, rngs, active=active)


def match(
    name: str, slots: SlotState, rngs: Sequence[np.random.Generator], kernels=None
) -> np.ndarray:
    """Matcher ``name`` on B copies: compiled if ``kernels`` (the compiled backend's kernel
    module, :mod:`mec_env.sim.fast`) is given and the matcher has a compiled form, else its
    batched form, else per copy."""
    fn, forms = MATCHERS[name], MATCHERS.metadata(name)
    if slots.near is not None:
        return _near_form(name)(slots, rngs)
    if kernels is not None and "compiled" in forms:
        return forms["compiled"](slots, rngs, kernels)
    batched = forms.get("batched")
    if batched is None or slots.bits.shape[0] == 1:
        # one copy: the per-copy function (identical result, fewer numpy calls)
        return per_copy(name, fn, slots, rngs)
    return batched(slots, rngs)


def _near_form(name: str) -> Callable:
    """The matcher's form for reach (its ``near`` registration metadata: ``fn(slots, rngs,
    active=None) -> server`` (B, N) on a :class:`SlotState` whose ``gain`` is (B, N, K) to
    the ESs ``slots.near``); a matcher without one cannot play with ``nearest_servers``."""
    form = MATCHERS.metadata(name).get("near")
    if form is None:
        raise MatcherError(
            f"matcher {name!r} has no form for nearest_servers (reach); register it with "
            "near=fn(slots, rngs, active=None), or use co_selection, max_gain or random"
        )
    return form
