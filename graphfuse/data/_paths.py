"""The data root: where configs' relative data paths point.

One setting decides where graphfuse looks for data files named in a config: the
environment variable ``GRAPHFUSE_DATA`` or, where it is unset, the folder ``data``
beside the project (``<repo>/../shared/data``, with ``<repo>`` the folder holding the
``graphfuse`` package).

The rule for paths in a config's ``data`` section is: **a relative path is relative to
the data root; an absolute path (or one starting with ``~``) is used as it is.**
Environment variables are not expanded in paths: a ``$`` in a data path is an error,
so that a config means the same thing on every machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphfuse.errors import ConfigError

__all__ = ["DATA_ENV", "data_path", "data_root"]

#: Environment variable naming the data root.
DATA_ENV = "GRAPHFUSE_DATA"


def data_root() -> Path:
    """The data root folder (it need not exist).

    Returns
    -------
    Path
        ``$GRAPHFUSE_DATA`` if set and non-empty, else ``<repo>/../shared/data`` where
        ``<repo>`` is the parent of the ``graphfuse`` package folder.

    Examples
    --------
    >>> root = data_root()  # $GRAPHFUSE_DATA, else <repo>/../shared/data
    >>> isinstance(root, Path)
    True
    """
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    return (repo.parent / "shared" / "data").resolve()


def data_path(path: str | os.PathLike[str], *, key: str = "path") -> Path:
    """Resolve a path from a config: relative to :func:`data_root` unless absolute.

    Parameters
    ----------
    path
        The path as written in the config.
    key
        The config key it came from, for error messages (e.g. ``data.tables.labels``).

    Returns
    -------
    Path
        The resolved path (not checked for existence; readers do that).

    Raises
    ------
    ConfigError
        The path is empty or holds ``$`` (environment variables are not expanded).

    Examples
    --------
    >>> str(data_path("/abs/labels.csv"))
    '/abs/labels.csv'
    >>> data_path("mogonet/ROSMAP") == data_root() / "mogonet/ROSMAP"
    True
    """
    text = os.fspath(path)
    if not text.strip():
        raise ConfigError(f"{key}: empty path")
    if "$" in text:
        raise ConfigError(
            f"{key}: {text!r}: environment variables are not expanded in data paths; write "
            f"the path relative to the data root (${DATA_ENV}, now {data_root()}) or absolute"
        )
    p = Path(text).expanduser()
    return p if p.is_absolute() else data_root() / p
