"""The exceptions of ``mec_env``, in one module that imports nothing of the package, so that any
layer (the config, the simulator, the matchers, the adapters) can raise them without importing
another layer. Each is also exported as ``mec_env.<Name>``."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad environment configuration; the message names the key and the allowed range."""


class ActionError(ValueError):
    """An action dict the environment cannot execute; the message names the agent."""


class MatcherError(RuntimeError):
    """A registered matcher returned an invalid assignment."""


__all__ = ["ActionError", "ConfigError", "MatcherError"]
