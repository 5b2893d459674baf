"""Figures of a fitted model's performance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["confusion_figure", "confusion_table", "roc_figure"]


def roc_figure(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any], *, title: str = "ROC"
) -> Any:
    """ROC curve(s) as a matplotlib figure: class 1 for binary, one-vs-rest otherwise.

    The figure is built without pyplot, so it neither needs nor changes a plotting backend
    (a notebook's inline backend stays as it is) and needs no closing.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5), dpi=120)
    ax = fig.subplots()
    targets = [1] if len(classes) == 2 else range(len(classes))
    for c in targets:
        positive = (np.asarray(y_true) == c).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, c])
        auc = roc_auc_score(positive, proba[:, c])
        ax.plot(fpr, tpr, label=f"{classes[c]} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def confusion_table(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> pd.DataFrame:
    """Counts of true (rows) by predicted (columns, the most probable) class.

    Parameters
    ----------
    y_true
        Class codes ``(n,)``, indexing ``classes``.
    proba
        Class probabilities ``(n, n_classes)``.
    classes
        Class labels, one per column of ``proba``.

    Returns
    -------
    pandas.DataFrame
        ``n_classes x n_classes`` integer counts; index ``true`` and columns
        ``predicted`` hold the class labels (every class, also those no patient has).

    Examples
    --------
    >>> proba = np.array([[.9, .1], [.2, .8], [.6, .4]])
    >>> t = confusion_table(np.array([0, 1, 1]), proba, ["CN", "AD"])
    >>> t.loc["AD"].tolist()  # one AD patient predicted CN, one AD
    [1, 1]
    """
    labels = [str(c) for c in classes]
    k = len(labels)
    pred = np.asarray(proba).reshape(-1, k).argmax(axis=1)
    cells = np.asarray(y_true, dtype=np.int64) * k + pred
    counts = np.bincount(cells, minlength=k * k).reshape(k, k)  # no patients: zeros
    index = pd.Index(labels, name="true")
    return pd.DataFrame(counts, index=index, columns=pd.Index(labels, name="predicted"))


def confusion_figure(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any],
    *,
    title: str = "Confusion matrix",
) -> Any:
    """The confusion matrix as a matplotlib figure: each cell's count, shaded by its
    share of the true class's patients (row-normalised, so a small class reads as well
    as a large one), class names on both axes. Built without pyplot, as
    :func:`roc_figure`.
    """
    from matplotlib.figure import Figure

    table = confusion_table(y_true, proba, classes)
    counts = table.to_numpy()
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    k = len(table)
    side = 2.5 + 0.6 * k
    fig = Figure(figsize=(side + 1.0, side), dpi=120)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.6 else "black",
            )
    ax.set_xticks(
        range(k), table.columns, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center"
    )
    ax.set_yticks(range(k), table.index)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(image, ax=ax, label="share of the true class", fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
