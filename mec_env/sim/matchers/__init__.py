"""The built-in matchers, one module each, each registered in its module with its batched and
compiled forms (:data:`mec_env.sim.matchers.base.MATCHERS`); importing this package registers
them (:mod:`mec_env.config` does, to check a config's matcher name)."""

from __future__ import annotations

from mec_env.sim.matchers import co_selection, max_gain, random_matching
from mec_env.sim.matchers.base import MATCHERS

__all__ = ["MATCHERS", "co_selection", "max_gain", "random_matching"]
