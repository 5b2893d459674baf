"""What a fit logs to MLflow: the run's tags and config, per-epoch metrics, and at the end
the metrics, the task's plot, cohort and preprocessing summaries, the checkpoint, the
history and every patient's prediction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch_geometric.data import HeteroData

from graphfuse.config import ExperimentConfig
from graphfuse.experiment._pyfunc import log_pyfunc
from graphfuse.models import FusionModel, graph_kind, save_checkpoint
from graphfuse.tracking import RunLogger, package_versions, resolve_tracking_uri
from graphfuse.train import TrainHistory, task_class

if TYPE_CHECKING:
    from graphfuse.experiment._pipeline import Pipeline
    from graphfuse.experiment._prepare import Prepared

__all__ = ["epoch_logger", "log_fit", "start_run", "tracking_uri_of"]


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
) -> RunLogger | None:
    """Start the fit's MLflow run on ``stack`` (tags, params, ``config.yaml``); ``None``
    when tracking is off."""
    if not config.tracking.enabled:
        return None
    logger = RunLogger(
        tracking_uri_of(config),
        config.tracking.experiment,
        config.tracking.run_name,
    )
    tags = _run_tags(config, prepared.fingerprint, prepared.data) | {
        "graphfuse.torch_threads": str(threads),
        "graphfuse.split": prepared.split,
    }
    if config.train.refit:
        tags["graphfuse.refit"] = "true"
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
    pipeline: Pipeline | None = None,
) -> None:
    """Log the end of a fit: stage seconds, the refit's epochs, then :func:`_log_results`
    (with the fitted ``pipeline``, when new patients can be attached: ``pipeline/`` and the
    MLflow ``pyfunc`` model over it)."""
    logger.log_metrics({f"seconds_{stage}": v for stage, v in timings.items()})
    if refit_history is not None:
        logger.log_metrics(
            {
                "refit_epochs": refit_history.stopped_epoch,
                "refit_train_seconds": refit_history.seconds,
            }
        )
    _log_results(logger, config, prepared, model, history, metrics, proba, preprocess, pipeline)


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
    pipeline: Pipeline | None,
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
    logger.log_metrics(final, step=history.stopped_epoch)
    logger.flush()
    figure, path = task.figure(proba, y, splits, cohort.classes, outcome)
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
        if pipeline is not None:
            pipeline.save(folder / "pipeline")
            with logger.writing("the MLflow model"):
                log_pyfunc(folder / "pipeline", pipeline, register=config.tracking.register)
