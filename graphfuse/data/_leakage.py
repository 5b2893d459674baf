"""Refuse a cohort whose features hold its target: by name, or as an exact copy.

A model handed its own label scores perfectly on test patients and means nothing; this
happens by configuration (the labels table read as a modality, a clinical table that
keeps the diagnosis column, a re-coded copy of it) without any error in the data. The
checks here run on every cohort a config loads (:func:`graphfuse.data.load_cohort`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphfuse.data._cohort import Cohort
from graphfuse.errors import DataError

__all__ = ["MIN_COPY_PATIENTS", "check_target_leakage"]

#: A feature is called a copy of the target only when it has a value for at least this
#: many patients (fewer could agree with the labels by chance).
MIN_COPY_PATIENTS = 10

_ALLOW = (
    "if this is what you mean (e.g. to check the pipeline), set data.allow_target_in_features: true"
)
_CHUNK = 2048  # features compared at once (bounded memory on wide modalities)


def check_target_leakage(
    cohort: Cohort, *, outcome_columns: Iterable[str] = (), where: str = "the cohort"
) -> None:
    """Refuse features that are the target: named like an outcome column, or a copy of it.

    A feature is refused when

    - its name is the target column's or one of ``outcome_columns`` (compared without
      case and surrounding spaces), e.g. the survival time of ``task: survival``, or
    - it is an exact copy of the target up to re-coding: it has a value for at least
      :data:`MIN_COPY_PATIENTS` patients of at least two classes, one value per class,
      and a different value in each class (e.g. ``diagnosis`` coded 0/1, or the class
      names as categories).

    Parameters
    ----------
    cohort
        The cohort as loaded, before any preprocessing.
    outcome_columns
        Other columns of the patient table that must not be features (survival time and
        event, the split column).
    where
        What the cohort was read from, for the message.

    Raises
    ------
    DataError
        Naming the modality, the feature, the target column and the values seen per
        class, with how to leave the feature out.

    Examples
    --------
    >>> import pandas as pd, anndata as ad
    >>> obs = pd.DataFrame({"label": ["AD", "CN"] * 10}, index=[f"p{i}" for i in range(20)])
    >>> x = (obs["label"] == "AD").to_numpy(float)[:, None]
    >>> clinical = ad.AnnData(x, obs=pd.DataFrame(index=obs.index))
    >>> clinical.var_names = ["dx_code"]
    >>> cohort = Cohort.from_modalities({"clinical": clinical}, obs, kinds={"clinical": "clinical"})
    >>> check_target_leakage(cohort)
    Traceback (most recent call last):
    ...
    graphfuse.errors.DataError: the cohort: modality 'clinical', feature 'dx_code' is ... copy ...
    """
    target = cohort.target
    names = {_norm(c): c for c in [target, *outcome_columns] if c}
    for modality in cohort.modalities:
        table = cohort.modality(modality)
        for feature in table.var_names:
            if _norm(feature) in names:
                column = names[_norm(feature)]
                what = "the target" if column == target else "the outcome column"
                raise DataError(
                    f"{where}: modality {modality!r} has a feature {feature!r}, named like "
                    f"{what} {column!r}: a model given it would learn its own label. Leave it "
                    "out (drop: or columns: of the modality), or "
                    f"{_ALLOW}"
                )
        copy = _copy_of_target(table, cohort, modality)
        if copy is not None:
            feature, seen = copy
            raise DataError(
                f"{where}: modality {modality!r}, feature {feature!r} is an exact copy of the "
                f"target {target!r} (one value per class: {seen}), so a model given it would "
                "learn nothing else and its test metrics would mean nothing. Leave it out "
                "(drop: or columns: of the modality), or "
                f"{_ALLOW}"
            )


def _norm(name: Any) -> str:
    return str(name).strip().casefold()


def _copy_of_target(table: Any, cohort: Cohort, modality: str) -> tuple[str, str] | None:
    """The first feature of ``table`` that is the target re-coded, with its values."""
    codes = cohort.y[cohort.patients.get_indexer(table.obs_names)]
    if len(codes) < MIN_COPY_PATIENTS or len(np.unique(codes)) < 2:
        return None
    classes = np.unique(codes)
    for start in range(0, table.n_vars, _CHUNK):
        block = table.X[:, start : start + _CHUNK]
        x = np.asarray(block.toarray() if sp.issparse(block) else block, dtype=np.float64)
        seen = ~np.isnan(x)
        lo = np.full((len(classes), x.shape[1]), np.nan)
        hi = np.full_like(lo, np.nan)
        count = np.zeros((len(classes), x.shape[1]), dtype=np.int64)
        for i, c in enumerate(classes):
            rows = x[codes == c]
            have = seen[codes == c]
            count[i] = have.sum(axis=0)
            with np.errstate(invalid="ignore"):
                lo[i] = np.where(have, rows, np.inf).min(axis=0)
                hi[i] = np.where(have, rows, -np.inf).max(axis=0)
        covered = count > 0
        constant = np.where(covered, lo == hi, True).all(axis=0)
        candidate = constant & (covered.sum(axis=0) >= 2) & (count.sum(axis=0) >= MIN_COPY_PATIENTS)
        for j in np.flatnonzero(candidate):
            values = lo[covered[:, j], j]
            if len(np.unique(values)) == len(values):  # a different value in each class
                labels = [cohort.classes[int(c)] for c in classes[covered[:, j]]]
                return str(table.var_names[start + j]), _describe(labels, values, table, start + j)
    return None


def _describe(labels: Sequence[Any], values: np.ndarray, table: Any, j: int) -> str:
    """``"AD -> 1, CN -> 0"``, with category names where the feature has them."""
    levels: list[str] = []
    if "categories" in table.var.columns:
        text = str(table.var["categories"].iloc[j] or "")
        levels = text.split("|") if text and text != "nan" else []
    shown = []
    for label, value in zip(labels, values, strict=True):
        code = int(value) if float(value).is_integer() else None
        name = levels[code] if code is not None and 0 <= code < len(levels) else f"{value:g}"
        shown.append(f"{label} -> {name}")
    return ", ".join(shown)
