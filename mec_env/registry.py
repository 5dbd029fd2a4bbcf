"""One registry type for every pluggable kind: matchers, admission rules, reference policies,
learners, replay buffers, the trainer's config schemas and the figures of
``python -m experiments``. Torch-free.

A :class:`Registry` maps names to callables (functions or classes; with ``callables=False``,
to any objects, e.g. figure specifications), each with optional metadata given at
registration::

    from mec_env.registry import Registry

    SHAPES = Registry("shape", entry_point_group="my_pkg.shapes")

    @SHAPES.register("square", sides=4)  # a decorator, or SHAPES.register("square", Square)
    class Square: ...

    SHAPES.get("square")  # the class; SHAPES["square"] is the same
    SHAPES.metadata("square")  # {'sides': 4}
    SHAPES.names()  # ('square',): the registered names, in registration order
    SHAPES.available()  # those and the names that installed packages' entry points declare

A lookup of a name that is not registered tries, in order:

1. an import path ``"package.module:attribute"`` (:mod:`mec_env.plugins`): the attribute is
   imported and registered under that same string;
2. the registry's entry-point group (``importlib.metadata``): an installed distribution that
   declares ``name = package.module:attribute`` in that group has the object loaded and
   registered under ``name``.

Otherwise it raises :class:`UnknownNameError` (a ``ValueError`` and a ``KeyError``) naming the
kind, the name and the names allowed. The registry is also a mutable mapping (``dict(reg)``,
``reg.clear()``, ``reg.update(...)``, ``name in reg``) over what is registered now;
``with reg.restored(): ...`` puts it back as it was, metadata included, after the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from mec_env import plugins

T = TypeVar("T")

_DECORATE: Any = object()  # register(name) without an object: return a decorator
_NO_DEFAULT: Any = object()


class UnknownNameError(KeyError, ValueError):
    """A name that is neither registered, an import path, nor a declared entry point."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(MutableMapping[str, T], Generic[T]):
    """Names -> callables of one ``kind`` (used in error messages: ``"matcher"``), with
    metadata per name; out-of-tree entries come by import path or from the entry points of
    ``entry_point_group``. See the module docstring."""

    def __init__(
        self, kind: str, *, entry_point_group: str | None = None, callables: bool = True
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.callables = callables  # False: entries are specifications (e.g. figures)
        self._entries: dict[str, T] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ registration

    def register(self, name: str, obj: T = _DECORATE, *, overwrite: bool = False, **metadata):
        """Register ``obj`` under ``name`` with ``metadata``; returns ``obj``. Without ``obj``,
        a decorator. A name already taken raises ``ValueError`` unless ``overwrite``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def _add(value: T) -> T:
            if self.callables and not callable(value):
                raise TypeError(
                    f"{self.kind} {name!r} must be callable, got {type(value).__name__}"
                )
            if name in self._entries and not overwrite:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
                )
            self._entries[name] = value
            self._metadata[name] = dict(metadata)
            return value

        return _add if obj is _DECORATE else _add(obj)

    def metadata(self, name: str) -> Mapping[str, Any]:
        """The metadata ``name`` was registered with (read-only; resolves ``name`` first)."""
        self.get(name)
        return MappingProxyType(self._metadata.get(name, {}))

    # ------------------------------------------------------------------ lookup

    def get(self, name: str, default: Any = _NO_DEFAULT) -> T:
        """The entry ``name``, resolving an import path or an entry point on first use.
        An unknown name raises :class:`UnknownNameError`, or returns ``default`` if given."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        obj = self._load(name)
        if obj is not None:
            return obj
        if default is not _NO_DEFAULT:
            return default
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.available())}"
        )

    def _load(self, name: object) -> T | None:
        """An out-of-tree entry registered under ``name``, or None if ``name`` names none.
        A path or entry point that fails to load raises ``ValueError`` saying why."""
        if plugins.is_import_path(name):
            return self.register(name, plugins.load(name, self.kind))
        if not isinstance(name, str) or self.entry_point_group is None:
            return None
        point = plugins.entry_points(self.entry_point_group).get(name)
        if point is None:
            return None
        obj = plugins.load_entry_point(point, self.kind)
        return self.register(name, obj, entry_point=f"{point.group}: {point.value}")

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def available(self) -> list[str]:
        """Every name a lookup accepts without an import path: the registered names and those
        declared in the entry-point group (not loaded), sorted."""
        declared = plugins.entry_points(self.entry_point_group) if self.entry_point_group else {}
        return sorted(set(self._entries) | set(declared))

    # ------------------------------------------------------------------ the mapping

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj, overwrite=True)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]
        del self._metadata[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._metadata.clear()

    @contextlib.contextmanager
    def restored(self) -> Iterator[Registry[T]]:
        """Within the block, register, replace or remove freely; on leaving, the registry is
        as it was, entries and metadata (for tests and examples)::

            with MATCHERS.restored():
                MATCHERS.register("mine", my_matcher)
        """
        entries, metadata = dict(self._entries), dict(self._metadata)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(entries)
            self._metadata.clear()
            self._metadata.update(metadata)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


Factory = Callable[..., object]

__all__ = ["Factory", "Registry", "UnknownNameError"]
