"""Errors graphfuse raises for a user's mistakes, and how a config error reads.

Every error that a user can cause (a bad config, a malformed table, an unknown name)
is a :class:`GraphfuseError`; the CLI prints its message as one paragraph, without
a traceback. Anything else is a bug in graphfuse and keeps its traceback.
:func:`format_validation_errors` turns a pydantic error into that paragraph, so the
config and every stage that validates its own options word their errors alike.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

__all__ = [
    "ConfigError",
    "DataError",
    "DependencyError",
    "GraphfuseError",
    "RegistryError",
    "config_key_prefix",
    "format_validation_errors",
]


class GraphfuseError(Exception):
    """Base class of errors caused by the user's input."""


class ConfigError(GraphfuseError, ValueError):
    """An experiment config is invalid: names the file, the key and what is allowed."""


class DataError(GraphfuseError, ValueError):
    """Input data is invalid: names the modality, column or patient at fault."""


class DependencyError(GraphfuseError, ImportError):
    """An optional package the config or command needs is not installed: names the
    package and how to install it."""


class RegistryError(GraphfuseError, KeyError):
    """A name was looked up in a registry that does not hold it, or registered twice."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def config_key_prefix(source: str, dotted: str, overrides: dict[str, Any]) -> str:
    """``"<source>: <dotted key>: "``, marked ``(from --set)`` when ``overrides`` set the key.

    Examples
    --------
    >>> config_key_prefix("ad.yaml", "train.epochs", {"train.epochs": 5})
    'ad.yaml: train.epochs (from --set): '
    """
    via = " (from --set)" if dotted in overrides else ""
    return f"{source}: {dotted}{via}: "


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking ``loc`` from ``model``, if any."""
    from pydantic import BaseModel

    current: Any = model
    keyed = False  # the previous part was a dict[str, Model] field: this part is its key
    for part in loc:
        if keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
        keyed = typing.get_origin(current) in (dict, list)  # the next part is a key or index
        for arg in typing.get_args(current) or ():  # Optional[Model] and the like
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def format_validation_errors(
    exc: ValidationError,
    model: type[BaseModel],
    base: tuple[str, ...],
    source: str,
    overrides: dict[str, Any],
    also_valid: list[str] | None = None,
) -> str:
    """A pydantic error as graphfuse's one-paragraph config error text.

    Each line names ``source``, the dotted key (``base`` + the error's location, marked
    "from --set" when it came from ``overrides``) and what is allowed: for an unknown key the
    valid keys of that section (its ``config_keys()``, plus ``also_valid``), otherwise
    pydantic's message and the value given. Stages that validate their own options (e.g.
    the preprocessor) call it so their errors read like the config's.

    Parameters
    ----------
    exc
        The error pydantic raised validating ``model``.
    model
        The validated model (a :class:`graphfuse._params.StrictModel`).
    base
        The dotted path of ``model``'s section, e.g. ``("graph",)``; ``()`` at the top level.
    source
        Where the values came from (a file name, ``"Preprocessor"``).
    overrides
        ``--set`` values by dotted key, to mark the keys they set.
    also_valid
        More keys valid at the top level of ``model``'s section.

    Returns
    -------
    str
        ``"invalid config:"`` and one indented line per error.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        dotted = ".".join(base + loc) or "(top level)"
        head = config_key_prefix(source, dotted, overrides)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = [] if parent is None else _section_keys(parent)
            if also_valid and len(loc) == 1:
                valid = sorted(set(valid) | set(also_valid))
            lines.append(head + f"unknown key; valid keys here: {', '.join(valid)}")
        else:
            shown = "input" in err and err["type"] != "missing"
            shown = shown and not isinstance(err["input"], dict)  # not a whole section
            got = f" (got {err['input']!r})" if shown else ""
            lines.append(head + err["msg"] + got)
    return "invalid config:\n  " + "\n  ".join(lines)


def _section_keys(model: type[BaseModel]) -> list[str]:
    from graphfuse._params import StrictModel

    if issubclass(model, StrictModel):
        return model.config_keys()
    return sorted(model.model_fields)
