"""The AEC version of the environment (PettingZoo's agent-by-agent API).

``raw_env`` is the AEC class, as in PettingZoo's own environments: PettingZoo's
``parallel_to_aec_wrapper`` around a :class:`~mec_env.adapters.parallel.MECParallelEnv` (the
agents act one after the other; the slot is played when the last one has acted).
``mec_env.env(...)`` is ``raw_env`` in PettingZoo's ``OrderEnforcingWrapper``, exactly what
``parallel_to_aec(parallel_env(...))`` returns.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from mec_env.adapters.parallel import MECParallelEnv
from mec_env.adapters.parallel import __doc__ as _REFERENCE
from mec_env.config import DEFAULT_PRESET


class raw_env(parallel_to_aec_wrapper):  # noqa: N801 (PettingZoo's name for the AEC class)
    """The AEC environment over ``MECParallelEnv(preset, kernels=..., **overrides)``."""

    metadata = MECParallelEnv.metadata

    def __init__(
        self, preset: str = DEFAULT_PRESET, *, kernels: str | None = None, **overrides: Any
    ) -> None:
        super().__init__(MECParallelEnv(preset, kernels=kernels, **overrides))


def env(preset: str = DEFAULT_PRESET, **overrides: Any) -> OrderEnforcingWrapper:
    """The AEC version of :func:`mec_env.parallel_env`: :class:`raw_env` in PettingZoo's
    ``OrderEnforcingWrapper`` (what ``parallel_to_aec(parallel_env(...))`` returns)."""
    return OrderEnforcingWrapper(raw_env(preset, **overrides))


# ``help(mec_env.env)`` shows the environment's reference page too
env.__doc__ = f"{env.__doc__}\n\n{_REFERENCE}"
