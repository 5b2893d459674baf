"""The report of the explainer benchmark over seeds: CSV tables, ``report.md``, the dot plot,
the cost-vs-recovery plot, the stability plot, and its MLflow run.

Figures are built without pyplot (like :mod:`graphfuse.explain._plots`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse.experiment._benchmark_report import _table

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "log_seeds_report",
    "print_seeds_report",
    "recovery_figure",
    "stability_figure",
    "write_seeds_report",
]

_COLOURS = {
    "explainer": "#1f77b4",
    "consensus": "#9467bd",
    "control": "#2ca02c",
    "null": "#7f7f7f",
}


def _headline(result: Any) -> int:
    return int(result.settings["headline_k"])


def reference_dot_figure(result: Any) -> Any:
    """Dots per ranking (x) and ``k`` (y): colour the mean ``-log10 p`` of the top-``k``'s
    overlap with the reference genes, size the mean overlap; black edge where the
    permutation p is below 0.05 in most seeds."""
    from matplotlib.figure import Figure

    s = result.summary
    ks = result.settings["top_k"]
    names = s["ranking"].tolist()
    fig = Figure(figsize=(0.9 * len(names) + 3.5, 0.5 * len(ks) + 2.6), dpi=110)
    ax = fig.subplots()
    xs, ys, colour, size, edge = [], [], [], [], []
    for i, row in s.iterrows():
        for j, k in enumerate(ks):
            value = row.get(f"-log10 ref_p@{k}_mean", np.nan)
            if not np.isfinite(value):
                continue
            xs.append(i)
            ys.append(j)
            colour.append(value)
            size.append(30 + 8 * float(row.get(f"ref_overlap@{k}_mean", 0.0)))
            edge.append("black" if row.get(f"frac_perm_p<0.05@{k}", 0) > 0.5 else "none")
    points = ax.scatter(xs, ys, c=colour, s=size, cmap="viridis", vmin=0, edgecolors=edge)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(ks)), [f"top {k}" for k in ks], fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(-0.6, len(ks) - 0.4)
    ax.set_title(
        f"reference genes in each ranking's top-k ({result.settings['reference']}); "
        "black edge: beats random lists in most seeds",
        fontsize=9,
    )
    if colour:
        bar = fig.colorbar(points, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label("-log10 p (overlap, mean over seeds)", fontsize=8)
        bar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def recovery_figure(result: Any) -> Any:
    """Seconds per ranking (log x) against recovery (mean ``-log10 p`` at the headline
    ``k``, with the sd over seeds as error bars), coloured by kind."""
    from matplotlib.figure import Figure

    k = _headline(result)
    s = result.summary
    fig = Figure(figsize=(6.5, 4.5), dpi=110)
    ax = fig.subplots()
    col = f"-log10 ref_p@{k}"
    for _, row in s.iterrows():
        x = max(float(row["seconds_mean"]), 1e-3)
        y = row.get(f"{col}_mean", np.nan)
        if not np.isfinite(y):
            continue
        yerr = row.get(f"{col}_sd", np.nan)
        ax.errorbar(
            x,
            y,
            yerr=yerr if np.isfinite(yerr) else None,
            fmt="o",
            color=_COLOURS.get(row["kind"], "black"),
            capsize=3,
        )
        ax.annotate(row["ranking"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per ranking (mean over seeds)", fontsize=9)
    ax.set_ylabel(f"-log10 p, reference genes in the top {k}", fontsize=9)
    ax.axhline(-np.log10(0.05), color="grey", lw=0.8, ls="--")
    ax.set_title("cost vs recovery (colours: explainer, consensus, control, null)", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def stability_figure(result: Any) -> Any:
    """Bars: mean top-``k`` Jaccard across seed pairs per ranking (sd as error bars);
    dots: mean Kendall's tau."""
    from matplotlib.figure import Figure

    k = _headline(result)
    st = result.stability
    fig = Figure(figsize=(0.7 * len(st) + 3.5, 4.0), dpi=110)
    ax = fig.subplots()
    x = np.arange(len(st))
    sd = st[f"jaccard@{k}_sd"].to_numpy(dtype=float)
    ax.bar(
        x,
        st[f"jaccard@{k}_mean"],
        yerr=np.where(np.isfinite(sd), sd, 0.0),
        color=[_COLOURS.get(kind, "black") for kind in st["kind"]],
        capsize=3,
        label=f"top-{k} Jaccard",
    )
    ax.plot(x, st["kendall_tau_mean"], "kD", ms=5, label="Kendall tau")
    if f"jaccard@{k}_chance" in st and len(st):
        chance = float(st[f"jaccard@{k}_chance"].iloc[0])
        ax.axhline(
            chance, color="grey", ls=":", lw=1.2, label=f"Jaccard of random lists ({chance:.2f})"
        )
    ax.set_xticks(x, st["ranking"], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(
        min(0.0, float(np.nanmin(st["kendall_tau_mean"].to_numpy(dtype=float), initial=0))), 1
    )
    ax.set_ylabel("agreement across training seeds", fontsize=9)
    ax.set_title(f"stability over {len(result.settings['seeds'])} seeds", fontsize=9)
    ax.legend(fontsize=8)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def write_seeds_report(result: Any, out: Path) -> Path:
    """Write the tables, figures and ``report.md`` of a :class:`SeedsBenchmarkResult`."""
    out.mkdir(parents=True, exist_ok=True)
    result.per_seed.to_csv(out / "per_seed.csv", index=False)
    result.summary.to_csv(out / "summary.csv", index=False)
    result.stability.to_csv(out / "stability.csv", index=False)
    result.agreement.to_csv(out / "agreement.csv", index=False)
    result.models.to_csv(out / "models.csv", index=False)
    result.reference_sets.to_csv(out / "reference_sets.csv", index=False)
    k = _headline(result)
    top = {
        f"{name}@seed{seed}": list(r.index[:k])
        for seed, ranks in result.rankings.items()
        for name, r in ranks.items()
    }
    pd.DataFrame(top).to_csv(out / f"top{k}_genes.csv", index=False)
    settings = {**result.settings, "notes": result.notes, "verdict": result.verdict}
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
    figures = {
        "reference_dots.png": reference_dot_figure(result),
        "cost_recovery.png": recovery_figure(result),
        "stability.png": stability_figure(result),
    }
    for name, fig in figures.items():
        fig.savefig(out / name)
    (out / "report.md").write_text(_markdown(result))
    return out


def headline_table(result: Any) -> pd.DataFrame:
    """The paper-like table at the headline ``k``: mean ± sd over seeds."""
    k = _headline(result)
    s = result.summary
    cols = {
        "seconds": "seconds",
        "test AUC": "test_auc",
        f"overlap@{k}": f"ref_overlap@{k}",
        f"-log10 p@{k}": f"-log10 ref_p@{k}",
        f"-log10 perm p@{k}": f"-log10 ref_perm_p@{k}",
    }
    ref_ranks = sorted(
        c[: -len("_mean")]
        for c in s.columns
        if c.startswith("ref_rank_") and c.endswith(f"@{k}_mean")
    )
    for c in ref_ranks:
        cols[f"best ref rank {c.removeprefix('ref_rank_').split('@')[0]}"] = c
    for c in sorted(c for c in s.columns if c.startswith("sig_") and c.endswith(f"@{k}_mean")):
        cols[f"sig sets {c.removeprefix('sig_').split('@')[0]}"] = c[: -len("_mean")]
    cols["-log10 preranked p"] = "-log10 preranked_p"
    cols["spearman"] = "spearman"
    table = pd.DataFrame({"ranking": s["ranking"], "kind": s["kind"]})
    for label, base in cols.items():
        if f"{base}_mean" in s:
            table[label] = [
                _pm(m, d) for m, d in zip(s[f"{base}_mean"], s[f"{base}_sd"], strict=True)
            ]
    frac = f"frac_perm_p<0.05@{k}"
    if frac in s:
        table[f"perm p<0.05@{k}"] = [f"{v:.0%}" if np.isfinite(v) else "" for v in s[frac]]
    return table


def reference_set_table(result: Any) -> pd.DataFrame:
    """Per reference set and ranking at the headline ``k``: median rank (of how many sets),
    median ORA p, and the seeds at FDR < ``fdr``."""
    sets = result.reference_sets
    k = _headline(result)
    if sets.empty:
        return pd.DataFrame({"reference set": []})
    at = sets[sets["k"] == k]
    fdr = result.settings["fdr"]
    rows = []
    for (collection, name), part in at.groupby(["collection", "set"], sort=False):
        row: dict[str, Any] = {
            "reference set": f"{name} [{collection}]",
            "of": int(part["of"].max()),
        }
        for ranking, own in part.groupby("ranking", sort=False):
            row[ranking] = (
                f"{own['rank'].median():.0f} (p {own['p'].median():.2g}; "
                f"{int((own['fdr'] < fdr).sum())}/{len(own)} sig)"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return ""
    fmt = (lambda v: f"{v:.3g}") if abs(mean) < 100 else (lambda v: f"{v:,.0f}")
    return fmt(mean) if not np.isfinite(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def _short(mean: float, sd: float) -> str:
    if not np.isfinite(mean):
        return ""
    text = f"{mean:.2g}" if abs(mean) < 10 else f"{mean:.0f}"
    if np.isfinite(sd):
        text += f"±{sd:.1g}" if abs(sd) < 10 else f"±{sd:.0f}"
    return text


def _markdown(result: Any) -> str:
    st = result.settings
    k = _headline(result)
    lines = [
        "# Explainer benchmark over training seeds",
        "",
        f"- config: `{st['source']}`; seeds {st['seeds']}; explainers {', '.join(st['methods'])}",
        f"- reference: {st['reference']}"
        + (
            f"; reference ranking: {st['ranking_reference']}" if st.get("ranking_reference") else ""
        ),
        f"- background: {st['background']}; {st['gene_rule']}",
        f"- top-k {st['top_k']} (headline {k}); {st['n_permutations']:,} random lists per "
        f"permutation test; BH FDR {st['fdr']}",
        "- controls: consensus = mean rank of the explainers; t-test = per-gene |t| of the "
        "training patients (model-free); logistic = |coefficients| of the logistic baseline on "
        "the same features; null:<explainer> = the same model trained on permuted labels, "
        "explained the same way",
        "",
        "## Verdict",
        "",
        *[f"- {line}" for line in result.verdict],
        "",
        f"## Recovery at k = {k} (mean ± sd over seeds)",
        "",
        _table(headline_table(result)),
        "",
        "## Stability across seeds",
        "",
        _table(result.stability),
        "",
        f"## Agreement between rankings (top-{k} Jaccard, mean over seeds)",
        "",
        _table(result.agreement),
        "",
        f"## Reference sets at k = {k} (median rank over seeds among the collection's sets)",
        "",
        _table(reference_set_table(result)),
        "",
        "## Models (test metrics per seed)",
        "",
        _table(result.models),
        "",
    ]
    if result.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    lines += [
        "Files: `per_seed.csv` (every test, seed and k), `reference_sets.csv` (each reference "
        "set's rank, p and FDR), `summary.csv`, `stability.csv`, "
        f"`agreement.csv`, `models.csv`, `top{k}_genes.csv`; figures `reference_dots.png`, "
        "`cost_recovery.png`, `stability.png`.",
        "",
    ]
    return "\n".join(lines)


def log_seeds_report(result: Any, config: Any) -> str:
    """Log the report folder and the headline metrics as one MLflow run; returns its id."""
    from graphfuse.experiment._track import run_name
    from graphfuse.tracking import RunLogger, package_versions, resolve_tracking_uri

    tracking = config.tracking
    uri = resolve_tracking_uri(tracking.uri)
    k = _headline(result)
    metrics = {}
    for row in result.summary.to_dict("records"):
        for key in ("seconds_mean", f"-log10 ref_p@{k}_mean", f"frac_perm_p<0.05@{k}"):
            value = row.get(key)
            if isinstance(value, float) and np.isfinite(value):
                clean = key.replace("-log10 ", "mlog10_").replace("<", "_lt_").replace("@", "_at")
                metrics[f"{row['ranking'].replace(':', '_')}_{clean}"] = value
    name = f"{run_name(config)}-explainers-{len(result.settings['seeds'])}seeds"
    logger = RunLogger(uri, tracking.experiment, name)
    tags = {f"version.{k}": v for k, v in package_versions().items()}
    tags |= {
        "graphfuse.kind": "benchmark_explainers_seeds",
        "mlflow.note.content": "\n".join(result.verdict),
    }
    with logger.start(tags=tags):
        settings = {key: v for key, v in result.settings.items() if key != "params"}
        logger.log_params(settings)
        logger.log_metrics(metrics)
        logger.log_artifacts(result.out, "benchmark")
        return logger.run_id


def print_seeds_report(result: Any, console: Console | None = None) -> None:
    """The headline table, the verdict and the notes, on a terminal."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    k = _headline(result)
    table = Table(title=f"explainers over seeds {result.settings['seeds']} (top-{k})")
    columns = {
        "ranking": None,
        "AUC": "test_auc",
        f"ref@{k}": f"ref_overlap@{k}",
        "-log10 p": f"-log10 ref_p@{k}",
        "s": "seconds",
    }
    for name in (*columns, "<0.05"):
        table.add_column(name, justify="left" if name == "ranking" else "right")
    s = result.summary
    frac = f"frac_perm_p<0.05@{k}"
    for _, row in s.iterrows():
        cells = [str(row["ranking"])]
        for base in list(columns.values())[1:]:
            cells.append(_short(row.get(f"{base}_mean", np.nan), row.get(f"{base}_sd", np.nan)))
        value = row.get(frac, np.nan)
        cells.append(f"{value:.0%}" if np.isfinite(value) else "")
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"[dim]ref@{k}: reference genes in the top {k}; -log10 p: hypergeometric; <0.05: "
        "seeds whose top list beats random lists (permutation p < 0.05); mean±sd[/dim]"
    )
    for line in result.verdict:
        console.print(f"- {line}")
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if result.out is not None:
        console.print(f"report        {result.out / 'report.md'}")
    if result.run_id is not None:
        console.print(f"MLflow run    {result.run_id}")
