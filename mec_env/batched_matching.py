"""Batched user-server matching: B environment copies matched in one call.

Every function here takes a :class:`~mec_env.sim.slot.SlotState` whose arrays carry a leading
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

The framework lives in :mod:`mec_env.sim.matchers.base`, each built-in matcher's batched and
compiled forms beside its per-copy form in :mod:`mec_env.sim.matchers`; this module
re-exports them.
"""

from __future__ import annotations

from mec_env.sim.matchers.base import (
    RoundScorer,
    check_matching,
    match,
    per_copy,
    propose_and_accept_batched,
)
from mec_env.sim.matchers.co_selection import (
    co_selection_batched,
    co_selection_compiled,
    co_selection_constants,
    co_selection_log2_arguments,
)
from mec_env.sim.matchers.max_gain import max_gain_batched, max_gain_compiled
from mec_env.sim.matchers.random_matching import random_batched
from mec_env.sim.queue import queue_done

__all__ = [
    "RoundScorer",
    "check_matching",
    "co_selection_batched",
    "co_selection_compiled",
    "co_selection_constants",
    "co_selection_log2_arguments",
    "match",
    "max_gain_batched",
    "max_gain_compiled",
    "per_copy",
    "propose_and_accept_batched",
    "queue_done",
    "random_batched",
]
