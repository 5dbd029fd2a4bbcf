"""The max-gain matcher (**[decision]** 9 of docs/environment.md), per copy, batched and
compiled, registered here as ``"max_gain"``: every unmatched UD proposes to the open server
with the largest gain; an oversubscribed server keeps its proposers in a random UD order (one
permutation per slot and copy)."""

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


def max_gain_batched(
    slots: SlotState, rngs: Sequence[np.random.Generator], active: np.ndarray | None = None
) -> np.ndarray:
    """:func:`mec_env.matching.max_gain` for B copies (one permutation drawn per copy, of
    its ``active`` UDs where given: the k-th active UD gets the permutation's k-th rank)."""
    batch, n = slots.bits.shape
    rank = _ranks(rngs, batch, n, active)
    neg_gain = -slots.gain

    def scorer(ci, ni, server, load, open_):
        return neg_gain[ci, ni], lambda col: rank[ci, ni]

    return propose_and_accept_batched(slots.config.z_max, batch, n, scorer, active)


def max_gain_near(
    slots: SlotState, rngs: Sequence[np.random.Generator], active: np.ndarray | None = None
) -> np.ndarray:
    """:func:`max_gain_batched` with reach: each UD proposes to the open ES of largest gain
    among its K nearest (``slots.near``); the same permutations."""
    batch, n = slots.bits.shape
    rank = _ranks(rngs, batch, n, active)
    neg_gain = -slots.gain

    def scorer(ci, ni, server, load, open_):
        return neg_gain[ci, ni], lambda col: rank[ci, ni]

    return propose_and_accept_near(slots.config.z_max, slots.near, scorer, active)


def _ranks(rngs, batch: int, n: int, active: np.ndarray | None) -> np.ndarray:
    """Each copy's permutation of its (active) UDs as ranks (B, N) float64."""
    rank = np.empty((batch, n))
    if active is None:
        for b, rng in enumerate(rngs):
            rank[b] = rng.permutation(n)
    else:
        for b, (rng, k) in enumerate(zip(rngs, active.sum(axis=1).tolist(), strict=True)):
            if k:
                rank[b, active[b]] = rng.permutation(k)
    return rank


def max_gain_compiled(slots: SlotState, rngs, kernels) -> np.ndarray:
    """:func:`max_gain_batched` with the rounds in a compiled kernel (same permutations)."""
    batch, n = slots.bits.shape
    rank = np.empty((batch, n))
    for b, rng in enumerate(rngs):
        rank[b] = rng.permutation(n)
    return kernels.max_gain(np.ascontiguousarray(slots.gain), rank, slots.config.z_max)


MATCHERS.register(
    "max_gain",
    max_gain,
    batched=max_gain_batched,
    compiled=max_gain_compiled,
    active=True,
    near=max_gain_near,
)
