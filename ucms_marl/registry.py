"""The registry type of learners and replay buffers: :class:`mec_env.registry.Registry`, the
one torch-free registry shared with mec_env's matchers, admission rules and policies."""

from __future__ import annotations

from mec_env.registry import Factory, Registry, UnknownNameError

__all__ = ["Factory", "Registry", "UnknownNameError"]
