"""Name -> component registries: how configs pick builders, models, explainers and sources.

A component is added by writing one class and decorating it::

    from graphfuse.models import MODELS

    @MODELS.register("my_model")
    class MyModel(FusionModel): ...

after which ``model: {name: my_model}`` in a config selects it. Registering a name
twice is refused; looking up an unknown name lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from graphfuse.errors import RegistryError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of classes (or functions, e.g. data loaders) of one kind.

    Parameters
    ----------
    kind
        What the registry holds, used in messages ("graph builder", "model").

    Examples
    --------
    >>> reg = Registry("widget")
    >>> @reg.register("round")
    ... class Round: ...
    >>> reg.get("round") is Round
    True
    >>> reg.names()
    ['round']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator registering ``cls`` under ``name``; refuses duplicates."""

        def decorator(cls: type[T]) -> type[T]:
            if name in self._items:
                raise RegistryError(
                    f"a {self.kind} named {name!r} is already registered "
                    f"({self._items[name].__module__}.{self._items[name].__qualname__})"
                )
            cls.registry_name = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        """Return the class registered as ``name``; the error lists the valid names."""
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            raise RegistryError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
