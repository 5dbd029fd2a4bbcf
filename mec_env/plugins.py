"""Components named by import path, so that code outside this package plugs in by name.

A matcher or an admission rule may be named ``"package.module:attribute"`` wherever a
registered name is accepted (``mec_env.parallel_env(matcher=...)``, ``vector_env``, the
trainer's ``matcher=`` and ``admission=`` overrides, and ``ucms_marl``'s learner and replay
registries): the module is imported, the attribute (dotted names reach into classes) is
registered under that same string on first use, and from then on it is an ordinary
registered component. docs/extending.md shows each kind with a worked example.
"""

from __future__ import annotations

import importlib
import operator
from typing import Any


def is_import_path(name: object) -> bool:
    """Whether ``name`` reads as ``"package.module:attribute"``."""
    return isinstance(name, str) and ":" in name


def load(spec: str, kind: str) -> Any:
    """The object that the import path ``spec`` names; ``ValueError`` naming ``kind``, the
    path and what failed (no module, no attribute) otherwise."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{kind} {spec!r}: an import path reads 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{kind} {spec!r}: cannot import module {module_name!r} ({exc})") from None
    try:
        return operator.attrgetter(attr)(module)
    except AttributeError:
        raise ValueError(
            f"{kind} {spec!r}: module {module_name!r} has no attribute {attr!r}"
        ) from None
