"""Bootstrap confidence intervals of test metrics, over test patients.

A test set of a hundred patients measures an AUC to a few hundredths at best; a
percentile bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch.
13) makes that visible. The test patients are resampled with replacement ``n_boot``
times, every metric is recomputed on each resample (vectorised over resamples: counts by
``bincount``, AUC from ranks, Harrell's C from pairwise weights) and the interval is the
``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled values. The point
estimate is the metric of the test patients themselves (the fit's reported metric).

A resample where a metric is undefined is skipped for that metric and counted: an AUC
needs every class the test patients hold (a per-class AUC: that class and another), a
concordance index a comparable pair.

Each task registers its function in :data:`BOOTSTRAPS` (the task names of
:data:`graphfuse.train.TASKS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from graphfuse.errors import ConfigError, DataError, RegistryError
from graphfuse.registry import Registry
from graphfuse.train._metrics import classification_metrics, per_class_keys
from graphfuse.train._survival import concordance_index

__all__ = ["BOOTSTRAPS", "LEVEL", "N_BOOT", "bootstrap_metrics"]

#: Resamples of a fit's test intervals.
N_BOOT = 1000
#: Coverage of a fit's test intervals.
LEVEL = 0.95

#: Task name -> ``f(y, pred, idx, classes, outcome) -> (point, resampled)``: the metrics of
#: the patients and an ``(n_boot,)`` array per metric (NaN where undefined) over the
#: resamples ``idx`` ``(n_boot, n)``.
BOOTSTRAPS: Registry[Callable[..., tuple[dict[str, float], dict[str, np.ndarray]]]] = Registry(
    "bootstrap"
)

#: The columns of :func:`bootstrap_metrics`'s table.
COLUMNS = ["point", "low", "high", "resamples", "skipped"]


def bootstrap_metrics(
    y: np.ndarray,
    pred: np.ndarray,
    *,
    task: str = "classification",
    seed: int | np.random.Generator,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    classes: Sequence[Any] | None = None,
    outcome: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals of a task's metrics over patients.

    Parameters
    ----------
    y
        Class codes of the patients ``(n,)`` (ignored for ``survival``).
    pred
        The task's prediction of the same patients: class probabilities ``(n,
        n_classes)``, or the risk score ``(n, 1)`` / ``(n,)`` for ``survival``.
    task
        ``classification`` (accuracy, ``f1``, ``f1_macro``, ``f1_weighted``, ``roc_auc``
        and, with ``classes`` of more than two classes, ``roc_auc_<class>`` and
        ``f1_<class>``: :func:`~graphfuse.train.classification_metrics`) or ``survival``
        (``c_index``).
    seed
        Seed (or generator) of the resampling; the same seed gives the same intervals.
    n_boot
        Number of resamples.
    level
        Coverage of the interval, in (0, 1).
    classes
        Class labels (``cohort.classes``), for the per-class metrics' names.
    outcome
        ``(time, event)`` of the patients (``survival``).

    Returns
    -------
    pandas.DataFrame
        One row per metric (index: its name), columns ``point`` (the metric of the
        patients), ``low``, ``high`` (the interval; NaN when no resample defines it),
        ``resamples`` (resamples that define the metric) and ``skipped`` (those that
        do not, e.g. lacking a class for AUC).

    Raises
    ------
    ConfigError
        Unknown ``task`` (naming the valid ones), ``n_boot`` < 1 or ``level`` outside (0, 1).
    DataError
        No patients, ``y``/``pred``/``outcome`` of different lengths, or no outcome for
        ``survival``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 100)
    >>> p1 = np.clip(0.5 * y + rng.uniform(0, 0.5, 100), 0, 1)
    >>> ci = bootstrap_metrics(y, np.c_[1 - p1, p1], seed=0, n_boot=200)
    >>> bool(ci.loc["roc_auc", "low"] <= ci.loc["roc_auc", "point"] <= ci.loc["roc_auc", "high"])
    True
    """
    if n_boot < 1:
        raise ConfigError(f"bootstrap: n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ConfigError(f"bootstrap: level must be in (0, 1), got {level}")
    try:
        compute = BOOTSTRAPS.get(task)
    except RegistryError:
        raise ConfigError(
            f"bootstrap: no bootstrap for task {task!r}; valid: {list(BOOTSTRAPS)}"
        ) from None
    pred = np.asarray(pred, dtype=np.float64)
    n = pred.shape[0]
    if n == 0:
        raise DataError("bootstrap: no patients to resample")
    if y is not None and len(y) != n:
        raise DataError(f"bootstrap: {len(y)} labels for {n} predictions")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    point, resampled = compute(np.asarray(y), pred, idx, classes, outcome)
    alpha = (1 - level) / 2
    rows = {}
    for name, values in resampled.items():
        valid = values[~np.isnan(values)]
        low, high = np.quantile(valid, [alpha, 1 - alpha]) if len(valid) else (np.nan, np.nan)
        rows[name] = [point[name], float(low), float(high), len(valid), n_boot - len(valid)]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
    return frame.astype({"resamples": int, "skipped": int})


@BOOTSTRAPS.register("classification")
def _classification(
    y: np.ndarray,
    proba: np.ndarray,
    idx: np.ndarray,
    classes: Sequence[Any] | None,
    outcome: object = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Accuracy, F1s and AUCs of every resample, from per-resample confusion counts and
    within-resample ranks."""
    n_boot, n = idx.shape
    k = proba.shape[1]
    y = y.astype(np.int64)
    point = classification_metrics(y, proba, classes=classes)
    pred = proba.argmax(axis=1)
    yb, pb = y[idx], pred[idx]  # (n_boot, n)
    # confusion[b, true, predicted]
    cells = (np.arange(n_boot)[:, None] * k + yb) * k + pb
    confusion = np.bincount(cells.ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k)
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(np.float64)
    support, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
    denom = support + predicted  # 2 tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)  # zero_division=0
    out = {
        "accuracy": tp.sum(axis=1) / n,
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": (f1 * support).sum(axis=1) / n,
    }
    out["f1"] = f1[:, 1] if k == 2 else out["f1_macro"]
    if k == 2:
        out["roc_auc"] = _auc(proba[:, 1][idx], yb == 1)
    else:
        norm = proba / proba.sum(axis=1, keepdims=True)
        aucs = np.stack([_auc(norm[:, c][idx], yb == c) for c in range(k)], axis=1)
        present = np.unique(y)
        has_all = (support[:, present] > 0).all(axis=1)  # every class the patients hold
        macro = aucs[:, present].mean(axis=1) if len(present) > 1 else np.full(n_boot, np.nan)
        out["roc_auc"] = np.where(has_all, macro, np.nan)
        if classes is not None:
            for c, (auc_key, f1_key) in enumerate(per_class_keys(classes)):
                out[auc_key], out[f1_key] = aucs[:, c], f1[:, c]
    return point, {name: out[name] for name in point}


def _auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC AUC of each row (Mann–Whitney from mid-ranks); NaN where a row lacks a
    positive or a negative."""
    ranks = rankdata(scores, axis=1)
    n_pos = positive.sum(axis=1).astype(np.float64)
    n_neg = positive.shape[1] - n_pos
    u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


@BOOTSTRAPS.register("survival")
def _survival(
    y: object,
    risk: np.ndarray,
    idx: np.ndarray,
    classes: object,
    outcome: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Harrell's C of every resample, as multiplicity-weighted sums over patient pairs."""
    if outcome is None:
        raise DataError("bootstrap: task 'survival' needs the patients' (time, event)")
    time = np.asarray(outcome[0], dtype=np.float64)
    event = np.asarray(outcome[1]).astype(bool)
    risk = risk.reshape(-1)
    if not len(time) == len(event) == len(risk):
        raise DataError(
            f"bootstrap: {len(time)} times, {len(event)} events for {len(risk)} risk scores"
        )
    # comparable (i, j): i's event is observed before j's time, or at j's censoring time
    # (lifelines' rule); concordant: i has the higher risk, ties count one half
    earlier = time[:, None] < time[None, :]
    tied = (time[:, None] == time[None, :]) & ~event[None, :]
    comparable = event[:, None] & (earlier | tied)
    score = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    weights = np.zeros((idx.shape[0], len(risk)))
    np.add.at(weights, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.ravel()), 1.0)
    pairs = ((weights @ comparable) * weights).sum(axis=1)
    agree = ((weights @ (comparable * score)) * weights).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(pairs > 0, agree / pairs, np.nan)
    return {"c_index": concordance_index(time, event, risk)}, {"c_index": c}
