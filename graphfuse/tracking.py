"""MLflow tracking: one run per experiment, metrics logged in batches.

Where runs go: the config's ``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else a
SQLite store ``sqlite:///mlflow.db`` in the working directory (browse it with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``). Several processes may create and
write one SQLite store at once (its schema is created under a file lock, writes that find
it locked are retried: :mod:`graphfuse._store`, which says the limits).

Per-epoch metrics are buffered and sent with ``MlflowClient.log_batch``: on SQLite a
``log_metric`` call costs tens of milliseconds while a batch of 1,000 metrics costs
about as much as a handful of single calls (``benchmarks/mlflow_logging.py``).

A run always ends with a status: ``FINISHED``; ``FAILED`` when its block raises;
``KILLED`` when it is stopped on purpose (:class:`StopRun`), by Ctrl-C
(``KeyboardInterrupt``) or by ``SIGTERM`` (:class:`Terminated`), with the metrics logged so
far sent first. A process killed outright (``SIGKILL``, a power cut) leaves its run
``RUNNING``: a new run warns about its experiment's runs ``RUNNING`` for more than a day,
and :func:`clean_runs` (``graphfuse runs clean``) marks them ``KILLED``.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import shlex
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from graphfuse._store import RetryingClient, experiment_id, open_client, retry_locked
from graphfuse.errors import ConfigError, GraphfuseError

__all__ = [
    "DEFAULT_TRACKING_URI",
    "RunLogger",
    "StopRun",
    "Terminated",
    "TrackingError",
    "clean_runs",
    "list_runs",
    "package_versions",
    "resolve_tracking_uri",
    "stale_runs",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_MAX_METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call
_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_LENGTH = 6000

_VERSIONED = (
    "graphfuse", "torch", "torch-geometric", "numpy", "pandas", "scipy", "scikit-learn",
    "anndata", "mudata", "scanpy", "mlflow", "pydantic",
)  # fmt: skip


#: URI schemes MLflow serves tracking from (besides plugins registered with MLflow).
_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, http(s)://host[:port], "
    "postgresql://user@host/db (also mysql://, mssql://), databricks, or a local folder path"
)
_STALE_HOURS = 24.0
_SQLITE_WRITE_ERRORS = (  # SQLite's words for a store it cannot write
    "attempt to write a readonly database",
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
)
_checked_stale: set[tuple[str, str]] = set()


def resolve_tracking_uri(
    uri: str | None = None, *, key: str = "tracking.uri / --tracking-uri"
) -> str:
    """The tracking URI in force: ``uri``, else ``MLFLOW_TRACKING_URI``, else SQLite in cwd.

    Raises
    ------
    ConfigError
        The URI is malformed (an unknown scheme such as ``htp:/x``, ``sqlite://name``
        without the third slash, ``http://`` without a host); the message names ``key``
        (or ``MLFLOW_TRACKING_URI`` when the URI came from there) and the accepted forms.

    Examples
    --------
    >>> resolve_tracking_uri("sqlite:///runs.db")
    'sqlite:///runs.db'
    """
    if uri:
        return _checked_uri(uri, key)
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return _checked_uri(env, "MLFLOW_TRACKING_URI")
    return DEFAULT_TRACKING_URI


def _checked_uri(uri: str, key: str) -> str:
    """``uri`` if MLflow can serve tracking from it, else a :class:`ConfigError`."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    base = scheme.split("+", 1)[0]  # postgresql+psycopg2://
    problem = None
    if len(scheme) <= 1:  # a plain path (a Windows drive letter is no scheme)
        return uri
    if base not in _SCHEMES and base not in _plugin_schemes():
        problem = f"unknown scheme {scheme!r}"
    elif base == "sqlite" and (parts.netloc or not parts.path.strip("/")):
        problem = "sqlite: three slashes before a relative path, four before an absolute one"
    elif base in ("http", "https") and not parts.netloc:
        problem = "an http(s) URI needs a host"
    if problem is None:
        return uri
    raise ConfigError(
        f"{key}: malformed MLflow tracking URI {uri!r} ({problem}); accepted forms: {_FORMS}"
    )


def _plugin_schemes() -> set[str]:
    """Schemes registered with MLflow's tracking-store registry (plugins included)."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        return set(_tracking_store_registry._registry)
    except Exception:  # a private registry: its absence only narrows what is accepted
        return set()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a run's results depend on."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are kept as values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= flatten(value, f"{name}.")
        else:
            out[name] = value
    return out


class StopRun(Exception):
    """Raise inside :meth:`RunLogger.start` to end a run early on purpose (e.g. a pruned
    tuning trial): the run ends ``KILLED``, not ``FAILED``, with ``tags`` set on it."""

    def __init__(self, message: str = "", tags: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.tags = dict(tags or {})


class Terminated(KeyboardInterrupt):
    """``SIGTERM`` arrived during a tracked run: raised in the main thread like Ctrl-C's
    ``KeyboardInterrupt`` (which it is), so the run ends ``KILLED`` with its metrics sent.

    Attributes
    ----------
    signum
        The signal's number.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class TrackingError(GraphfuseError):
    """The tracking store cannot be written (read-only, full disk, not a folder): names
    the path and the cause."""


_signals = threading.local()  # depth of shielded blocks, a signal waiting for their end


def _on_sigterm(signum: int, frame: Any) -> None:
    if getattr(_signals, "shield", 0):
        _signals.pending = signum  # raised once the run's final writes are done
        return
    raise Terminated(signum)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`Terminated` on ``SIGTERM`` while the block runs (in the main thread,
    and only where no one else handles ``SIGTERM``); the previous handler is restored."""
    install = threading.current_thread() is threading.main_thread()
    install = install and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if install else None
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def _shielded() -> Iterator[None]:
    """Hold ``SIGTERM`` back while the block runs (a run's final flush and status)."""
    _signals.shield = getattr(_signals, "shield", 0) + 1
    try:
        yield
    finally:
        _signals.shield -= 1
        pending = getattr(_signals, "pending", None)
        if not _signals.shield and pending is not None:
            _signals.pending = None
            raise Terminated(pending)


@contextmanager
def _writing(what: str, where: str) -> Iterator[None]:
    """Turn a write the store refuses (``OSError``: read-only, full disk, no such folder;
    SQLite's read-only / full database) into a :class:`TrackingError` naming the path."""
    try:
        yield
    except GraphfuseError:
        raise
    except OSError as exc:
        path = exc.filename or where
        code = errno.errorcode.get(exc.errno or 0, "")
        cause = (exc.strerror or str(exc)) + (f" ({code})" if code else "")
        raise TrackingError(
            f"could not write {what} to {path}: {cause}; make it writable, free disk "
            "space, or choose another store (tracking.uri, --tracking-uri or "
            "MLFLOW_TRACKING_URI)"
        ) from exc
    except Exception as exc:
        text = str(exc).lower()
        markers = _SQLITE_WRITE_ERRORS
        if not any(m in text for m in markers):
            raise
        raise TrackingError(
            f"could not write {what} to {where}: {str(exc).splitlines()[0]}; make it "
            "writable, free disk space, or choose another store (tracking.uri, "
            "--tracking-uri or MLFLOW_TRACKING_URI)"
        ) from exc


class RunLogger:
    """An MLflow run: params, buffered metrics, artifacts and the model.

    Use :meth:`start` as a context manager; the run ends ``FINISHED``, ``KILLED`` when
    stopped (:class:`StopRun`, Ctrl-C, ``SIGTERM``) or, if the block raises, ``FAILED``.

    Parameters
    ----------
    uri
        Tracking URI (see :func:`resolve_tracking_uri`).
    experiment
        MLflow experiment name; created when absent.
    run_name
        Optional display name of the run.

    Raises
    ------
    TrackingError
        The store cannot be written (also from any logging method).

    Examples
    --------
    >>> logger = RunLogger("sqlite:///mlflow.db", "demo")  # doctest: +SKIP
    >>> with logger.start():  # doctest: +SKIP
    ...     logger.log_metrics({"loss": 0.5}, step=1)
    """

    def __init__(self, uri: str, experiment: str, run_name: str | None = None) -> None:
        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its per-call INFO lines

        self._mlflow = mlflow
        self.uri = uri
        self.experiment = experiment
        with _writing("the tracking store", uri):
            mlflow.set_tracking_uri(uri)
            # several processes may open one SQLite store at once (graphfuse._store)
            self.client = RetryingClient(open_client(uri))
            self.experiment_id = experiment_id(self.client, experiment)
        self.run_name = run_name
        self.run_id: str | None = None
        self._pending: list[Any] = []

    @contextmanager
    def start(
        self,
        tags: Mapping[str, str] | None = None,
        *,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[RunLogger]:
        """Start the run; ``parent_run_id``: as a nested run under that run (which may be the
        active one); ``run_id``: reopen that existing run instead. It ends ``FINISHED``;
        ``KILLED`` when the block raises :class:`StopRun` or ``KeyboardInterrupt`` (Ctrl-C,
        and ``SIGTERM``, which raises :class:`Terminated` while the block runs); else
        ``FAILED``. Metrics logged so far are sent first. A new top-level run warns (once
        per experiment and process) about the experiment's :func:`stale_runs`."""
        if run_id is None and parent_run_id is None:
            self._warn_stale()
        with _sigterm_as_interrupt():
            with _writing("a new run", self.uri):
                run = retry_locked(
                    self._mlflow.start_run,
                    run_id=run_id,
                    experiment_id=self.experiment_id,
                    run_name=self.run_name,
                    tags=dict(tags or {}),
                    parent_run_id=parent_run_id,
                    nested=parent_run_id is not None,
                )
            self.run_id = run.info.run_id
            status = "FAILED"
            try:
                yield self
                status = "FINISHED"
            except StopRun as stop:
                status = "KILLED"
                if stop.tags:
                    self.set_tags(stop.tags)
                raise
            except KeyboardInterrupt as stop:
                status = "KILLED"
                if not hasattr(stop, "graphfuse_runs"):
                    stop.graphfuse_runs = []  # type: ignore[attr-defined]
                stop.graphfuse_runs.append(self.run_id)  # type: ignore[attr-defined]
                name = signal.Signals(getattr(stop, "signum", signal.SIGINT)).name
                with _shielded(), suppress(Exception):  # the status matters more than the tag
                    self.set_tags({"graphfuse.stopped_by": name})
                raise
            finally:
                with _shielded():
                    try:
                        self.flush()
                    finally:
                        retry_locked(self._mlflow.end_run, status=status)

    def _warn_stale(self) -> None:
        """Warn about this experiment's runs ``RUNNING`` for more than a day (once)."""
        key = (self.uri, self.experiment_id)
        if key in _checked_stale:
            return
        _checked_stale.add(key)
        try:
            stale = stale_runs(self.uri, self.experiment, client=self.client)
        except Exception:  # a store that cannot search so only loses the warning
            return
        if stale:
            command = (
                f"graphfuse runs clean --experiment {shlex.quote(self.experiment)} "
                f"--tracking-uri {shlex.quote(self.uri)}"
            )
            warnings.warn(
                f"{len(stale)} run(s) of MLflow experiment {self.experiment!r} in {self.uri} "
                f"have been RUNNING for more than {_STALE_HOURS:g} hours (a process killed "
                f"outright leaves its run so); mark them KILLED with: {command}",
                UserWarning,
                stacklevel=4,
            )

    @property
    def artifact_uri(self) -> str:
        return self.client.get_run(self.run_id).info.artifact_uri

    def _where(self) -> str:
        """The run's artifact location (for error messages), else the store's URI."""
        try:
            return self.artifact_uri
        except Exception:
            return self.uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log a (nested) dict of parameters, flattened to dotted keys, in batches."""
        from mlflow.entities import Param

        items = [
            Param(k, "null" if v is None else str(v)[:_MAX_PARAM_LENGTH])
            for k, v in flatten(params).items()
        ]
        with _writing("the run's parameters", self.uri):
            for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
                self.client.log_batch(self.run_id, params=items[i : i + _MAX_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Buffer metrics; they are sent in batches by :meth:`flush` (and at the run's end)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, value in metrics.items():
            self._pending.append(Metric(key, float(value), now, step))
        if len(self._pending) >= _MAX_METRICS_PER_BATCH:
            self.flush()

    def flush(self) -> None:
        """Send buffered metrics in as few ``log_batch`` calls as MLflow allows."""
        with _writing("the run's metrics", self.uri):
            while self._pending:
                batch = self._pending[:_MAX_METRICS_PER_BATCH]
                self.client.log_batch(self.run_id, metrics=batch)
                del self._pending[: len(batch)]

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        with _writing("the run's tags", self.uri):
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_text(self, text: str, path: str) -> None:
        with _writing(f"artifact {path}", self._where()):
            self.client.log_text(self.run_id, text, path)

    def log_dict(self, data: Mapping[str, Any], path: str) -> None:
        with _writing(f"artifact {path}", self._where()):
            self.client.log_dict(self.run_id, dict(data), path)

    def log_figure(self, figure: Any, path: str) -> None:
        with _writing(f"artifact {path}", self._where()):
            self.client.log_figure(self.run_id, figure, path)

    def log_artifacts(self, folder: str | Path, path: str | None = None) -> None:
        with _writing("the run's artifacts", self._where()):
            self.client.log_artifacts(self.run_id, str(folder), path)

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """A block that writes to the run (e.g. an MLflow model logged directly): a store
        that refuses the write is a :class:`TrackingError` naming ``what`` and the path."""
        with _writing(what, self._where()):
            yield

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder whose contents are logged as artifacts when the block ends
        (a write the disk refuses there is a :class:`TrackingError` too)."""
        with tempfile.TemporaryDirectory(prefix="graphfuse-") as tmp:
            with _writing("the run's artifacts (staged)", tmp):
                yield Path(tmp)
            self.log_artifacts(tmp)


def _search_runs(
    client: Any, experiment: str | None, uri: str, where: str, order: str, limit: int
) -> list[Any]:
    """Runs of the named experiment (a :class:`ConfigError` when absent), else of every
    active one, matching the filter ``where``, in ``order``."""
    if experiment is None:
        exps = list(client.search_experiments())
    else:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise ConfigError(
                f"--experiment: no MLflow experiment {experiment!r} in the tracking store "
                f"{uri}; experiments there: {', '.join(names) or 'none'}"
            )
        exps = [exp]
    if not exps:
        return []
    ids = [e.experiment_id for e in exps]
    return list(client.search_runs(ids, where, order_by=[order], max_results=limit))


def list_runs(
    uri: str,
    experiment: str | None = None,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[Any]:
    """The newest runs (``graphfuse runs list``).

    Parameters
    ----------
    uri
        Tracking URI (:func:`resolve_tracking_uri`).
    experiment
        Only this experiment's runs (default: every experiment's).
    status
        Only runs with this status (``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``).
    limit
        At most this many.

    Returns
    -------
    list of mlflow.entities.Run
        Newest first.
    """
    from mlflow.tracking import MlflowClient

    statuses = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
    if status is not None and status not in statuses:
        raise ConfigError(f"--status: expected one of {', '.join(statuses)}; got {status!r}")
    where = f"attributes.status = '{status}'" if status else ""
    client = MlflowClient(tracking_uri=uri)
    return _search_runs(client, experiment, uri, where, "attributes.start_time DESC", limit)


def stale_runs(
    uri: str,
    experiment: str | None = None,
    *,
    older_than_hours: float = _STALE_HOURS,
    client: Any = None,
) -> list[Any]:
    """Runs still ``RUNNING`` that started more than ``older_than_hours`` ago.

    A run's process marks it ended however it stops, except when it is killed outright
    (``SIGKILL``, out of memory, a lost machine): such runs stay ``RUNNING``.

    Parameters
    ----------
    uri
        Tracking URI (:func:`resolve_tracking_uri`).
    experiment
        Only this experiment's runs (default: every experiment's).
    older_than_hours
        Minimum age, from the run's start time.
    client
        An ``MlflowClient`` on ``uri`` to reuse.

    Returns
    -------
    list of mlflow.entities.Run
        Oldest first.
    """
    if older_than_hours < 0:
        raise ConfigError(f"--older-than: hours must be >= 0; got {older_than_hours}")
    if client is None:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
    cutoff = int((time.time() - older_than_hours * 3600) * 1000)
    where = f"attributes.status = 'RUNNING' AND attributes.start_time < {cutoff}"
    return _search_runs(client, experiment, uri, where, "attributes.start_time ASC", 50_000)


def clean_runs(
    uri: str,
    experiment: str | None = None,
    *,
    older_than_hours: float = _STALE_HOURS,
    dry_run: bool = False,
) -> list[Any]:
    """Mark :func:`stale_runs` ``KILLED`` (``graphfuse runs clean``).

    A run that is in fact still going (a fit of more than ``older_than_hours``) would be
    marked too; it sets its own status again when it ends.

    Parameters
    ----------
    uri, experiment, older_than_hours
        As for :func:`stale_runs`.
    dry_run
        Only list them.

    Returns
    -------
    list of mlflow.entities.Run
        The runs (as they were before being marked).

    Examples
    --------
    >>> clean_runs("sqlite:///mlflow.db", "graphfuse", dry_run=True)  # doctest: +SKIP
    []
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = stale_runs(uri, experiment, older_than_hours=older_than_hours, client=client)
    if not dry_run:
        with _writing("run statuses", uri):
            for run in runs:
                client.set_tag(run.info.run_id, "graphfuse.stopped_by", "graphfuse runs clean")
                client.set_terminated(run.info.run_id, "KILLED")
    return runs
