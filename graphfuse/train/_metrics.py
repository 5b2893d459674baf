"""Classification metrics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from graphfuse.errors import DataError

__all__ = ["class_key", "classification_metrics", "per_class_keys"]

#: The keys :func:`classification_metrics` always returns (binary and multiclass).
_SHARED = ("accuracy", "f1_macro", "f1_weighted", "f1", "roc_auc")


def class_key(label: Any) -> str:
    """A class label as it appears in a metric name (``roc_auc_<key>``): its text, with
    characters MLflow refuses in metric names replaced by ``_``.

    Examples
    --------
    >>> class_key("Her2+ (amplified)")
    'Her2___amplified_'
    """
    return re.sub(r"[^0-9A-Za-z_.\-]", "_", str(label))


def per_class_keys(classes: Sequence[Any]) -> list[tuple[str, str]]:
    """``(roc_auc_<class>, f1_<class>)`` of each class, in class order.

    Raises
    ------
    DataError
        Two classes share a key, or a class's key is a metric the function already
        returns (a class named ``macro`` would be ``f1_macro``).
    """
    keys = [(f"roc_auc_{class_key(c)}", f"f1_{class_key(c)}") for c in classes]
    flat = [k for pair in keys for k in pair]
    clash = sorted({k for k in flat if flat.count(k) > 1 or k in _SHARED})
    if clash:
        raise DataError(
            f"classes {list(map(str, classes))}: per-class metric names {clash} are not "
            "unique (class labels that differ only in punctuation, or a class named "
            "'macro'/'weighted'); rename the classes in the target column"
        )
    return keys


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, *, classes: Sequence[Any] | None = None
) -> dict[str, float]:
    """Accuracy, F1 and ROC AUC from class probabilities; per class for multiclass.

    Parameters
    ----------
    y_true
        Class codes ``(n,)``.
    proba
        Class probabilities ``(n, n_classes)``.
    classes
        Class labels (``cohort.classes``; ``y_true`` indexes into them). With more than
        two classes, adds the per-class metrics named after them.

    Returns
    -------
    dict
        ``accuracy``, ``f1`` (binary: of class 1; multiclass: macro), ``f1_macro``,
        ``f1_weighted`` and ``roc_auc`` (binary: of class 1's probability; multiclass:
        one-vs-rest macro, over the classes ``y_true`` holds). ``roc_auc`` is NaN when
        ``y_true`` holds a single class. With ``classes`` of more than two classes, also
        per class ``roc_auc_<class>`` (one-vs-rest; NaN when ``y_true`` lacks the class
        or holds only it) and ``f1_<class>`` (:func:`class_key` spells the class). A
        binary task's keys do not depend on ``classes``.

    Raises
    ------
    DataError
        ``classes`` does not have one label per column of ``proba``, or two labels give
        the same metric name (:func:`per_class_keys`).

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
    if classes is not None and not binary:
        out |= _per_class(y_true, proba / proba.sum(axis=1, keepdims=True), pred, classes)
    return out


def _per_class(
    y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray, classes: Sequence[Any]
) -> dict[str, float]:
    """``roc_auc_<class>`` (one-vs-rest) and ``f1_<class>`` of every class."""
    if len(classes) != proba.shape[1]:
        raise DataError(
            f"classes {list(map(str, classes))}: {len(classes)} labels for "
            f"{proba.shape[1]} probability columns"
        )
    labels = np.arange(len(classes))
    f1 = f1_score(y_true, pred, average=None, labels=labels, zero_division=0)
    out: dict[str, float] = {}
    for c, (auc_key, f1_key) in enumerate(per_class_keys(classes)):
        positive = y_true == c
        defined = 0 < positive.sum() < len(y_true)
        out[auc_key] = float(roc_auc_score(positive, proba[:, c])) if defined else float("nan")
        out[f1_key] = float(f1[c])
    return out
