"""The fitted pipeline of a fit: one model's (:class:`Pipeline`) or an ensemble's
(:class:`EnsemblePipeline`, ``train.ensemble: folds`` / ``folds+refit``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch_geometric.data import HeteroData

from graphfuse.config import ExperimentConfig
from graphfuse.data import Cohort, Preprocessor
from graphfuse.experiment._ensemble import EnsemblePipeline
from graphfuse.experiment._inner import Member
from graphfuse.experiment._pipeline import Pipeline
from graphfuse.experiment._prepare import Prepared
from graphfuse.models import FusionModel
from graphfuse.train import task_class

__all__ = ["ensemble_pipeline", "final_pipeline", "pipeline_of"]


def pipeline_of(
    config: ExperimentConfig,
    cohort: Cohort,
    data: HeteroData,
    preprocessor: Preprocessor,
    states: Mapping[str, tuple[dict, dict]],
    model: FusionModel,
    fingerprint: str,
    proba: np.ndarray,
    splits: Mapping[str, np.ndarray],
    run_id: str | None,
) -> Pipeline:
    """The :class:`Pipeline` of a fit's final data and model. For survival it keeps the
    median risk of the (selection fit's) training patients, the split of the run's
    ``risk_group``."""
    median = None
    if task_class(config.task).output == "risk":
        median = float(np.median(proba[splits["train"], 0]))
    return Pipeline.from_fit(
        config,
        data,
        preprocessor,
        states,
        model,
        classes=cohort.classes,
        target=cohort.target,
        fingerprint=fingerprint,
        risk_median=median,
        run_id=run_id,
    )


def ensemble_pipeline(
    config: ExperimentConfig,
    prepared: Prepared,
    members: list[Member],
    proba: np.ndarray,
    run_id: str | None,
) -> EnsemblePipeline:
    """The :class:`EnsemblePipeline` of a fit's members (equal weights, as the fit averaged
    them), each member's pipeline built from its own preprocessing, graph and model."""
    pipelines = [
        pipeline_of(
            config,
            prepared.cohort,
            m.data,
            m.preprocessor,
            m.graph_states,
            m.model,
            prepared.fingerprint,
            m.proba,
            m.prepared.splits,
            run_id,
        )
        for m in members
    ]
    info: dict[str, object] = {"run_id": run_id, "fingerprint": prepared.fingerprint}
    if task_class(config.task).output == "risk":
        info["risk_median"] = float(np.median(proba[prepared.splits["train"], 0]))
    return EnsemblePipeline(pipelines, [m.name for m in members], info=info)


def final_pipeline(
    config: ExperimentConfig,
    prepared: Prepared,
    members: list[Member],
    data: HeteroData,
    pre: Preprocessor,
    states: Mapping[str, tuple[dict, dict]],
    model: FusionModel,
    proba: np.ndarray,
    run_id: str | None,
) -> Pipeline | EnsemblePipeline | None:
    """The fit's pipeline: an :class:`EnsemblePipeline` of the members' pipelines when the
    final predictor has several (for survival with the median of the averaged risk over the
    training patients), else the one model's."""
    if len(members) > 1:
        return ensemble_pipeline(config, prepared, members, proba, run_id)
    return pipeline_of(
        config,
        prepared.cohort,
        data,
        pre,
        states,
        model,
        prepared.fingerprint,
        proba,
        prepared.splits,
        run_id,
    )
