"""A tiny name -> factory registry, shared by learners and replay buffers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mec_env import plugins

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (classes or functions).

    >>> REPLAYS = Registry("replay buffer")
    >>> @REPLAYS.register("mine")
    ... class MyReplay: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False):
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def _add(value: T) -> T:
            if name in self._entries and not overwrite:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
                )
            self._entries[name] = value
            return value

        return _add if obj is None else _add(obj)

    def get(self, name: str) -> T:
        """The entry ``name``; an import path ``"package.module:attribute"`` not yet
        registered is imported and registered under that path (:mod:`mec_env.plugins`)."""
        if plugins.is_import_path(name) and name not in self._entries:
            self._entries[name] = plugins.load(name, self.kind)
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self)})"


Factory = Callable[..., object]
