"""Typed keys for what plugins leave on a request or the host (pytest's ``Stash``, in small).

``request.notes`` and ``host.state`` are ``Stash``es: a value is stored and read under a
``StashKey[T]`` that the owning plugin (or the plugin API, for keys several plugins share)
declares once, so a typo is a NameError and the value's type is known to a type checker.
"""

from __future__ import annotations

from typing import Any, Generic, Iterator, TypeVar, overload

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A key of a ``Stash``; ``name`` shows in reprs and labels the value for the monitor."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """A mapping from ``StashKey[T]`` to ``T``; plain string keys are refused."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], Any] = {}

    @staticmethod
    def _check(key: object) -> None:
        if not isinstance(key, StashKey):
            raise TypeError(f"stash keys are StashKey objects, not {type(key).__name__} {key!r}")

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._check(key)
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        self._check(key)
        return self._data[key]

    @overload
    def get(self, key: StashKey[T]) -> T | None: ...

    @overload
    def get(self, key: StashKey[T], default: D) -> T | D: ...

    def get(self, key, default=None):
        self._check(key)
        return self._data.get(key, default)

    def setdefault(self, key: StashKey[T], default: T) -> T:
        self._check(key)
        return self._data.setdefault(key, default)

    def pop(self, key: StashKey[T], default: Any = None) -> Any:
        self._check(key)
        return self._data.pop(key, default)

    def __delitem__(self, key: StashKey[T]) -> None:
        self._check(key)
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[StashKey[Any]]:
        return iter(self._data)

    def items(self) -> Iterator[tuple[StashKey[Any], Any]]:
        return iter(list(self._data.items()))

    def as_dict(self) -> dict[str, Any]:
        """The values by key name (for logs, traces and tests; names may repeat across plugins)."""
        return {k.name: v for k, v in self._data.items()}

    def __repr__(self) -> str:
        return "Stash({" + ", ".join(f"{k.name!r}: {v!r}" for k, v in self._data.items()) + "})"
