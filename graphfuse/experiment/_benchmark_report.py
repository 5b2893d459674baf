"""The explainer benchmark's report: CSV tables, ``report.md``, figures and MLflow logging.

Figures are built without pyplot (like :mod:`graphfuse.explain._plots`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "cost_recovery_figure",
    "dot_plot_figure",
    "log_report",
    "overlap_figure",
    "print_report",
    "write_report",
]

_FIGURES = {
    "dotplot.png": "top pathways per explainer",
    "overlap.png": "overlap between explainers",
    "cost_recovery.png": "cost vs recovery",
}


# ------------------------------------------------------------------------------ figures
def dot_plot_figure(enrichment: pd.DataFrame, *, n: int = 6, fdr: float = 0.05) -> Any:
    """Dots of each explainer's ``n`` top pathways (smallest ORA p, any collection).

    Colour: ``-log10(p)`` (the colour bar); size: genes of the top-k list in the set (the
    size legend); black edge: significant at ``fdr`` (BH).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    methods = list(dict.fromkeys(enrichment["explainer"]))
    frame = enrichment.assign(label=_labels(enrichment))
    rows: list[str] = []
    for method in methods:
        part = frame[frame["explainer"] == method].sort_values("p", kind="stable")
        rows += [r for r in part["label"].head(n) if r not in rows]
    sub = frame[frame["label"].isin(rows)]
    fig = Figure(figsize=(1.1 * len(methods) + 7.0, 0.3 * len(rows) + 2.0), dpi=110)
    ax = fig.subplots()
    x = sub["explainer"].map({m: i for i, m in enumerate(methods)}).to_numpy()
    y = sub["label"].map({r: i for i, r in enumerate(rows)}).to_numpy()
    colour = -np.log10(sub["p"].clip(lower=1e-12).to_numpy())
    overlap = sub["overlap"].to_numpy(dtype=float)
    edge = np.where(sub["fdr"].to_numpy() < fdr, "black", "none")
    top = max(2.0, float(colour.max()) if len(colour) else 2.0)
    points = ax.scatter(
        x, y, c=colour, s=_dot_size(overlap), cmap="viridis", vmin=0, vmax=top, edgecolors=edge
    )
    ax.set_xticks(range(len(methods)), methods, fontsize=9)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.invert_yaxis()
    ax.set_title(f"top {n} pathways per explainer (ORA of the top-k genes)", fontsize=10)
    bar = fig.colorbar(points, ax=ax, shrink=0.6, pad=0.02)
    bar.set_label("-log10 p (ORA)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    sizes = _legend_counts(overlap)
    handles = [
        Line2D([], [], ls="", marker="o", color="grey", markersize=np.sqrt(_dot_size(c)))
        for c in sizes
    ]
    labels = [str(c) for c in sizes]
    handles.append(
        Line2D([], [], ls="", marker="o", markerfacecolor="white", markeredgecolor="black")
    )
    labels.append(f"FDR < {fdr:.2g}")
    ax.legend(
        handles,
        labels,
        title="genes in set",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.22, 1.0),
        frameon=False,
        labelspacing=1.0,
    )
    fig.tight_layout()
    return fig


def _dot_size(overlap: Any) -> Any:
    """A dot's area (points²) for ``overlap`` genes of the top-k list in the set."""
    return 12 + 18 * np.asarray(overlap, dtype=float)


def _legend_counts(overlap: np.ndarray) -> list[int]:
    """Up to four round gene counts spanning ``overlap`` for the size legend."""
    values = overlap[np.isfinite(overlap)]
    high = int(values.max()) if values.size else 1
    low = max(1, int(values.min())) if values.size else 1
    return sorted({int(np.rint(v)) for v in np.linspace(low, max(high, low), 4)})


def overlap_figure(
    agreement: pd.DataFrame | None, enrichment: pd.DataFrame, *, fdr: float = 0.05
) -> Any:
    """Two heatmaps: Jaccard overlap of the explainers' top-k genes and of their
    significant pathways (ORA FDR below ``fdr``, all collections)."""
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(enrichment["explainer"]))
    k = agreement.attrs.get("k", "k") if agreement is not None else "k"
    if agreement is not None:
        genes = agreement.pivot(index="method_a", columns="method_b", values="jaccard")
        genes = genes.loc[methods, methods]
    else:
        genes = pd.DataFrame(1.0, index=methods, columns=methods)
    sig = enrichment.assign(label=_labels(enrichment))
    sig = sig[sig["fdr"] < fdr]
    sets = {m: set(sig.loc[sig["explainer"] == m, "label"]) for m in methods}
    paths = pd.DataFrame(
        [[_jaccard(sets[a], sets[b]) for b in methods] for a in methods],
        index=methods,
        columns=methods,
    )
    size = 1.0 * len(methods) + 1.8
    fig = Figure(figsize=(2 * size + 0.6, size), dpi=110)
    for ax, matrix, title in zip(
        fig.subplots(1, 2),
        (genes, paths),
        (f"top-{k} genes (Jaccard)", f"significant pathways, FDR < {fdr:g} (Jaccard)"),
        strict=True,
    ):
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(np.nan_to_num(values, nan=0.0), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(methods)), methods, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        for i in range(len(methods)):
            for j in range(len(methods)):
                v = values[i, j]
                text = "n/a" if math.isnan(v) else f"{v:.2f}"
                colour = "white" if math.isnan(v) or v < 0.6 else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
        ax.set_title(title, fontsize=9)
        bar = fig.colorbar(image, ax=ax, shrink=0.7)
        bar.set_label("Jaccard", fontsize=8)
        bar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def cost_recovery_figure(summary: pd.DataFrame, *, planted: bool) -> Any:
    """Seconds (log scale) against recovery: F1 of the planted pathways (synthetic
    cohort) or ``-log10`` of the permutation p of the reference pathways."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.8), dpi=110)
    ax = fig.subplots()
    seconds = summary["seconds"].clip(lower=1e-3).to_numpy(dtype=float)
    if planted:
        y = summary["f1"].to_numpy(dtype=float)
        ax.set_ylabel("planted pathways recovered (F1 at FDR)")
        ax.set_ylim(-0.05, 1.05)
    else:
        p = summary.get("ref_pathway_perm_p", pd.Series(np.nan, index=summary.index))
        y = -np.log10(p.to_numpy(dtype=float))
        ax.set_ylabel("-log10 permutation p, AD pathways")
        ax.axhline(-np.log10(0.05), color="grey", lw=0.8, ls="--")
    ax.scatter(seconds, y, s=40, c=[f"C{i}" for i in range(len(summary))])
    for i, (s, v, name) in enumerate(zip(seconds, y, summary["explainer"], strict=True)):
        if np.isfinite(v):  # alternate above / below so that neighbours do not overprint
            offset = (5, 4) if i % 2 == 0 else (5, -11)
            ax.annotate(name, (s, v), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("explainer seconds (log scale)")
    ax.set_title("cost vs recovery", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- report
def write_report(result: Any, out: Path) -> Path:
    """Write the tables, figures and ``report.md`` of a :class:`BenchmarkResult`."""
    out.mkdir(parents=True, exist_ok=True)
    fdr = result.settings["fdr"]
    result.summary.to_csv(out / "summary.csv", index=False)
    keep = result.enrichment["p"] < 0.5  # the rest are never significant; keeps files small
    result.enrichment[keep].to_csv(out / "enrichment.csv", index=False)
    result.preranked[result.preranked["p"] < 0.5].to_csv(out / "preranked.csv", index=False)
    result.reference.to_csv(out / "reference.csv", index=False)
    if result.recovery is not None:
        result.recovery.to_csv(out / "recovery.csv", index=False)
    if result.agreement is not None:
        result.agreement.to_csv(out / "agreement.csv", index=False)
    pd.Series(result.background["genes"], name="gene").to_csv(out / "background.csv", index=False)
    settings = {**result.settings, "background": result.background["label"]}
    settings |= {"collections": result.collections, "model_run_id": result.model_run_id}
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
    figures = {
        "dotplot.png": dot_plot_figure(result.enrichment, fdr=fdr),
        "overlap.png": overlap_figure(result.agreement, result.enrichment, fdr=fdr),
        "cost_recovery.png": cost_recovery_figure(
            result.summary, planted=result.recovery is not None
        ),
    }
    for name, fig in figures.items():
        fig.savefig(out / name)
    (out / "report.md").write_text(_markdown(result))
    return out


def log_report(result: Any, tracking: Any, run_id: str | None) -> str:
    """Log the report folder and per-explainer metrics to MLflow; returns the run id.

    Into ``run_id`` (under ``benchmark/``) when given, else into a run of its own in
    ``tracking.experiment``, tagged with the explained model's run.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from graphfuse.tracking import RunLogger, package_versions, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking.uri)
    metrics = {}
    for row in result.summary.to_dict("records"):
        for key, value in row.items():
            if key != "explainer" and isinstance(value, int | float) and np.isfinite(value):
                metrics[f"benchmark_{row['explainer']}_{key}"] = float(value)
    if run_id is not None:
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment(client.get_run(run_id).info.experiment_id).name
        logger = RunLogger(uri, experiment)
        with logger.start(run_id=run_id):
            logger.log_metrics(metrics)
            logger.log_artifacts(result.out, "benchmark")
        return run_id
    name = tracking.run_name or "benchmark-explainers"
    if result.model_run_id:  # named after the fit it explains: <fit's name>-explainers
        try:
            fitted = MlflowClient(tracking_uri=uri).get_run(result.model_run_id).info.run_name
            name = f"{fitted}-explainers" if fitted else name
        except MlflowException:
            pass
    logger = RunLogger(uri, tracking.experiment, name)
    tags = {f"version.{k}": v for k, v in package_versions().items()}
    tags |= {
        "graphfuse.kind": "benchmark_explainers",
        "graphfuse.background": result.background["label"],
    }
    if result.model_run_id:
        tags["graphfuse.model_run_id"] = result.model_run_id
    with logger.start(tags=tags):
        settings = {k: v for k, v in result.settings.items() if k != "params"}
        logger.log_params({**settings, "explainer": result.settings["params"]})
        logger.log_metrics(metrics)
        logger.log_artifacts(result.out, "benchmark")
        return logger.run_id


def _markdown(result: Any) -> str:
    s = result.settings
    fdr, k = s["fdr"], s["top_k"]
    lines = [
        "# Explainer benchmark",
        "",
        f"Model: {s['source']}"
        + (f" (MLflow run `{result.model_run_id}`)" if result.model_run_id else ""),
        f"Explainers: {', '.join(s['methods'])}; top-k = {k}; {s['n_permutations']:,} "
        f"permutations (seed {s['seed']}); significance: BH FDR < {fdr:g}; set sizes "
        f"{s['min_size']}-{s['max_size']} genes within the background.",
        "",
        f"**Background: {result.background['label']}** (`background.csv`). Every test draws "
        "from it; the whole genome is never used.",
        "",
        "Collections: "
        + "; ".join(f"`{k_}` → {v}" for k_, v in result.collections.items())
        + f". Reference: {s['reference']}.",
        "",
    ]
    if result.notes:
        lines += ["## Caveats", "", *(f"- {n}" for n in result.notes), ""]
    lines += ["## Per explainer", "", _table(result.summary), "", _legend(result), ""]
    if result.recovery is not None:
        lines += [
            f"## Recovery of the planted pathways (significant at FDR < {fdr:g})",
            "",
            "`ora`: hypergeometric FDR of the top-k; `permutation`: BH over the per-set "
            "empirical p; `preranked`: rank test of the full ranking. `chance`: precision of "
            "a random pick of pathways.",
            "",
            _table(result.recovery),
            "",
        ]
    lines += [f"## Significant pathways (ORA of the top-{k}, FDR < {fdr:g})", ""]
    e = result.enrichment
    for method in s["methods"]:
        sig = e[(e["explainer"] == method) & (e["fdr"] < fdr)].sort_values("p")
        by = sig.groupby("key", sort=False)["set"].apply(list).to_dict()
        counts = ", ".join(f"{key}: {len(v)}" for key, v in by.items()) or "none"
        lines.append(f"- **{method}** ({counts})")
        for key, names in by.items():
            shown = "; ".join(names[:6]) + (
                f"; … ({len(names) - 6} more)" if len(names) > 6 else ""
            )
            lines.append(f"  - {key}: {shown}")
    lines += [
        "",
        "## Reference overlap",
        "",
        _table(result.reference.drop(columns="genes", errors="ignore")),
        "",
    ]
    if result.agreement is not None:
        matrix = result.agreement.pivot(index="method_a", columns="method_b", values="jaccard")
        lines += [
            f"## Agreement (Jaccard of the top-{k} genes)",
            "",
            _table(matrix.reset_index().rename(columns={"method_a": ""})),
            "",
        ]
    lines += ["## Figures", ""]
    lines += [f"![{title}]({name})" for name, title in _FIGURES.items()]
    lines += [
        "",
        "Tables: `summary.csv`, `enrichment.csv` and `preranked.csv` (rows with p < 0.5), "
        "`reference.csv`, `agreement.csv`, `recovery.csv` (synthetic), `settings.json`.",
        "",
    ]
    return "\n".join(lines)


def _legend(result: Any) -> str:
    return (
        "`seconds`: explainer wall-clock; `sig_<c>`: pathways of collection c at FDR; "
        "`perm_p_<c>`: is the top-k more enriched in c than random lists of the same size "
        "from the background (statistic: sets at p < 0.05); `ref_gene_*`: overlap of the "
        "top-k with the reference genes (of `ref_gene_n` in the background), hypergeometric "
        "and permutation p; `ref_pathways_sig`: reference pathways at FDR; "
        "`ref_pathway_perm_p`: smallest reference-pathway p vs random lists (best collection); "
        "`mean_jaccard`: top-k gene overlap with the other explainers."
    )


def _table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    out = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        out.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value).replace("|", "/")


def _labels(frame: pd.DataFrame) -> pd.Series:
    names = [n if len(n) <= 48 else f"{n[:34]}…{n[-13:]}" for n in frame["set"].astype(str)]
    return pd.Series(names, index=frame.index) + " [" + frame["key"].astype(str) + "]"


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else float("nan")


def print_report(result: Any, console: Console | None = None) -> None:
    """Print a :class:`~graphfuse.experiment.BenchmarkResult`: its per-explainer summary,
    the background, notes and where the report is."""
    from rich.console import Console

    from graphfuse.experiment._tables import print_table

    console = console or Console()
    s = result.settings
    frame = result.summary
    sig = [c for c in frame.columns if c.startswith("sig_")]
    cols = ["seconds", *sig, "ref_gene_overlap", "ref_pathway_perm_p", "mean_jaccard"]
    cols += [c for c in ("precision", "recall") if c in frame.columns]
    cols = [c for c in cols if c in frame.columns]
    columns = [
        ("explainer", "left"),
        *((_HEADER.get(c, c.removeprefix("sig_")), "right") for c in cols),
    ]
    rows = [
        [str(r["explainer"]), *(_short_fmt(r[c]) for c in cols)] for r in frame.to_dict("records")
    ]
    title = f"graphfuse benchmark explainers — top {s['top_k']}, FDR < {s['fdr']:g}"
    print_table(console, title, columns, rows, short=_SHORT, meaning=_MEANING)
    console.print(f"background    {result.background['label']}")
    for note in result.notes:
        console.print(f"note          {note}")
    assert result.out is not None  # benchmark_explainers writes the report first
    console.print(f"report        {result.out / 'report.md'}")
    if result.run_id is not None:
        console.print(f"MLflow run    {result.run_id}")


#: Column names of the printed summary.
_HEADER = {
    "ref_gene_overlap": "ref_genes",
    "ref_pathway_perm_p": "ref_perm_p",
    "mean_jaccard": "jaccard",
}
#: Shorter ones, where the console is narrow.
_SHORT = {"seconds": "s", "precision": "prec", "recall": "rec", "ref_perm_p": "ref_p"}
#: What the legend says a column is.
_MEANING = {
    "ref_genes": "reference genes in the top k",
    "ref_perm_p": "permutation p of the reference pathways",
}


def _short_fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return str(value)
