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

The built-in matchers live one per module in :mod:`mec_env.sim.matchers`, each registered
there with its batched and compiled forms; this module re-exports them and the framework of
:mod:`mec_env.sim.matchers.base`. They share one vectorised propose/accept loop
(:func:`propose_and_accept`): every unmatched UD proposes to its best open server at once, each
server keeps its best proposers up to capacity, the rest propose again. It always terminates
(every round with a proposal matches at least one UD) and stops when every UD is matched or
every server is full.
"""

from __future__ import annotations

from mec_env.sim.matchers import MATCHERS
from mec_env.sim.matchers.base import Matcher, propose_and_accept, register_matcher
from mec_env.sim.matchers.co_selection import co_selection
from mec_env.sim.matchers.max_gain import max_gain
from mec_env.sim.matchers.random_matching import random_matching
from mec_env.sim.state import SlotState

__all__ = [
    "MATCHERS",
    "Matcher",
    "SlotState",
    "co_selection",
    "max_gain",
    "propose_and_accept",
    "random_matching",
    "register_matcher",
]
