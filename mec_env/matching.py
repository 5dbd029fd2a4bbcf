"""User-server matching (problem P2; docs/environment.md): a registry of named strategies.

A matcher is a function ``matcher(slot, rng) -> server`` taking the :class:`SlotState` of the
slot (tasks, gains, batteries and the config) and the environment's ``np.random.Generator``,
and returning an int array ``server`` of shape (N,) with values in ``0..M-1`` or ``-1``
(unmatched, computes locally). It must put at most ``z_max[m]`` UDs on server ``m``; the
environment checks this and raises if a matcher breaks it.

Register your own without editing the library::

    import mec_env

    def nearest_first(slot, rng):
        ...
        return server

    mec_env.register_matcher("nearest_first", nearest_first)
    env = mec_env.parallel_env(matcher="nearest_first")

The three built-in matchers share one vectorised propose/accept loop
(:func:`propose_and_accept`): every unmatched UD proposes to its best open server at once, each
server keeps its best proposers up to capacity, the rest propose again. It always terminates
(every round with a proposal matches at least one UD) and stops when every UD is matched or
every server is full.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mec_env import physics
from mec_env.registry import Registry
from mec_env.sim.params import EnvConfig
from mec_env.slot import SlotState  # defined with the slot functions; re-exported here

Matcher = Callable[[SlotState, np.random.Generator], np.ndarray]
#: the matchers by name (``parallel_env(matcher=name)``); also resolves import paths and the
#: ``mec_env.matchers`` entry points (:class:`mec_env.registry.Registry`). Registration
#: metadata ``batched``: the same matcher for B copies at once, ``fn(slots, rngs) -> server``
#: (B, N) with ``slots`` a :class:`SlotState` with a leading batch axis on every array and
#: ``rngs`` the B copies' generators (:mod:`mec_env.batched_matching`); ``compiled``: its
#: numba form (built-ins only). A matcher without them runs once per copy in the batched core.
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
        table = physics.group_table(choice, prio, n_servers, tiebreak=cand)
        room = (z_max - load)[:, None]
        keep = (table >= 0) & (np.arange(table.shape[1]) < room)
        kept = table[keep]
        server[cand[kept]] = choice[kept]
        load += np.bincount(choice[kept], minlength=n_servers)


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
    alone_cost = physics.cost(cfg.rho_delay, cfg.rho_energy, alone_tau_a, e_o)
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


_PRUNE_K = 4  # exact co-selection scores first for each UD's 4 most promising servers


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
        table = physics.group_table(
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
            _, done = physics.queue_table(
                self.arrival, self.proc, self.present, cfg.n_cpus[self.open_servers]
            )
        item = physics.cost(cfg.rho_delay, cfg.rho_energy, done, self.energy)
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
        _, done = physics.queue_table(arrival, proc, valid, cfg.n_cpus[srv])
        item = physics.cost(cfg.rho_delay, cfg.rho_energy, done, energy)
        scores[rows, cols] = np.where(valid, item, 0.0).sum(axis=1)
        tau_a[rows, cols] = np.take_along_axis(done, place, axis=1)[:, 0]


def max_gain(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD picks the open server with the largest gain g; an oversubscribed server keeps
    its proposers in a random UD order (the baselines' matching, docs/environment.md, decisions)."""
    rank = rng.permutation(slot.n_uds).astype(np.float64)
    return propose_and_accept(
        slot.config.z_max,
        slot.n_uds,
        lambda cand, open_servers, server: -slot.gain[cand][:, open_servers],
        lambda cand, col: rank[cand],
    )


def random_matching(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD proposes to a uniformly random open server; an oversubscribed server keeps a
    uniformly random subset (RD_UCMS_MADDPG's matching)."""
    return propose_and_accept(
        slot.config.z_max,
        slot.n_uds,
        lambda cand, open_servers, server: rng.random((cand.size, open_servers.size)),
        lambda cand, col: rng.random(cand.size),
    )


# The built-in matchers are registered in mec_env.batched_matching, with their batched and
# compiled forms as metadata (importing any mec_env module imports it).
