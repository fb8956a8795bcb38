"""`Frozen`: the base of the small immutable value types a request passes around (a stored row,
its refresh state, a principal, an API key record).

Why not `@dataclass(frozen=True)`: `dataclasses` writes each class's `__init__`, `__eq__`,
`__repr__`, `__hash__`, `__setattr__` and `__delattr__` as source and compiles it at every import,
bytecode or not (about 3 M instructions a class at a cold start, 6 M with defaults: most of what
our modules added to a CRUD function's init; docs/performance.md). Here the classes share one set
of those methods, driven by their `__slots__` (the fields), and each writes its own typed
`__init__`, setting its fields with `set_field`. They behave as the frozen dataclasses did:
assigning or deleting a field raises `dataclasses.FrozenInstanceError`, equality and the hash are
those of the fields (same class only), `repr` names every field, and `replace` is
`dataclasses.replace`.
"""

from dataclasses import FrozenInstanceError
from typing import Any, Final, Self

# How an `__init__` sets a field of its frozen instance.
set_field: Final = object.__setattr__


class Frozen:
    """Immutable, slotted; the fields are the subclass's `__slots__`."""

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({shown})"

    def __getstate__(self) -> tuple[Any, ...]:
        # copy and pickle: a slotted frozen instance cannot be restored through setattr.
        return self._fields()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            set_field(self, name, value)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes` (field names) applied; an unknown name is a `TypeError`."""
        values = dict(zip(self.__slots__, self._fields(), strict=True))
        values.update(changes)
        return self.__class__(**values)
