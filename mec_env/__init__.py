"""mec_env: a PettingZoo environment for multi-server, multi-user MEC task offloading.

``mec_env.parallel_env(preset="paper_kb", **overrides)`` returns the ParallelEnv documented in
:mod:`mec_env.adapters.parallel`; ``mec_env.env(...)`` the AEC version (``mec_env.raw_env`` is
the AEC class); ``mec_env.vector_env(num_envs=B, ...)`` B copies as arrays
(:mod:`mec_env.adapters.vector`); ``mec_env.torchrl_env`` the native TorchRL env (the
``torchrl`` extra). Matchers and admission rules are registries
(:class:`mec_env.registry.Registry`, one type for every pluggable kind) a user can extend with
:func:`register_matcher` and :func:`register_admission`, by import path, or by package entry
points (docs/extending.md); so are the scenario components of :mod:`mec_env.sim.components`
(``ARRIVALS``, ``TASK_MODELS``, ``CHANNELS``, ``MOBILITY``).
Needs only numpy, gymnasium and pettingzoo (no torch).
"""

from mec_env.adapters.aec import env, raw_env
from mec_env.adapters.parallel import MECParallelEnv, parallel_env
from mec_env.adapters.vector import MECVectorEnv, vector_env
from mec_env.admission import ADMISSIONS, AdmissionContext, register_admission
from mec_env.config import DEFAULT_PRESET, PRESETS, EnvConfig, make_config
from mec_env.errors import ActionError, ConfigError, MatcherError
from mec_env.matching import MATCHERS, register_matcher
from mec_env.registry import Registry, UnknownNameError
from mec_env.sim.components import ARRIVALS, CHANNELS, MOBILITY, TASK_MODELS
from mec_env.sim.slot import SlotState
from mec_env.spec import ES_INFO_KEYS, SLOT_INFO_KEYS, SLOT_METRICS, UD_INFO_KEYS, slot_metrics

# registers the drift_plus_penalty policy in mec_env.policies.POLICIES (it imports policies,
# so policies cannot import it)
from mec_env import lookahead as _lookahead  # noqa: F401  # isort: skip

__version__ = "0.1.0"

__all__ = [
    "ADMISSIONS",
    "ARRIVALS",
    "ActionError",
    "AdmissionContext",
    "CHANNELS",
    "ConfigError",
    "DEFAULT_PRESET",
    "ES_INFO_KEYS",
    "EnvConfig",
    "MATCHERS",
    "MECParallelEnv",
    "MECVectorEnv",
    "MOBILITY",
    "MatcherError",
    "PRESETS",
    "Registry",
    "SLOT_INFO_KEYS",
    "SLOT_METRICS",
    "SlotState",
    "TASK_MODELS",
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


def __dir__() -> list[str]:
    """The public names (``__all__``), the version and the loaded submodules: no stray
    imports."""
    import sys

    submodules = {
        name.split(".")[1]
        for name in sys.modules
        if name.startswith("mec_env.") and not name.split(".")[1].startswith("_")
    }
    return sorted({*__all__, "__version__", *submodules})
