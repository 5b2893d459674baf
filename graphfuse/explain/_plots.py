"""Figures of attributions: top features, patient x feature heatmaps, explainer agreement.

Built without pyplot (like :mod:`graphfuse.train._plots`): no backend is needed or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.explain._attribution import Attribution

__all__ = [
    "TICK_PT",
    "agreement_figure",
    "explained_probability",
    "heatmap_figure",
    "top_features_figure",
]


def _label(modality: str, feature: str, genes: Mapping[str, Mapping[str, str]]) -> str:
    gene = genes.get(modality, {}).get(feature)
    name = feature if gene is None or gene == feature else f"{feature} ({gene})"
    return f"{modality}: {name}"


#: Smallest font of tick labels and annotations (MLflow shows figures at about their size).
TICK_PT = 8


def explained_probability(prediction: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each patient's probability of the class that was explained for them (``p_<target>``),
    or the risk score of a survival model, with a label naming it."""
    if "target" not in prediction.columns:
        column = prediction.columns[0]
        return prediction[column].astype(float), f"predicted {column}"
    targets = prediction["target"].astype(str)
    values = [prediction.at[i, f"p_{t}"] for i, t in zip(prediction.index, targets, strict=True)]
    classes = targets.unique()
    name = f"p_{classes[0]}" if len(classes) == 1 else "p of the explained class"
    return pd.Series(values, index=prediction.index, dtype=float), f"predicted {name}"


def top_features_figure(attribution: Attribution, k: int = 20) -> Any:
    """Horizontal bars of the ``k`` most important features (mean ``|score|`` over patients).

    Signed methods show direction too: each bar is split at zero into the mean positive part
    of the scores (red, right: raises the explained output) and the mean negative part
    (blue, left: lowers it), so its whole length is the mean ``|score|``; a black tick marks
    the net mean score. Unsigned methods colour bars by modality.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    imp = attribution.feature_importance().head(k)[::-1]
    labels = [_label(m, f, attribution.feature_genes) for m, f in imp.index]
    fig = Figure(figsize=(7.0, 0.28 * len(imp) + 1.6), dpi=110)
    ax = fig.subplots()
    rows = np.arange(len(imp))
    if attribution.signed:
        scores = attribution.table()[list(imp.index)]
        up = scores.clip(lower=0).mean(axis=0, skipna=True).fillna(0.0).to_numpy(dtype=float)
        down = scores.clip(upper=0).mean(axis=0, skipna=True).fillna(0.0).to_numpy(dtype=float)
        ax.barh(rows, up, color="#c0392b")
        ax.barh(rows, down, color="#2e6da4")
        ax.scatter(up + down, rows, marker="|", s=120, color="black", zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel(f"mean score over patients ({attribution.output})", fontsize=9)
        handles = [
            Patch(color="#c0392b", label="raises it"),
            Patch(color="#2e6da4", label="lowers it"),
            Line2D([], [], ls="", marker="|", markersize=10, color="black", label="net mean"),
        ]
    else:
        modalities = list(attribution.modalities)
        colours = [f"C{modalities.index(m) % 10}" for m, _ in imp.index]
        ax.barh(rows, imp.to_numpy(), color=colours)
        ax.set_xlabel("mean |score| over patients", fontsize=9)
        shown = list(dict.fromkeys(m for m, _ in imp.index))
        handles = [Patch(color=f"C{modalities.index(m) % 10}", label=m) for m in shown]
    ax.legend(handles=handles, loc="best", fontsize=TICK_PT, frameon=False)
    ax.set_yticks(rows, labels, fontsize=TICK_PT)
    ax.tick_params(axis="x", labelsize=TICK_PT)
    ax.set_title(f"{attribution.method}: top {len(imp)} features", fontsize=10)
    fig.tight_layout()
    return fig


def heatmap_figure(attribution: Attribution, k: int = 30, max_patients: int = 200) -> Any:
    """Patients x top-``k`` features heatmap of scores (signed methods: diverging colours).

    Patients (rows) are ordered by their predicted probability of the explained class
    (:func:`explained_probability`; a survival model's risk), lowest at the top; at most
    ``max_patients`` evenly spaced ones are drawn. Grey cells: the patient lacks the
    modality. The colour bar is labelled with what the scores explain.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    top = list(attribution.feature_importance().head(k).index)
    table = attribution.table()[top]
    proba, by = explained_probability(attribution.prediction)
    order = proba.sort_values(kind="stable").index
    table = table.loc[order]
    if len(table) > max_patients:
        table = table.iloc[np.linspace(0, len(table) - 1, max_patients).round().astype(int)]
    values = table.to_numpy(dtype=float)
    fig = Figure(figsize=(0.26 * len(top) + 3.0, 6.0), dpi=110)
    ax = fig.subplots()
    finite = np.abs(values[np.isfinite(values)])
    scale = float(np.quantile(finite, 0.98)) if finite.size else 1.0
    scale = scale or 1.0
    cmap = colormaps["RdBu_r" if attribution.signed else "viridis"].with_extremes(bad="lightgrey")
    low = -scale if attribution.signed else 0
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=scale)
    labels = [_label(m, f, attribution.feature_genes) for m, f in top]
    ax.set_xticks(range(len(top)), labels, rotation=90, fontsize=TICK_PT)
    ax.set_yticks([])
    ax.set_ylabel(f"patients ({len(table)}), by {by} (lowest at top)", fontsize=9)
    title = f"{attribution.method}: scores of the top {len(top)} features"
    ax.set_title(f"{title} (grey: modality missing)", fontsize=10)
    bar = fig.colorbar(image, ax=ax, shrink=0.85, pad=0.02)
    what = "score" if attribution.signed else "|score|"
    bar.set_label(f"{what} ({attribution.output})", fontsize=9)
    bar.ax.tick_params(labelsize=TICK_PT)
    fig.tight_layout()
    return fig


def agreement_figure(table: pd.DataFrame, value: str = "jaccard", k: int | None = None) -> Any:
    """Heatmap of pairwise agreement between explainers.

    ``table`` is :func:`graphfuse.explain.agreement`'s output (one row per ordered pair of
    methods with columns ``method_a``, ``method_b`` and ``value``), or a square matrix.
    ``k``: the top-set size the table was computed with (default: ``table.attrs["k"]``,
    which :func:`~graphfuse.explain.agreement` sets), named in the title.
    """
    from matplotlib.figure import Figure

    k = k if k is not None else table.attrs.get("k")
    level = table.attrs.get("level", "feature")
    if {"method_a", "method_b"} <= set(table.columns):
        matrix = table.pivot(index="method_a", columns="method_b", values=value)
    else:
        matrix = table
    fig = Figure(figsize=(1.0 * len(matrix) + 2.6, 0.9 * len(matrix) + 1.8), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=9)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                f"{matrix.iat[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=TICK_PT,
                color="white" if matrix.iat[i, j] < 0.6 else "black",
            )
    whole = value in ("spearman", "kendall")  # over every feature; the others: the top k
    over = f"all {level}s" if whole else f"top-{k} {level}s" if k is not None else f"top {level}s"
    ax.set_title(f"agreement between explainers: {value}, {over}", fontsize=10)
    bar = fig.colorbar(image, ax=ax, shrink=0.7)
    bar.set_label(f"{value} ({over})", fontsize=9)
    bar.ax.tick_params(labelsize=TICK_PT)
    fig.tight_layout()
    return fig
