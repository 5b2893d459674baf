"""Errors graphfuse raises for a user's mistakes.

Every error that a user can cause (a bad config, a malformed table, an unknown name)
is a :class:`GraphfuseError`; the CLI prints its message as one paragraph, without
a traceback. Anything else is a bug in graphfuse and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "GraphfuseError", "RegistryError"]


class GraphfuseError(Exception):
    """Base class of errors caused by the user's input."""


class ConfigError(GraphfuseError, ValueError):
    """An experiment config is invalid: names the file, the key and what is allowed."""


class DataError(GraphfuseError, ValueError):
    """Input data is invalid: names the modality, column or patient at fault."""


class RegistryError(GraphfuseError, KeyError):
    """A name was looked up in a registry that does not hold it, or registered twice."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
