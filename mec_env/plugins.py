"""Out-of-tree components: by import path, or by the entry points of installed packages.

Every :class:`mec_env.registry.Registry` (matchers, admission rules, reference policies,
learners, replay buffers) resolves a name it does not hold with these two helpers:

- ``"package.module:attribute"`` (:func:`load`): the module is imported and the attribute
  (dotted names reach into classes) is registered under that same string on first use;
- an entry point declared by an installed distribution in the registry's group
  (:func:`entry_points`, :func:`load_entry_point`), e.g. ``mec_env.matchers``.

From then on it is an ordinary registered component. docs/extending.md shows each kind with a
worked example and lists the entry-point groups.
"""

from __future__ import annotations

import importlib
import operator
from importlib import metadata
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


def entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The entry points that installed distributions declare in ``group``, by name (the first
    distribution on ``sys.path`` wins a name declared twice). Read afresh on each call."""
    found: dict[str, metadata.EntryPoint] = {}
    for point in metadata.entry_points(group=group):
        found.setdefault(point.name, point)
    return found


def load_entry_point(point: metadata.EntryPoint, kind: str) -> Any:
    """The object ``point`` names; ``ValueError`` naming ``kind``, the entry point and what
    failed otherwise."""
    try:
        return point.load()
    except Exception as exc:  # an entry point runs arbitrary import-time code
        raise ValueError(
            f"{kind} {point.name!r}: entry point {point.value!r} (group {point.group!r}) "
            f"failed to load: {type(exc).__name__}: {exc}"
        ) from exc
