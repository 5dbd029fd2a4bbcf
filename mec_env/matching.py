"""User-server matching (problem P2, SPEC §5): a registry of named strategies.

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
from dataclasses import dataclass

import numpy as np

from mec_env import physics
from mec_env.config import EnvConfig


@dataclass(frozen=True)
class SlotState:
    """What the matcher and the admission rules see of a slot. Arrays in SI units.

    ``bits`` β (N,) bits; ``cycles_per_bit`` c (N,); ``deadline_s`` φ (N,) s; ``gain`` g (N, M)
    linear; ``battery_j`` b (N,) J at the start of the slot; ``config`` the :class:`EnvConfig`.
    """

    config: EnvConfig
    bits: np.ndarray
    cycles_per_bit: np.ndarray
    deadline_s: np.ndarray
    gain: np.ndarray
    battery_j: np.ndarray

    @property
    def n_uds(self) -> int:
        return self.bits.shape[0]

    def offload_estimates(self, p_w: np.ndarray | float) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
        """(τ^o, τ^p, e^o) of every UD at every server, each (N, M), at power ``p_w`` (W)."""
        cfg = self.config
        p = np.asarray(p_w, dtype=np.float64)
        if p.ndim == 1:
            p = p[:, None]
        rate = physics.uplink_rate(cfg.subchannel_bw_hz, p, self.gain)
        tau_o = physics.upload_delay(self.bits[:, None], rate)
        tau_p = physics.processing_delay(self.bits[:, None], self.cycles_per_bit[:, None],
                                         cfg.f_server_hz)
        return tau_o, tau_p, physics.offload_energy(p, tau_o)


Matcher = Callable[[SlotState, np.random.Generator], np.ndarray]
MATCHERS: dict[str, Matcher] = {}


def register_matcher(name: str, fn: Matcher, *, overwrite: bool = False) -> Matcher:
    """Register ``fn`` as matcher ``name`` (usable as ``parallel_env(matcher=name)``)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a matcher name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"matcher {name!r} must be callable, got {type(fn).__name__}")
    if name in MATCHERS and not overwrite:
        raise ValueError(f"matcher {name!r} is already registered; pass overwrite=True")
    MATCHERS[name] = fn
    return fn


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
    """User-server co-selection, Algorithm 1 with eqs. (18)-(19) (**[decision]** SPEC §5).

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
        # While Z_m ∪ {n} fits on the U_m CPUs nobody waits, so the score is additive.
        matched = server >= 0
        load = np.bincount(server[matched], minlength=cfg.n_servers)
        base = np.bincount(server[matched], alone_cost[matched, server[matched]],
                           minlength=cfg.n_servers)
        scores = base[open_servers] + alone_cost[cand][:, open_servers]
        tau_a = alone_tau_a[cand][:, open_servers]
        queued = np.flatnonzero(load[open_servers] + 1 > cfg.n_cpus[open_servers])
        if queued.size:
            s_q, t_q = _queued_scores(cand, open_servers[queued], server)
            scores[:, queued] = s_q
            tau_a[:, queued] = t_q
        own_tau_a["value"] = tau_a
        return scores

    def _queued_scores(cand: np.ndarray, open_servers: np.ndarray, server: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        n_cand, n_open = cand.size, open_servers.size
        # Pair (r, j): candidate cand[r] joining open_servers[j]. Items of a pair: the server's
        # current members plus the candidate itself; each pair is one queue.
        col_of_server = np.full(cfg.n_servers + 1, -1)  # index −1 (unmatched) stays −1
        col_of_server[open_servers] = np.arange(n_open)
        member_col = col_of_server[server]
        members = np.flatnonzero(member_col >= 0)
        member_col = member_col[members]
        pair_of_member = (np.arange(n_cand)[:, None] * n_open + member_col).ravel()
        ud = np.concatenate([np.tile(members, n_cand), np.repeat(cand, n_open)])
        col = np.concatenate([np.tile(member_col, n_cand), np.tile(np.arange(n_open), n_cand)])
        pair = np.concatenate([pair_of_member, np.arange(n_cand * n_open)])
        srv = open_servers[col]
        _, tau_a = physics.queue_finish_times(
            tau_o[ud, srv], tau_p[ud, srv], pair, np.tile(cfg.n_cpus[open_servers], n_cand),
            tiebreak=ud)
        item_cost = physics.cost(cfg.rho_delay, cfg.rho_energy, tau_a, e_o[ud, srv])
        scores = np.bincount(pair, item_cost, minlength=n_cand * n_open).reshape(n_cand, n_open)
        return scores, tau_a[pair_of_member.size:].reshape(n_cand, n_open)

    def es_priority(cand: np.ndarray, col: np.ndarray) -> np.ndarray:
        return own_tau_a["value"][np.arange(cand.size), col]

    return propose_and_accept(cfg.z_max, slot.n_uds, ud_scores, es_priority)


def max_gain(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD picks the open server with the largest gain g; an oversubscribed server keeps
    its proposers in a random UD order (the baselines' matching, SPEC §5)."""
    rank = rng.permutation(slot.n_uds).astype(np.float64)
    return propose_and_accept(
        slot.config.z_max, slot.n_uds,
        lambda cand, open_servers, server: -slot.gain[cand][:, open_servers],
        lambda cand, col: rank[cand],
    )


def random_matching(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD proposes to a uniformly random open server; an oversubscribed server keeps a
    uniformly random subset (RD_UCMS_MADDPG's matching)."""
    return propose_and_accept(
        slot.config.z_max, slot.n_uds,
        lambda cand, open_servers, server: rng.random((cand.size, open_servers.size)),
        lambda cand, col: rng.random(cand.size),
    )


register_matcher("co_selection", co_selection)
register_matcher("max_gain", max_gain)
register_matcher("random", random_matching)
