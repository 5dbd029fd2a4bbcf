"""mec_env: a PettingZoo environment for multi-server, multi-user MEC task offloading.

``mec_env.parallel_env(preset="paper_kb", **overrides)`` returns the ParallelEnv documented in
:mod:`mec_env.env`; ``mec_env.env(...)`` the AEC version; ``mec_env.vector_env(num_envs=B,
...)`` B copies as arrays (:mod:`mec_env.vector`). Matchers and admission rules are
registries (:class:`mec_env.registry.Registry`, one type for every pluggable kind) a user can
extend with :func:`register_matcher` and :func:`register_admission`, by import path, or by
package entry points (docs/extending.md).
Needs only numpy, gymnasium and pettingzoo (no torch).
"""

from __future__ import annotations

import sys
from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from mec_env.admission import ADMISSIONS, AdmissionContext, register_admission
from mec_env.config import DEFAULT_PRESET, PRESETS, EnvConfig, make_config
from mec_env.env import (
    ES_INFO_KEYS,
    SLOT_INFO_KEYS,
    SLOT_METRICS,
    UD_INFO_KEYS,
    MECParallelEnv,
    slot_metrics,
)
from mec_env.errors import ActionError, ConfigError, MatcherError
from mec_env.matching import MATCHERS, register_matcher
from mec_env.registry import Registry, UnknownNameError
from mec_env.slot import SlotState
from mec_env.vector import MECVectorEnv, vector_env

__version__ = "0.1.0"


def parallel_env(
    preset: str = DEFAULT_PRESET, *, kernels: str | None = None, **overrides: Any
) -> MECParallelEnv:
    """The ParallelEnv for ``preset`` with config keys overridden (see :mod:`mec_env.config`);
    ``kernels`` picks numpy or the optional compiled kernels (:mod:`mec_env.fast`)."""
    return MECParallelEnv(preset, kernels=kernels, **overrides)


def env(preset: str = DEFAULT_PRESET, **overrides: Any):
    """The AEC version of :func:`parallel_env` (PettingZoo's ``parallel_to_aec``)."""
    return parallel_to_aec(parallel_env(preset, **overrides))


raw_env = parallel_env

# The factory ``mec_env.env`` shadows the module ``mec_env.env`` whose docstring is the
# environment's reference page: both factories carry that page, so ``help(mec_env.env)`` and
# ``help(mec_env.parallel_env)`` show it.
_REFERENCE = sys.modules["mec_env.env"].__doc__
parallel_env.__doc__ = f"{parallel_env.__doc__}\n\n{_REFERENCE}"
env.__doc__ = f"{env.__doc__}\n\n{_REFERENCE}"

__all__ = [
    "ADMISSIONS",
    "ActionError",
    "AdmissionContext",
    "ConfigError",
    "DEFAULT_PRESET",
    "ES_INFO_KEYS",
    "EnvConfig",
    "MATCHERS",
    "MECParallelEnv",
    "MECVectorEnv",
    "MatcherError",
    "PRESETS",
    "Registry",
    "SLOT_INFO_KEYS",
    "SLOT_METRICS",
    "SlotState",
    "UD_INFO_KEYS",
    "UnknownNameError",
    "env",
    "make_config",
    "parallel_env",
    "raw_env",
    "register_admission",
    "register_matcher",
    "slot_metrics",
    "vector_env",
]
