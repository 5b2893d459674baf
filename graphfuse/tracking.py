"""MLflow tracking: one run per experiment, metrics logged in batches.

Where runs go: the config's ``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else a
SQLite store ``sqlite:///mlflow.db`` in the working directory (browse it with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``).

Per-epoch metrics are buffered and sent with ``MlflowClient.log_batch``: on SQLite a
``log_metric`` call costs tens of milliseconds while a batch of 1,000 metrics costs
about as much as a handful of single calls (``benchmarks/mlflow_logging.py``).
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_TRACKING_URI",
    "RunLogger",
    "StopRun",
    "package_versions",
    "resolve_tracking_uri",
]

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_MAX_METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call
_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_LENGTH = 6000

_VERSIONED = (
    "graphfuse", "torch", "torch-geometric", "numpy", "pandas", "scipy", "scikit-learn",
    "anndata", "mudata", "scanpy", "mlflow", "pydantic",
)  # fmt: skip


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The tracking URI in force: ``uri``, else ``MLFLOW_TRACKING_URI``, else SQLite in cwd."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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


class RunLogger:
    """An MLflow run: params, buffered metrics, artifacts and the model.

    Use :meth:`start` as a context manager; the run ends ``FINISHED`` or, if the
    block raises, ``FAILED``.

    Parameters
    ----------
    uri
        Tracking URI (see :func:`resolve_tracking_uri`).
    experiment
        MLflow experiment name; created when absent.
    run_name
        Optional display name of the run.

    Examples
    --------
    >>> logger = RunLogger("sqlite:///mlflow.db", "demo")  # doctest: +SKIP
    >>> with logger.start():  # doctest: +SKIP
    ...     logger.log_metrics({"loss": 0.5}, step=1)
    """

    def __init__(self, uri: str, experiment: str, run_name: str | None = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its per-call INFO lines

        self._mlflow = mlflow
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            exp.experiment_id if exp is not None else self.client.create_experiment(experiment)
        )
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
        active one); ``run_id``: reopen that existing run instead. It ends ``FINISHED``,
        ``KILLED`` when the block raises :class:`StopRun`, else ``FAILED``."""
        run = self._mlflow.start_run(
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
        finally:
            try:
                self.flush()
            finally:
                self._mlflow.end_run(status=status)

    @property
    def artifact_uri(self) -> str:
        return self.client.get_run(self.run_id).info.artifact_uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log a (nested) dict of parameters, flattened to dotted keys, in batches."""
        from mlflow.entities import Param

        items = [
            Param(k, "null" if v is None else str(v)[:_MAX_PARAM_LENGTH])
            for k, v in flatten(params).items()
        ]
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
        while self._pending:
            batch = self._pending[:_MAX_METRICS_PER_BATCH]
            self.client.log_batch(self.run_id, metrics=batch)
            del self._pending[: len(batch)]

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_text(self, text: str, path: str) -> None:
        self.client.log_text(self.run_id, text, path)

    def log_dict(self, data: Mapping[str, Any], path: str) -> None:
        self.client.log_dict(self.run_id, dict(data), path)

    def log_figure(self, figure: Any, path: str) -> None:
        self.client.log_figure(self.run_id, figure, path)

    def log_artifacts(self, folder: str | Path, path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(folder), path)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder whose contents are logged as artifacts when the block ends."""
        with tempfile.TemporaryDirectory(prefix="graphfuse-") as tmp:
            yield Path(tmp)
            self.log_artifacts(tmp)
