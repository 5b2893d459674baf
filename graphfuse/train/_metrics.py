"""Classification metrics."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

__all__ = ["classification_metrics"]


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, F1 and ROC AUC from class probabilities.

    Parameters
    ----------
    y_true
        Class codes ``(n,)``.
    proba
        Class probabilities ``(n, n_classes)``.

    Returns
    -------
    dict
        ``accuracy``, ``f1`` (binary: of class 1; multiclass: macro), ``f1_macro``,
        ``f1_weighted`` and ``roc_auc`` (binary: of class 1's probability; multiclass:
        one-vs-rest macro, over the classes ``y_true`` holds). ``roc_auc`` is NaN when
        ``y_true`` holds a single class.

    Examples
    --------
    >>> m = classification_metrics(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))
    >>> round(m["accuracy"], 3), m["roc_auc"]
    (0.667, 1.0)
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    pred = proba.argmax(axis=1)
    labels = np.arange(n_classes)
    binary = n_classes == 2
    out = {
        "accuracy": float(accuracy_score(y_true, pred)),
        "f1_macro": float(f1_score(y_true, pred, average="macro", labels=labels, zero_division=0)),
        "f1_weighted": float(
            f1_score(y_true, pred, average="weighted", labels=labels, zero_division=0)
        ),
    }
    out["f1"] = (
        float(f1_score(y_true, pred, average="binary", zero_division=0))
        if binary
        else out["f1_macro"]
    )
    present = np.unique(y_true)
    if len(present) < 2:
        out["roc_auc"] = float("nan")
    elif binary:
        out["roc_auc"] = float(roc_auc_score(y_true, proba[:, 1]))
    elif len(present) < n_classes:  # one-vs-rest of the classes present, averaged
        proba = proba / proba.sum(axis=1, keepdims=True)
        out["roc_auc"] = float(np.mean([roc_auc_score(y_true == c, proba[:, c]) for c in present]))
    else:
        proba = proba / proba.sum(axis=1, keepdims=True)
        out["roc_auc"] = float(
            roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
        )
    return out
