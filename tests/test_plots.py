"""Figures read at the size MLflow shows them: tick sizes, labelled colour bars, legends,
patients ordered by the explained class's probability, k in titles."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from graphfuse.experiment._benchmark_report import dot_plot_figure, overlap_figure
from graphfuse.explain import (
    Attribution,
    agreement,
    agreement_figure,
    heatmap_figure,
    top_features_figure,
)

N = 30


@pytest.fixture(scope="module")
def signed() -> Attribution:
    rng = np.random.default_rng(0)
    ids = [f"P{i:02d}" for i in range(N)]
    p_ad = rng.uniform(size=N)
    prediction = pd.DataFrame({"p_CN": 1 - p_ad, "p_AD": p_ad}, index=ids)
    prediction["target"] = "AD"
    rna = pd.DataFrame(rng.normal(scale=0.1, size=(N, 12)), index=ids)
    rna.columns = [f"g{i}" for i in range(12)]
    rna["g0"] = 5 * p_ad  # the top feature; its scores rise with p_AD
    rna["g1"] = -3.0  # lowers the output in every patient
    imaging = pd.DataFrame(rng.normal(scale=0.1, size=(N, 4)), index=ids)
    imaging.columns = [f"r{i}" for i in range(4)]
    imaging.iloc[:5] = np.nan
    return Attribution("saliency", {"rna": rna, "imaging": imaging}, prediction)


def unsigned_of(a: Attribution, method: str = "shap") -> Attribution:
    scores = {m: f.abs() for m, f in a.scores.items()}
    return Attribution(method, scores, a.prediction, signed=False)


def tick_sizes(ax, axis: str = "y") -> list[float]:
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_fontsize() for t in labels if t.get_text()]


def colour_bar_label(fig) -> str:
    return fig.axes[-1].get_ylabel()


def test_heatmap_orders_patients_by_the_explained_class_and_labels_its_colour_bar(signed):
    fig = heatmap_figure(signed, k=8)
    ax = fig.axes[0]
    image = np.asarray(ax.images[0].get_array())
    top = list(signed.feature_importance().head(8).index).index(("rna", "g0"))
    column = image[:, top]
    assert np.all(np.diff(column) >= 0)  # by p_AD ascending; p_CN would reverse it
    assert "p_AD" in ax.get_ylabel()
    assert min(tick_sizes(ax, "x")) >= 8
    assert "log-odds of the target class" in colour_bar_label(fig)
    assert "|score|" in colour_bar_label(heatmap_figure(unsigned_of(signed), k=8))


def test_top_features_show_direction_for_signed_methods(signed):
    fig = top_features_figure(signed, k=6)
    ax = fig.axes[0]
    assert min(tick_sizes(ax)) >= 8
    bars = [p for p in ax.patches if p.get_width() != 0]
    left = {to_hex(p.get_facecolor()) for p in bars if p.get_width() < 0}
    right = {to_hex(p.get_facecolor()) for p in bars if p.get_width() > 0}
    assert left and right and not left & right  # two colours, one per direction
    g1 = [t.get_text() for t in ax.get_yticklabels()].index("rna: g1")
    row = [p for p in bars if round(p.get_y() + p.get_height() / 2) == g1]
    assert [p.get_width() < 0 for p in row] == [True]  # lowers the output only
    assert ax.get_legend() is not None
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "raises it" in texts and "lowers it" in texts


def test_top_features_of_an_unsigned_method_have_a_modality_legend(signed):
    ax = top_features_figure(unsigned_of(signed), k=6).axes[0]
    assert all(p.get_width() >= 0 for p in ax.patches)
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= {"rna", "imaging"}


def test_agreement_title_and_colour_bar_name_k(signed):
    table = agreement({"saliency": signed, "shap": unsigned_of(signed)}, k=5)
    fig = agreement_figure(table)
    assert "top-5" in fig.axes[0].get_title()
    assert "jaccard" in colour_bar_label(fig) and "top-5" in colour_bar_label(fig)
    assert "all features" in agreement_figure(table, value="spearman").axes[0].get_title()
    assert "top-7" in agreement_figure(table.copy(), k=7).axes[0].get_title()


@pytest.fixture(scope="module")
def enrichment() -> pd.DataFrame:
    rows = [
        {"explainer": m, "set": f"PATHWAY_{j}", "key": "kegg", "p": 10.0 ** -(j % 4 + 1)}
        | {"fdr": 10.0 ** -(j % 4), "overlap": j + 1}
        for m in ("saliency", "shap")
        for j in range(8)
    ]
    return pd.DataFrame(rows)


def test_dot_plot_has_a_size_legend_and_readable_ticks(enrichment):
    fig = dot_plot_figure(enrichment, n=4)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and legend.get_title().get_text() == "genes in set"
    counts = [t.get_text() for t in legend.get_texts()][:-1]
    assert counts[0] == "3" and counts[-1] == "8"  # the drawn pathways (4 per method): 3..8
    assert "FDR < 0.05" in legend.get_texts()[-1].get_text()
    assert min(tick_sizes(ax)) >= 8
    assert colour_bar_label(fig) == "-log10 p (ORA)"


def test_overlap_heatmaps_label_their_colour_bars_and_k(signed, enrichment):
    table = agreement({"saliency": signed, "shap": unsigned_of(signed)}, k=5)
    fig = overlap_figure(table, enrichment)
    assert "top-5 genes" in fig.axes[0].get_title()
    assert [a.get_ylabel() for a in fig.axes[2:]] == ["Jaccard", "Jaccard"]
    assert min(tick_sizes(fig.axes[0])) >= 8
