"""Learners, registered by name in :data:`LEARNERS`.

A learner turns observations into actions and, if it learns, replay samples into updates;
see :class:`ucms_marl.learners.base.Learner` for the interface. Registered here:

``maddpg``     MADDPG for the UD agents, batched over agents (:mod:`.maddpg`).
``ucms``       UCMS_MADDPG: MADDPG UD learners plus a learned ES admission (:mod:`.ucms`).
``heuristic``  a mec_env reference policy, no learning (:mod:`.heuristic`).
``mappo``      on-policy MAPPO (centralised values), with a learned ES head when the env has
               ES agents (:mod:`.ppo`).
``ippo``       the same learner with every value on the agent's own observation (:mod:`.ppo`).
"""

from ucms_marl.learners.base import LEARNERS, Learner
from ucms_marl.learners.heuristic import HeuristicLearner
from ucms_marl.learners.maddpg import MADDPG
from ucms_marl.learners.ppo import PPO
from ucms_marl.learners.ucms import UCMS

__all__ = ["LEARNERS", "HeuristicLearner", "Learner", "MADDPG", "PPO", "UCMS"]
