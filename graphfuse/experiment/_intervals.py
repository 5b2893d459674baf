"""A fit's test metrics with bootstrap intervals over its test patients: the table
(:func:`fit_intervals`, ``FitResult.test_ci``), their MLflow metric names and how
``graphfuse fit`` prints them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from graphfuse.train import INTERVAL_COLUMNS, LEVEL, N_BOOT, bootstrap_metrics, task_class

__all__ = ["fit_intervals", "format_interval", "interval_metrics", "split_intervals"]


class Fitted(Protocol):
    """What :func:`fit_intervals` reads of a fit (a :class:`~graphfuse.experiment.FitResult`);
    named here so this module, imported by the fit and its tracking, does not import them."""

    task: str
    proba: np.ndarray
    cohort: Any
    splits: dict[str, np.ndarray]
    config: Any


def split_intervals(
    task: str,
    pred: np.ndarray,
    y: np.ndarray,
    patients: np.ndarray,
    *,
    seed: int,
    classes: Sequence[Any] | None = None,
    outcome: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> pd.DataFrame:
    """Bootstrap intervals (:func:`graphfuse.train.bootstrap_metrics`) of the metrics of
    the patients at positions ``patients`` (a split), from every patient's prediction
    ``pred``, class codes ``y`` and (survival) ``outcome``; an empty table when the split
    has no patients."""
    if len(patients) == 0:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    sub = None if outcome is None else (outcome[0][patients], outcome[1][patients])
    return bootstrap_metrics(
        np.asarray(y)[patients],
        np.asarray(pred)[patients],
        task=task,
        seed=seed,
        n_boot=n_boot,
        level=level,
        classes=classes,
        outcome=sub,
    )


def fit_intervals(result: Fitted, *, n_boot: int = N_BOOT, level: float = LEVEL) -> pd.DataFrame:
    """The fit's test metrics with percentile bootstrap intervals over its test patients.

    Resamples the test patients ``n_boot`` times, seeded by the run's ``seed``, from the
    fit's final predictions (``result.proba``: the refitted model's with ``train.refit``).

    Parameters
    ----------
    result
        A fitted experiment.
    n_boot, level
        Resamples and coverage (:data:`graphfuse.train.N_BOOT`,
        :data:`graphfuse.train.LEVEL`: 1000 and 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per test metric the task bootstraps (classification: ``accuracy``,
        ``f1``, ``f1_macro``, ``f1_weighted``, ``roc_auc``, and per class for more than
        two classes; survival: ``c_index``), columns ``point`` (= ``result.metrics["test"]``),
        ``low``, ``high``, ``resamples`` and ``skipped`` (resamples where the metric is
        undefined, e.g. a class absent for AUC).

    Examples
    --------
    >>> from graphfuse.config import load_config
    >>> from graphfuse.experiment import fit
    >>> config = load_config(overrides={"tracking.enabled": False, "train.epochs": 5})
    >>> result = fit(config)  # doctest: +SKIP
    >>> fit_intervals(result).loc["roc_auc", ["point", "low", "high"]]  # doctest: +SKIP
    """
    from graphfuse.experiment._prepare import read_outcome

    task = task_class(result.task)
    outcome = read_outcome(result.cohort, result.config) if task.needs_outcome else None
    return split_intervals(
        result.task,
        result.proba,
        result.cohort.y,
        result.splits["test"],
        seed=result.config.seed,
        classes=result.cohort.classes,
        outcome=outcome,
        n_boot=n_boot,
        level=level,
    )


def interval_metrics(intervals: pd.DataFrame, split: str = "test") -> dict[str, float]:
    """``<split>_<metric>_ci_low`` / ``_ci_high`` of each row of an intervals table (the
    MLflow metrics a fit logs); undefined intervals are left out."""
    out: dict[str, float] = {}
    for name, row in intervals.iterrows():
        if np.isfinite(row["low"]) and np.isfinite(row["high"]):
            out[f"{split}_{name}_ci_low"] = float(row["low"])
            out[f"{split}_{name}_ci_high"] = float(row["high"])
    return out


def format_interval(
    task: str, name: str, value: float, intervals: Mapping[str, Mapping[str, float]] | None
) -> str:
    """``value`` as ``graphfuse fit`` prints it, followed by its interval ``[low, high]``
    (two decimals) where ``intervals`` (a table's ``to_dict("index")``) has one:
    ``0.852 [0.78, 0.91]``."""
    text = task_class(task).format_metric(name, value)
    row = (intervals or {}).get(name)
    if row is None or not (np.isfinite(row["low"]) and np.isfinite(row["high"])):
        return text
    return f"{text} [{row['low']:.2f}, {row['high']:.2f}]"
