"""Figures of a fitted model's performance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["roc_figure"]


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
