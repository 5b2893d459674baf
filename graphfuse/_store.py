"""The MLflow tracking store under concurrency: several processes on one SQLite file.

MLflow creates (and migrates) a SQLite store's schema the first time a client opens it.
Two processes doing that at the same moment race in the migration, and one dies with
``duplicate column name: step`` (or a ``UNIQUE constraint`` on the default experiment).
:func:`open_client` therefore opens a SQLite store under an exclusive file lock beside the
database (``<file>.lock``), so the schema is created exactly once; later opens find it
complete. Writes that meet another process's transaction wait (MLflow sets SQLite's
``busy_timeout`` to 20 s); one that still fails with ``database is locked`` is retried
with backoff by :func:`retry_locked` and :class:`RetryingClient`.

Limits: SQLite serialises writers, so a handful of concurrent processes on one machine is
what it suits (``graphfuse cv --workers N``, ``graphfuse tune --workers N``); a file on a
network file system (NFS) may not honour the locks at all. Many machines, or many
workers, belong on an MLflow tracking server with a PostgreSQL backend
(``docs/scaling.md``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

__all__ = [
    "LOCK_TIMEOUT",
    "RetryingClient",
    "experiment_id",
    "is_locked_error",
    "open_client",
    "retry_locked",
    "sqlite_file",
]

#: Seconds a process waits for another to finish creating a SQLite store's schema.
LOCK_TIMEOUT = 300.0
_RETRIES = 8  # attempts after the first, with delays 0.1, 0.2, ... capped at 5 s (~20 s)
_LOCKED = ("database is locked", "database table is locked")

T = TypeVar("T")


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///…`` URI (relative to the working folder when the
    URI has three slashes), else ``None``; ``sqlite://`` (in memory) is ``None`` too.

    Examples
    --------
    >>> sqlite_file("sqlite:////tmp/mlflow.db").as_posix(), sqlite_file("http://host:5000")
    ('/tmp/mlflow.db', None)
    """
    parts = urlsplit(uri)
    if parts.scheme.lower().split("+", 1)[0] != "sqlite":
        return None
    path = unquote(parts.path)
    if not path.strip("/") or path == "/:memory:":
        return None
    return Path(path[1:]) if path.startswith("/") else Path(path)


_opened: set[str] = set()  # SQLite stores whose schema this process has seen complete


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri``; a SQLite store is opened (its schema created or
    migrated, when needed) under an exclusive file lock, once per process and store.

    Parameters
    ----------
    uri
        A tracking URI (:func:`graphfuse.tracking.resolve_tracking_uri`).

    Returns
    -------
    mlflow.tracking.MlflowClient

    Raises
    ------
    graphfuse.tracking.TrackingError
        Another process held the lock for more than :data:`LOCK_TIMEOUT` seconds (raised
        by the caller's write guard as an ``OSError``: ``filelock.Timeout`` is one).
    """
    from mlflow.tracking import MlflowClient

    db = sqlite_file(uri)
    if db is None or uri in _opened:
        return MlflowClient(tracking_uri=uri)
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{db}.lock", timeout=LOCK_TIMEOUT):
        client = retry_locked(MlflowClient, tracking_uri=uri)  # creates / migrates the schema
    _opened.add(uri)
    return client


def experiment_id(client: Any, name: str) -> str:
    """The id of MLflow experiment ``name``, created when absent; when another process
    creates it at the same moment (MLflow's ``RESOURCE_ALREADY_EXISTS``), that one's id."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is SQLite's ``database is
    locked``: another connection held the write lock for longer than the busy timeout."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(marker in str(current).lower() for marker in _LOCKED):
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_locked(call: Callable[..., T], *args: Any, retries: int = _RETRIES, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, retried with backoff while it fails with ``database is
    locked`` (:func:`is_locked_error`); any other error, or the last attempt's, is raised.

    The delays double from 0.1 s up to 5 s, with jitter so that waiting processes do not
    retry in step.

    Examples
    --------
    >>> attempts = []
    >>> def flaky():
    ...     attempts.append(1)
    ...     if len(attempts) < 3:
    ...         raise RuntimeError("(sqlite3.OperationalError) database is locked")
    ...     return "written"
    >>> retry_locked(flaky), len(attempts)
    ('written', 3)
    """
    delay = 0.1
    for attempt in range(retries + 1):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if attempt == retries or not is_locked_error(exc):
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")  # pragma: no cover


class RetryingClient:
    """An ``MlflowClient`` whose method calls are retried on ``database is locked``
    (:func:`retry_locked`); attributes other than methods pass through unchanged.

    Parameters
    ----------
    client
        The client (:func:`open_client`).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return retry_locked(value, *args, **kwargs)

        return call
