"""The data root: where configs' relative data paths point.

One setting decides where graphfuse looks for data files named in a config: the
environment variable ``GRAPHFUSE_DATA`` or, where it is unset, the folder ``data``
beside the project (``<repo>/../shared/data``, with ``<repo>`` the folder holding the
``graphfuse`` package).

The rule for paths in a config's ``data`` section is: **a relative path is relative to
the data root and stays inside it; an absolute path (or one starting with ``~``) is used
as it is.** A relative path whose ``..`` steps climb out of the data root
(``../secrets/labels.csv``, ``tables/../../x.csv``) is refused: a config that reads a
file outside the data root says so by writing its absolute path. The check is on the
path as written (``..`` steps), not on where symbolic links lead: a link inside the data
root was placed there by whoever manages the data root, and is followed.
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
        The path is empty, holds ``$`` (environment variables are not expanded), or is
        relative and climbs out of the data root with ``..``; the message names ``key``,
        the path and the data root.

    Examples
    --------
    >>> str(data_path("/abs/labels.csv"))
    '/abs/labels.csv'
    >>> data_path("mogonet/ROSMAP") == data_root() / "mogonet/ROSMAP"
    True
    >>> data_path("tables/../labels.csv") == data_root() / "tables/../labels.csv"
    True
    >>> data_path("../labels.csv", key="data.tables.labels")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphfuse.errors.ConfigError: data.tables.labels: '../labels.csv' climbs out of the data ...
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
    if p.is_absolute():
        return p
    root = data_root()
    if Path(os.path.normpath(text)).parts[:1] == ("..",):
        raise ConfigError(
            f"{key}: {text!r} climbs out of the data root {root} with '..'; a relative data "
            "path stays inside the data root (symbolic links in it are followed): write the "
            "path as an absolute path to read a file outside it"
        )
    return root / p
