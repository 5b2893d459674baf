"""Figures of attributions: top features, patient x feature heatmaps, explainer agreement.

Built without pyplot (like :mod:`graphfuse.train._plots`): no backend is needed or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.explain._attribution import Attribution

__all__ = ["agreement_figure", "heatmap_figure", "top_features_figure"]


def _label(modality: str, feature: str, genes: Mapping[str, Mapping[str, str]]) -> str:
    gene = genes.get(modality, {}).get(feature)
    name = feature if gene is None or gene == feature else f"{feature} ({gene})"
    return f"{modality}: {name}"


def top_features_figure(attribution: Attribution, k: int = 20) -> Any:
    """Horizontal bars of the ``k`` most important features (mean ``|score|`` over patients)."""
    from matplotlib.figure import Figure

    imp = attribution.feature_importance().head(k)[::-1]
    labels = [_label(m, f, attribution.feature_genes) for m, f in imp.index]
    fig = Figure(figsize=(6.5, 0.25 * len(imp) + 1.2), dpi=110)
    ax = fig.subplots()
    modalities = list(attribution.modalities)
    colours = [f"C{modalities.index(m) % 10}" for m, _ in imp.index]
    ax.barh(range(len(imp)), imp.to_numpy(), color=colours)
    ax.set_yticks(range(len(imp)), labels, fontsize=7)
    ax.set_xlabel("mean |score| over patients")
    ax.set_title(f"{attribution.method}: top {len(imp)} features", fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_figure(attribution: Attribution, k: int = 30, max_patients: int = 200) -> Any:
    """Patients x top-``k`` features heatmap of scores (signed methods: diverging colours).

    Patients are ordered by their prediction; at most ``max_patients`` evenly spaced ones
    are drawn. Grey cells: the patient lacks the modality.
    """
    from matplotlib.figure import Figure

    top = list(attribution.feature_importance().head(k).index)
    table = attribution.table()[top]
    order = attribution.prediction.iloc[:, 0].sort_values(kind="stable").index
    table = table.loc[order]
    if len(table) > max_patients:
        table = table.iloc[np.linspace(0, len(table) - 1, max_patients).round().astype(int)]
    values = table.to_numpy(dtype=float)
    fig = Figure(figsize=(0.22 * len(top) + 2.5, 5.0), dpi=110)
    ax = fig.subplots()
    finite = np.abs(values[np.isfinite(values)])
    scale = float(np.quantile(finite, 0.98)) if finite.size else 1.0
    scale = scale or 1.0
    if attribution.signed:
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale)
    else:
        image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=scale)
    image.cmap.set_bad("lightgrey")
    labels = [_label(m, f, attribution.feature_genes) for m, f in top]
    ax.set_xticks(range(len(top)), labels, rotation=90, fontsize=6)
    ax.set_yticks([])
    ax.set_ylabel(f"patients ({len(table)}), by predicted {attribution.prediction.columns[0]}")
    ax.set_title(f"{attribution.method}: scores of the top {len(top)} features", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.6)
    fig.tight_layout()
    return fig


def agreement_figure(table: pd.DataFrame, value: str = "jaccard") -> Any:
    """Heatmap of pairwise agreement between explainers.

    ``table`` is :func:`graphfuse.explain.agreement`'s output (one row per ordered pair of
    methods with columns ``method_a``, ``method_b`` and ``value``), or a square matrix.
    """
    from matplotlib.figure import Figure

    if {"method_a", "method_b"} <= set(table.columns):
        matrix = table.pivot(index="method_a", columns="method_b", values=value)
    else:
        matrix = table
    fig = Figure(figsize=(1.0 * len(matrix) + 2.0, 0.9 * len(matrix) + 1.5), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                f"{matrix.iat[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix.iat[i, j] < 0.6 else "black",
            )
    ax.set_title(f"agreement between explainers ({value})", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.7)
    fig.tight_layout()
    return fig
