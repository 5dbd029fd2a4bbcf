"""The random matcher (**[decision]** 9 of docs/environment.md), per copy and batched,
registered here as ``"random"``: every unmatched UD proposes to a uniformly random open server
and an oversubscribed server keeps a uniformly random subset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mec_env.sim.matchers.base import (
    MATCHERS,
    propose_and_accept,
    propose_and_accept_batched,
    propose_and_accept_near,
)
from mec_env.sim.state import SlotState


def random_matching(slot: SlotState, rng: np.random.Generator) -> np.ndarray:
    """Each UD proposes to a uniformly random open server; an oversubscribed server keeps a
    uniformly random subset (RD_UCMS_MADDPG's matching)."""
    return propose_and_accept(
        slot.config.z_max,
        slot.n_uds,
        lambda cand, open_servers, server: rng.random((cand.size, open_servers.size)),
        lambda cand, col: rng.random(cand.size),
    )


def _round_draws(ci, rngs, width: int, columns=None) -> tuple[np.ndarray, np.ndarray]:
    """A round's draws, copy by copy in the per-copy matcher's order: each copy's (its
    candidates, its columns) scores, then one priority per candidate. ``ci`` (R,) the
    candidates' copies, in order; ``columns(b)`` the score columns copy b draws (default all
    ``width``); the other columns stay 0 (closed servers, masked by the rounds)."""
    scores = np.zeros((ci.size, width))
    prio = np.zeros(ci.size)
    copies, starts = np.unique(ci, return_index=True)
    ends = np.append(starts[1:], ci.size)
    for b, lo, hi in zip(copies.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if columns is None:
            scores[lo:hi] = rngs[b].random((hi - lo, width))
        else:
            cols = columns(b)
            scores[lo:hi, cols] = rngs[b].random((hi - lo, cols.size))
        prio[lo:hi] = rngs[b].random(hi - lo)
    return scores, prio


def random_batched(
    slots: SlotState, rngs: Sequence[np.random.Generator], active: np.ndarray | None = None
) -> np.ndarray:
    """:func:`mec_env.matching.random_matching` for B copies: each copy's generator draws
    what the per-copy matcher draws, round by round (for its ``active`` UDs where given)."""
    batch, n = slots.bits.shape

    def scorer(ci, ni, server, load, open_):
        scores, prio = _round_draws(ci, rngs, slots.config.n_servers,
                                    lambda b: np.flatnonzero(open_[b]))  # fmt: skip
        return scores, lambda col: prio

    return propose_and_accept_batched(slots.config.z_max, batch, n, scorer, active)


def random_near(
    slots: SlotState, rngs: Sequence[np.random.Generator], active: np.ndarray | None = None
) -> np.ndarray:
    """:func:`random_batched` with reach: each UD proposes to a uniformly random open ES among
    its K nearest (``slots.near``); per round each copy draws (its candidates, K) scores, then
    a priority per candidate."""

    def scorer(ci, ni, server, load, open_):
        scores, prio = _round_draws(ci, rngs, slots.near.shape[-1])
        return scores, lambda col: prio

    return propose_and_accept_near(slots.config.z_max, slots.near, scorer, active)


MATCHERS.register("random", random_matching, batched=random_batched, active=True, near=random_near)
