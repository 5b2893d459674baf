"""A fit's predictions written into a MuData/AnnData (:meth:`FitResult.write`), in the
slots :meth:`Pipeline.predict` ``write=True`` uses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from graphfuse.errors import DataError
from graphfuse.models import FusionModel
from graphfuse.train import task_class

if TYPE_CHECKING:
    from graphfuse.experiment._fit import FitResult

__all__ = ["write_fit"]


def write_fit(result: FitResult, target: Any) -> None:
    """Write ``result``'s predictions into ``target`` (see :meth:`FitResult.write`)."""
    import anndata as ad
    import mudata as md

    from graphfuse.data import Cohort

    target = target.mdata if isinstance(target, Cohort) else target
    if not isinstance(target, md.MuData | ad.AnnData):
        raise DataError(
            "FitResult.write writes into a MuData or an AnnData (or a Cohort's); got "
            + type(target).__name__
        )
    ids = pd.Index([str(p) for p in result.cohort.patients], name="patient")
    kind = "MuData" if isinstance(target, md.MuData) else "AnnData"
    have = set(target.obs_names.astype(str))
    missing = [p for p in ids if p not in have]
    if missing:
        shown = ", ".join(repr(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"FitResult.write: the {kind} lacks {len(missing)} patient(s) of the fit "
            f"({len(ids)} patients): {shown}{more}; write into the cohort's MuData (or one "
            "holding all its patients: extra patients are fine and get NaN)"
        )
    at = target.obs_names.astype(str)
    proba = pd.DataFrame(result.proba, index=ids)
    classes = [str(c) for c in result.cohort.classes]
    if task_class(result.task).output == "risk":
        risk = proba[0]
        median = float(np.median(result.proba[result.splits["train"], 0]))
        target.obs["graphfuse_risk"] = risk.reindex(at).to_numpy()
        group = pd.Series(np.where(risk > median, "high", "low"), index=ids)
        target.obs["graphfuse_prediction"] = group.reindex(at).to_numpy()
    else:
        predicted = pd.Series(np.asarray(classes, dtype=object)[result.proba.argmax(1)], ids)
        target.obs["graphfuse_prediction"] = predicted.reindex(at).to_numpy()
        for i, c in enumerate(classes):
            target.obs[f"graphfuse_p_{c}"] = proba[i].reindex(at).to_numpy()
    split = pd.Series(pd.NA, index=ids, dtype=object)
    for name, positions in result.splits.items():
        split.iloc[np.asarray(positions, dtype=int)] = name
    target.obs["graphfuse_split"] = split.reindex(at).to_numpy()
    embedding = _embedding(result.model, result.data)
    if embedding is not None:
        frame = pd.DataFrame(embedding, index=ids).reindex(at)
        target.obsm["graphfuse_embedding"] = frame.to_numpy()
    target.uns["graphfuse"] = {
        "run_id": result.run_id or "",
        "model": result.config.model.name,
        "params": json.dumps(result.config.model.params, default=str),
        "classes": classes,
        "task": result.task,
        "metrics": json.dumps(result.metrics, default=float),
    }


def _embedding(model: FusionModel, data: Any) -> np.ndarray | None:
    """Every patient's embedding, or ``None`` for a model that gives none."""
    if type(model).patient_embedding is FusionModel.patient_embedding:
        return None
    with torch.no_grad():
        model.eval()
        h = model.patient_embedding(data)
    return None if h is None else h.cpu().numpy()
