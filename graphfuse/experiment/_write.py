"""A fit's predictions written into a MuData/AnnData (:meth:`FitResult.write`), in the
slots :meth:`Pipeline.predict` ``write=True`` uses."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import torch

from graphfuse.errors import DataError
from graphfuse.models import FusionModel
from graphfuse.train import task_class

__all__ = ["model_info", "write_fit", "write_predictions"]


def write_fit(result: Any, target: Any) -> None:
    """Write ``result``'s predictions into ``target`` (see :meth:`FitResult.write`, whose
    module calls this one: ``result`` is a :class:`~graphfuse.experiment.FitResult`)."""
    import anndata as ad
    import mudata as md

    from graphfuse.data import Cohort, require_patients

    target = target.mdata if isinstance(target, Cohort) else target
    if not isinstance(target, md.MuData | ad.AnnData):
        raise DataError(
            "FitResult.write writes into a MuData or an AnnData (or a Cohort's); got "
            + type(target).__name__
        )
    ids = pd.Index([str(p) for p in result.cohort.patients], name="patient")
    kind = "MuData" if isinstance(target, md.MuData) else "AnnData"
    where = f"FitResult.write: the {kind}"
    require_patients(target.obs_names, ids, what=f"the fit ({len(ids)} patients)", where=where)
    proba = pd.DataFrame(result.proba, index=ids)
    classes = [str(c) for c in result.cohort.classes]
    if task_class(result.task).output == "risk":
        risk = proba[0]
        median = float(np.median(result.proba[result.splits["train"], 0]))
        frame = pd.DataFrame({"risk": risk, "risk_group": np.where(risk > median, "high", "low")})
    else:
        frame = proba.set_axis([f"p_{c}" for c in classes], axis=1)
        frame.insert(0, "prediction", np.asarray(classes, dtype=object)[result.proba.argmax(1)])
    embedding = _embedding(result.model, result.data)
    write_predictions(
        target,
        frame,
        classes,
        None if embedding is None else pd.DataFrame(embedding, index=ids),
        model_info(result.run_id, result.config, classes, result.task)
        | {"metrics": json.dumps(result.metrics, default=float)},
    )
    split = pd.Series(pd.NA, index=ids, dtype=object)
    for name, positions in result.splits.items():
        split.iloc[np.asarray(positions, dtype=int)] = name
    target.obs["graphfuse_split"] = split.reindex(target.obs_names.astype(str)).to_numpy()


def write_predictions(
    target: Any,
    frame: pd.DataFrame,
    classes: list[str],
    embedding: pd.DataFrame | None,
    info: dict[str, Any],
) -> None:
    """Put predictions into a MuData/AnnData's slots, aligned by patient id: ``frame``
    (index: patient ids) has ``prediction`` and ``p_<class>`` columns, or ``risk`` (and
    ``risk_group``); patients of ``target`` that ``frame`` lacks get NaN.

    Sets ``obs["graphfuse_prediction"]``, ``obs["graphfuse_p_<class>"]`` or
    ``obs["graphfuse_risk"]``, ``obsm["graphfuse_embedding"]`` (with ``embedding``) and
    ``uns["graphfuse"] = info``.
    """
    at = target.obs_names.astype(str)
    if "risk" in frame.columns:
        target.obs["graphfuse_risk"] = frame["risk"].reindex(at).to_numpy()
        if "risk_group" in frame.columns:
            target.obs["graphfuse_prediction"] = frame["risk_group"].reindex(at).to_numpy()
    else:
        target.obs["graphfuse_prediction"] = frame["prediction"].reindex(at).to_numpy()
        for c in classes:
            target.obs[f"graphfuse_p_{c}"] = frame[f"p_{c}"].reindex(at).to_numpy()
    if embedding is not None:
        target.obsm["graphfuse_embedding"] = embedding.reindex(at).to_numpy()
    target.uns["graphfuse"] = info


def model_info(run_id: str | None, config: Any, classes: list[str], task: str) -> dict[str, Any]:
    """``uns["graphfuse"]``: the run, model, its parameters (JSON), classes and task."""
    return {
        "run_id": run_id or "",
        "model": config.model.name,
        "params": json.dumps(config.model.params, default=str),
        "classes": classes,
        "task": task,
    }


def _embedding(model: FusionModel, data: Any) -> np.ndarray | None:
    """Every patient's embedding, or ``None`` for a model that gives none."""
    if type(model).patient_embedding is FusionModel.patient_embedding:
        return None
    with torch.no_grad():
        model.eval()
        h = model.patient_embedding(data)
    return None if h is None else h.cpu().numpy()
