"""Explaining a fold ensemble's averaged output (``train.ensemble: folds`` /
``folds+refit``): each member is explained on its own graph and the attributions are averaged
(:func:`graphfuse.explain.explain_members`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.config import ExperimentConfig
from graphfuse.errors import DataError
from graphfuse.experiment._ensemble import _by_target
from graphfuse.experiment._inner import inner_folds
from graphfuse.experiment._prepare import Prepared, prepare
from graphfuse.models import FusionModel
from graphfuse.train import task_class

__all__ = ["explain_ensemble", "rebuild_members"]


def rebuild_members(
    config: ExperimentConfig, final: Prepared, names: Sequence[str]
) -> list[Prepared]:
    """The data stage of each named member of a cross-validated fit, rebuilt as the fit built
    it: ``fold<k>`` from the inner folds of ``final``'s training patients (deterministic
    given the config's seed), ``refit`` is ``final`` itself."""
    parts = inner_folds(
        final.cohort.y, final.splits["train"], folds=config.train.inner_folds, seed=config.seed
    )
    out = []
    for name in names:
        if name == "refit":
            out.append(final)
            continue
        k = int(name.removeprefix("fold")) if name.startswith("fold") else -1
        if not 0 <= k < len(parts):
            raise DataError(
                f"ensemble member {name!r}: not one of the run's {len(parts)} inner folds "
                "(fold0 ...) or refit"
            )
        train, val = parts[k]
        splits = {"train": train, "val": val, "test": final.splits["test"]}
        out.append(prepare(config, cohort=final.cohort, splits=splits))
    return out


def explain_ensemble(
    members: Sequence[tuple[str, FusionModel, Prepared]],
    explainers: Mapping[str, Any],
    *,
    task: str,
    classes: Sequence[Any],
    patients: np.ndarray | None,
    target: int | str | None,
    seed: int,
    threads: int | None,
    device: Any,
    progress: Callable[[str, int, int, Mapping[str, Any]], None] | None,
) -> dict[str, Any]:
    """``method -> Attribution`` of the members' averaged output (equal weights). The default
    target with more than two classes is each patient's class predicted by the ensemble
    (the patients are explained in groups, one per predicted class)."""
    from graphfuse.explain import explain_members

    pairs = [(model, prepared.data) for _, model, prepared in members]
    common: dict[str, Any] = dict(
        names=[name for name, _, _ in members],
        seed=seed,
        threads=threads,
        device=device,
        progress=progress,
    )
    objective = task_class(task)
    if target is not None or objective.output == "risk" or len(classes) <= 2:
        return explain_members(pairs, explainers, patients=patients, target=target, **common)
    n = members[0][2].cohort.n_patients
    who = np.arange(n) if patients is None else np.asarray(patients)
    proba = np.mean([objective.predict(model, data) for model, data in pairs], axis=0)
    predicted = proba[who].argmax(axis=1)
    parts: dict[str, list[tuple[str, Any]]] = {name: [] for name in explainers}
    for k, cls in enumerate(classes):
        rows = who[predicted == k]
        if len(rows):
            out = explain_members(pairs, explainers, patients=rows, target=cls, **common)
            for name, attribution in out.items():
                parts[name].append((str(cls), attribution))
    patient_ids = members[0][2].cohort.patients[who]
    ids = pd.Index([str(p) for p in patient_ids], name="patient")
    return {name: _by_target(groups, ids) for name, groups in parts.items()}
