"""Learners, registered by name in :data:`LEARNERS`.

A learner turns observations into actions and, if it learns, replay samples into updates;
see :class:`ucms_marl.learners.base.Learner` for the interface. A learner is one module of
this package: its class, its config schema and the algorithms built on it, all given to
:data:`LEARNERS` when the module registers the class. Importing this package imports every
module in it, so a new module needs no line here (docs/extending.md, "A learner"). Here:

``maddpg``     MADDPG for the UD agents, batched over agents (:mod:`.maddpg`).
``ucms``       UCMS_MADDPG: MADDPG UD learners plus a learned ES admission (:mod:`.ucms`).
``heuristic``  a mec_env reference policy, no learning (:mod:`.heuristic`).
``mappo``      on-policy MAPPO (centralised values), with a learned ES head when the env has
               ES agents (:mod:`.ppo`).
``ippo``       the same learner with every value on the agent's own observation (:mod:`.ppo`).
"""

import importlib
import pkgutil

from ucms_marl.learners.base import LEARNERS, Algorithm, Learner, algorithms
from ucms_marl.learners.heuristic import HeuristicLearner
from ucms_marl.learners.maddpg import MADDPG
from ucms_marl.learners.ppo import PPO
from ucms_marl.learners.ucms import UCMS

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "LEARNERS",
    "Algorithm",
    "HeuristicLearner",
    "Learner",
    "MADDPG",
    "PPO",
    "UCMS",
    "algorithms",
]
