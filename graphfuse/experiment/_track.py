"""What a fit logs to MLflow: the run's name, tags and config, per-epoch metrics, and at the
end the metrics (the test metrics with bootstrap intervals, ``test_<metric>_ci_low`` /
``_ci_high`` and ``test_intervals.csv``), the task's plots and tables (classification: ROC
and the confusion matrix), cohort and preprocessing summaries, the checkpoint, the
history, every patient's prediction and the run's description.

A run is named ``<config stem>-<model>-s<seed>`` (``ad_quick-gcn_fusion-s0``; a config
built without a file, from a dict or the defaults, has the stem ``config``), or
``tracking.run_name`` when set; runs that are part of a larger job add what they are
(``-fold2`` of a cross-validation, ``-trial3`` of a tuning study, ``-benchmark``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse.config import ExperimentConfig
from graphfuse.experiment._intervals import interval_metrics, split_intervals
from graphfuse.experiment._pyfunc import log_pyfunc
from graphfuse.models import FusionModel, graph_kind, save_checkpoint
from graphfuse.tracking import RunLogger, package_versions, resolve_tracking_uri
from graphfuse.train import TrainHistory, task_class

if TYPE_CHECKING:
    from graphfuse.experiment._ensemble import EnsemblePipeline
    from graphfuse.experiment._pipeline import Pipeline
    from graphfuse.experiment._prepare import Prepared

__all__ = [
    "DEFAULT_STEM",
    "describe_run",
    "epoch_logger",
    "log_fit",
    "run_name",
    "start_run",
    "tracking_uri_of",
]

#: The stem in run names of a config that has no file (a dict, the defaults).
DEFAULT_STEM = "config"
_NOTE = "mlflow.note.content"  # the tag MLflow shows as the run's description


def run_name(config: ExperimentConfig, suffix: str | None = None) -> str:
    """The MLflow run name of ``config``'s fit: ``tracking.run_name``, else
    ``<config stem>-<model>-s<seed>``; ``suffix`` is appended after a dash.

    Examples
    --------
    >>> from graphfuse.config import load_config
    >>> run_name(load_config(overrides={"seed": 3}))
    'config-gcn_fusion-s3'
    >>> run_name(load_config(overrides={"tracking.run_name": "baseline"}), "fold2")
    'baseline-fold2'
    """
    base = config.tracking.run_name or (
        f"{_stem(config.source)}-{config.model.name}-s{config.seed}"
    )
    return f"{base}-{suffix}" if suffix else base


def _stem(source: str | None) -> str:
    """A config file's stem; :data:`DEFAULT_STEM` for a config without a file."""
    if not source or source.startswith("<"):
        return DEFAULT_STEM
    return Path(source).stem or DEFAULT_STEM


def tracking_uri_of(config: ExperimentConfig) -> str:
    """The config's tracking URI in force; a malformed one is a
    :class:`~graphfuse.errors.ConfigError` naming the config and ``tracking.uri``."""
    return resolve_tracking_uri(config.tracking.uri, key=f"{config.source}: tracking.uri")


def start_run(
    stack: ExitStack,
    config: ExperimentConfig,
    prepared: Prepared,
    threads: int | None,
    parent_run_id: str | None,
    run_tags: Mapping[str, str] | None,
    run_suffix: str | None = None,
) -> RunLogger | None:
    """Start the fit's MLflow run on ``stack`` (named by :func:`run_name` with
    ``run_suffix``; tags, params, ``config.yaml``); ``None`` when tracking is off."""
    if not config.tracking.enabled:
        return None
    logger = RunLogger(
        tracking_uri_of(config),
        config.tracking.experiment,
        run_name(config, run_suffix),
    )
    tags = _run_tags(config, prepared.fingerprint, prepared.data) | {
        "graphfuse.torch_threads": str(threads),
        "graphfuse.split": prepared.split,
    }
    if config.train.refit:
        tags["graphfuse.refit"] = "true"
    if config.train.selection == "cv":
        tags["graphfuse.selection"] = f"cv{config.train.inner_folds}"
    tags["graphfuse.ensemble"] = str(config.train.ensemble)
    tags |= dict(run_tags or {})
    stack.enter_context(logger.start(tags=tags, parent_run_id=parent_run_id))
    logger.log_params(config.to_dict())
    logger.log_text(config.to_yaml(), "config.yaml")
    return logger


def epoch_logger(logger: RunLogger) -> Callable[[dict[str, float]], None]:
    """An epoch callback logging the record's metrics at its epoch."""

    def log_epoch(record: dict[str, float]) -> None:
        step = int(record["epoch"])
        logger.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step)

    return log_epoch


def log_fit(
    logger: RunLogger,
    config: ExperimentConfig,
    prepared: Prepared,
    model: FusionModel,
    history: TrainHistory,
    metrics: dict[str, dict[str, float]],
    proba: np.ndarray,
    preprocess: dict[str, Any],
    timings: Mapping[str, float],
    refit_history: TrainHistory | None = None,
    pipeline: Pipeline | EnsemblePipeline | None = None,
) -> None:
    """Log the end of a fit: stage seconds, the refit's epochs, then :func:`_log_results`
    (with the fitted ``pipeline``, when new patients can be attached: ``pipeline/`` and the
    MLflow ``pyfunc`` model over it, which carries the test metrics too), and last the
    run's description (:func:`describe_run`)."""
    logger.log_metrics({f"seconds_{stage}": v for stage, v in timings.items()})
    if refit_history is not None:
        logger.log_metrics(
            {
                "refit_epochs": refit_history.stopped_epoch,
                "refit_train_seconds": refit_history.seconds,
            }
        )
    _log_results(logger, config, prepared, model, history, metrics, proba, preprocess, pipeline)
    note = describe_run(logger.run_name, config, prepared.cohort, metrics)
    logger.set_tags({_NOTE: note})


def describe_run(
    name: str | None, config: ExperimentConfig, cohort: Any, metrics: Mapping[str, Mapping]
) -> str:
    """The run's description (MLflow's ``mlflow.note.content``, Markdown): the model, the
    cohort (source, patients, classes, modalities with their availability) and the test
    metrics."""
    graph = config.graph.name + (f" + {config.graph.fused.name}" if config.graph.fused else "")
    mode = "transductive" if config.graph.transductive else "inductive"
    avail = cohort.availability.mean()
    mods = ", ".join(f"{m} ({avail[m]:.0%})" for m in cohort.modalities)
    counts = cohort.obs[cohort.target].value_counts()
    classes = ", ".join(f"{c}: {int(n)}" for c, n in counts.items())
    outcome = f" (`{cohort.target}`: {classes})" if len(counts) <= 10 else ""
    test = metrics.get("test", {})
    scores = ", ".join(f"{k} {v:.3f}" for k, v in test.items()) or "none"
    lines = [
        f"**{name or run_name(config)}**: {config.task} with model `{config.model.name}` on a "
        f"`{graph}` graph ({mode}), seed {config.seed}, config `{config.source}`.",
        "",
        f"Cohort: {config.data.source}, {cohort.n_patients} patients{outcome}; modalities {mods}.",
        "",
        f"Test metrics: {scores}.",
    ]
    return "\n".join(lines)


def _run_tags(config: ExperimentConfig, fingerprint: str, data: HeteroData) -> dict[str, str]:
    tags = {f"version.{k}": v for k, v in package_versions().items()}
    tags |= {
        "graphfuse.seed": str(config.seed),
        "graphfuse.data_fingerprint": fingerprint,
        "graphfuse.config_source": str(config.source),
        "graphfuse.model": config.model.name,
        "graphfuse.task": config.task,
        "graphfuse.graph_builder": config.graph.name,
        "graphfuse.fused_graph_builder": config.graph.fused.name if config.graph.fused else "none",
        "graphfuse.graph_mode": "transductive" if config.graph.transductive else "inductive",
        "graphfuse.modalities": ",".join(data.modalities),
        "graphfuse.graph_kind": graph_kind(data),
    }
    return tags


def _log_results(
    logger: RunLogger,
    config: ExperimentConfig,
    prepared: Prepared,
    model: FusionModel,
    history: TrainHistory,
    metrics: dict[str, dict[str, float]],
    proba: np.ndarray,
    preprocess: dict[str, Any],
    pipeline: Pipeline | EnsemblePipeline | None,
) -> None:
    task = task_class(config.task)
    cohort, splits, outcome = prepared.cohort, prepared.splits, prepared.outcome
    y = cohort.y
    final = {f"{split}_{k}": v for split, m in metrics.items() for k, v in m.items()}
    final |= {
        "best_epoch": history.best_epoch,
        "epochs_run": history.stopped_epoch,
        "train_seconds": history.seconds,
    }
    intervals = split_intervals(
        config.task,
        proba,
        y,
        splits["test"],
        seed=config.seed,
        classes=cohort.classes,
        outcome=outcome,
    )
    final |= interval_metrics(intervals, "test")
    logger.log_metrics(final, step=history.stopped_epoch)
    logger.flush()
    figure, path = task.figure(proba, y, splits, cohort.classes, outcome)
    logger.log_figure(figure, path)
    reports = task.artifacts(proba, y, splits, cohort.classes, outcome)
    tables = {p: r for p, r in reports.items() if isinstance(r, pd.DataFrame)}
    for path, figure in reports.items():
        if path not in tables:
            logger.log_figure(figure, path)
    summary: dict[str, Any] = {
        "n_patients": cohort.n_patients,
        "classes": [str(c) for c in cohort.classes],
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "availability": cohort.availability.mean().round(4).to_dict(),
        "features": dict(model.in_dims),
    }
    logger.log_dict(summary, "cohort.json")
    logger.log_dict(preprocess, "preprocess.json")  # per modality: steps, features in/out, dropped
    with logger.staging() as folder:
        save_checkpoint(model, folder / "checkpoint")
        pd.DataFrame(history.epochs).to_csv(folder / "history.csv", index=False)
        split_of = np.empty(len(y), dtype=object)
        for name, idx in splits.items():
            split_of[idx] = name
        pred = task.predictions(
            proba, y, split_of, cohort.classes, cohort.patients, splits, outcome
        )
        pred.to_csv(folder / "predictions.csv")
        intervals.to_csv(folder / "test_intervals.csv", index_label="metric")
        for path, table in tables.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(folder / path)
        if pipeline is not None:
            pipeline.save(folder / "pipeline")
            with logger.writing("the MLflow model"):
                uri = log_pyfunc(folder / "pipeline", pipeline, register=config.tracking.register)
            _log_model_metrics(logger, uri, metrics.get("test", {}), history.stopped_epoch)


def _log_model_metrics(
    logger: RunLogger, model_uri: str, test: Mapping[str, float], step: int
) -> None:
    """Put the test metrics (``test_<metric>``) on the run's logged MLflow model as well."""
    from mlflow.entities import Metric

    model_id = model_uri.removeprefix("models:/").split("/", 1)[0]
    now = int(time.time() * 1000)
    batch = [
        Metric(f"test_{k}", float(v), now, step, model_id=model_id, run_id=logger.run_id)
        for k, v in test.items()
    ]
    with logger.writing("the logged model's metrics"):
        logger.client.log_batch(logger.run_id, metrics=batch)
