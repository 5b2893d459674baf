"""Where a study lives and how several workers share it: Optuna storage from a URL or a
journal path, one lock per storage for creating the study, and each worker's sampler seed.

Several workers (``graphfuse tune --workers N``, or machines pointed at one database) may
start at the same moment on a fresh storage. Creating Optuna's tables, the study and the
study's MLflow parent run happens under :func:`study_lock`: a PostgreSQL advisory lock, or
a file lock beside a journal file or SQLite database; on other databases creating the
tables is retried when another worker wins the race.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from graphfuse.config import ExperimentConfig
from graphfuse.errors import ConfigError
from graphfuse.tracking import resolve_tracking_uri

if TYPE_CHECKING:
    import optuna

__all__ = [
    "JOURNAL_NAME",
    "default_storage",
    "open_storage",
    "redact",
    "study_lock",
    "worker_identity",
    "worker_seed",
]

JOURNAL_NAME = "optuna.journal"
#: The PostgreSQL advisory-lock key graphfuse takes while it creates a study (any bigint;
#: the first 8 bytes of sha256("graphfuse.tune")).
_ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"graphfuse.tune").digest()[:8], "big", signed=True)
_CREATE_TRIES = 8
_POSTGRES_HINT = "pip install 'graphfuse[postgres]'"


def default_storage(config: ExperimentConfig) -> Path:
    """Where the journal file goes when no storage is given.

    Beside the MLflow store when it is local (``sqlite:///path/mlflow.db`` ->
    ``path/optuna.journal``; a ``file:`` store -> its parent folder), else (tracking off or
    a tracking server) in the working folder.
    """
    folder = Path.cwd()
    if config.tracking.enabled:
        uri = resolve_tracking_uri(config.tracking.uri)
        local: str | None = None
        if uri.startswith("sqlite:///"):
            local = uri[len("sqlite:///") :].split("?")[0]
        elif uri.startswith("file:"):
            local = unquote(urlsplit(uri).path)
        elif "://" not in uri:
            local = uri
        if local and local != ":memory:":
            folder = Path(local).expanduser().resolve().parent
    return folder / JOURNAL_NAME


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def _lock_file(url: str) -> Path | None:
    """The file a journal or SQLite storage is locked through (``None``: another kind)."""
    if "://" not in url:
        return Path(url).expanduser().with_name(Path(url).name + ".graphfuse-lock")
    from graphfuse._store import sqlite_file

    db = sqlite_file(url)
    return None if db is None else db.expanduser().with_name(db.name + ".graphfuse-lock")


def _driver_error(url: str, exc: ImportError) -> ConfigError:
    hint = (
        _POSTGRES_HINT
        if _is_postgres(url)
        else "install the driver SQLAlchemy names for this URL, or name one in it "
        "(mysql+pymysql://…)"
    )
    return ConfigError(
        f"storage {redact(url)}: its database driver is not installed ({exc}); {hint}"
    )


def _open_error(url: str, exc: BaseException) -> ConfigError:
    return ConfigError(f"storage {redact(url)}: cannot open it: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def study_lock(storage: str | Path) -> Iterator[None]:
    """Hold the lock under which a worker creates (or loads) a study on ``storage``.

    A PostgreSQL session advisory lock for ``postgresql://`` storage (released when the
    block ends or the connection drops); a file lock ``<file>.graphfuse-lock`` for a journal
    file or a SQLite database (not ``<file>.lock``: Optuna's journal takes that one itself);
    nothing for other storage (creating the tables is retried there).

    Raises
    ------
    ConfigError
        The driver is missing or the database cannot be reached.
    """
    text = str(storage)
    if _is_postgres(text):
        import sqlalchemy
        from sqlalchemy.exc import SQLAlchemyError

        try:
            engine = sqlalchemy.create_engine(text, poolclass=sqlalchemy.pool.NullPool)
            connection = engine.connect()
        except ImportError as exc:
            raise _driver_error(text, exc) from None
        except (SQLAlchemyError, OSError) as exc:
            raise _open_error(text, exc) from None
        try:
            connection.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({_ADVISORY_KEY})"))
            yield
        finally:
            try:
                connection.execute(sqlalchemy.text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
            finally:
                connection.close()
                engine.dispose()
        return
    path = _lock_file(text)
    if path is None:
        yield
        return
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield


def open_storage(storage: str | Path) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL or a journal file path.

    ``sqlite:///…``, ``postgresql://…`` (psycopg 3, SQLAlchemy's default for it),
    ``postgresql+psycopg2://…``, ``mysql://…``: Optuna's RDB storage (with a 60 s heartbeat,
    so trials of a machine that died are marked failed); ``redis://…``: a journal in Redis;
    anything else: a journal file at that path (folders created). Creating the tables is
    retried when another worker creates them at the same moment.

    Raises
    ------
    ConfigError
        The database driver is not installed (naming the package to install), or the
        database cannot be reached.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend, JournalStorage

    text = str(storage)
    if "://" not in text:
        path = Path(text).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if text.startswith("redis://"):
        return JournalStorage(JournalRedisBackend(text))
    from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

    for attempt in range(_CREATE_TRIES):
        try:
            with warnings.catch_warnings():  # the heartbeat is marked experimental since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(text, heartbeat_interval=60, grace_period=180)
        except ImportError as exc:
            raise _driver_error(text, exc) from None
        except (IntegrityError, ProgrammingError) as exc:
            # another worker created the same table or type a moment earlier: try again
            if attempt == _CREATE_TRIES - 1:
                raise ConfigError(
                    f"storage {redact(text)}: cannot create its tables: {_first_line(exc)}"
                ) from None
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
        except (SQLAlchemyError, OSError) as exc:
            raise _open_error(text, exc) from None
    raise AssertionError("unreachable")  # pragma: no cover


def worker_identity(worker: int | str | None = None) -> str:
    """Who samples: this machine and process (``host:pid``), and ``worker`` when given
    (``graphfuse tune --workers`` numbers its processes). Two processes never share an
    identity, even when two machines or two commands start at the same moment."""
    identity = f"{socket.gethostname()}:{os.getpid()}"
    return identity if worker is None else f"{identity}:{worker}"


def worker_seed(base: int, worker: str, n_trials: int) -> int:
    """The sampler seed of one worker: a hash of the study's seed, the worker and the trials
    already in the study, so two workers, or one search resumed, draw different points.

    >>> worker_seed(0, "0", 0) != worker_seed(0, "1", 0) != worker_seed(0, "0", 8)
    True
    >>> worker_seed(0, "0", 0) == worker_seed(0, "0", 0)
    True
    """
    digest = hashlib.sha256(f"{base}|{worker}|{n_trials}".encode()).digest()
    return int.from_bytes(digest[:4], "big")
