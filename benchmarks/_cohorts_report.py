"""Tables of ``benchmarks/cohorts.py``: one per cohort, from its per-seed CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from _tables import markdown

#: Columns of a cohort's per-seed CSV (one row per method, protocol and seed).
COLUMNS = [
    "cohort",
    "method",
    "family",
    "protocol",
    "seed",
    "accuracy",
    "f1",
    "f1_macro",
    "f1_weighted",
    "roc_auc",
    "seconds",
    "n_train",
    "n_test",
]
#: graphfuse models that learn on a patient graph (the issue's "graph models").
GRAPH_MODELS = {"gcn_fusion", "mogonet", "attention", "hetero (Reactome)"}
PEER_NAMES = {
    "mogonet": "MOGONET (PyPI mogonet 2.0.1)",
    "sk_logistic": "logistic regression (scikit-learn)",
    "sk_random_forest": "random forest (scikit-learn)",
}


def _pm(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def _ordered(rows: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """graphfuse's models first (holdout before cv), then the peers, each in ``order``."""
    rank: dict[str, int] = {}
    for i, m in enumerate(order):
        rank.setdefault(m, i)
    key = pd.DataFrame(
        {
            "family": (rows["family"] != "graphfuse").astype(int),
            "method": rows["method"].map(lambda m: rank.get(m, len(rank))),
            "protocol": rows["protocol"].map({"holdout": 0, "cv": 1}).fillna(2),
            "seed": rows["seed"],
        }
    )
    return rows.loc[key.sort_values(list(key.columns), kind="stable").index]


def cohort_table(rows: pd.DataFrame, *, multiclass: bool) -> pd.DataFrame:
    """Mean ± sd over seeds per (method, protocol), in the rows' order."""
    metrics = (
        [("ACC", "accuracy"), ("F1 macro", "f1_macro"), ("F1 weighted", "f1_weighted")]
        if multiclass
        else [("ACC", "accuracy"), ("F1", "f1")]
    )
    metrics.append(("AUC" + (" (macro OvR)" if multiclass else ""), "roc_auc"))
    out = []
    for (method, protocol), group in rows.groupby(["method", "protocol"], sort=False):
        family = group["family"].iloc[0]
        label = PEER_NAMES.get(method, method) if family == "peer" else f"graphfuse {method}"
        entry = {"method": label, "protocol": protocol}
        for title, column in metrics:
            entry[title] = _pm(group[column])
        entry["s / fit"] = _pm(group["seconds"], 1)
        entry["seeds"] = str(len(group))
        out.append(entry)
    return pd.DataFrame(out).set_index("method") if out else pd.DataFrame()


def findings(rows: pd.DataFrame) -> list[str]:
    """Plain statements: best graph model vs best baseline (AUC), and the protocol's cost."""
    lines = []
    seeds = [set(g["seed"]) for _, g in rows.groupby(["method", "protocol"], sort=False)]
    common = sorted(set.intersection(*seeds)) if seeds else []
    if not common:
        return ["No seed has every method's result yet: no comparison."]
    rows = rows[rows["seed"].isin(common)]
    over = f" (seeds {', '.join(map(str, common))}, which every method has)"
    means = rows.groupby(["method", "family", "protocol"], sort=False)[["roc_auc", "seconds"]]
    means = means.mean().reset_index()
    graph = means[(means["family"] == "graphfuse") & means["method"].isin(GRAPH_MODELS)]
    base = means[~((means["family"] == "graphfuse") & means["method"].isin(GRAPH_MODELS))]
    if not graph.empty and not base.empty:
        g = graph.loc[graph["roc_auc"].idxmax()]
        b = base.loc[base["roc_auc"].idxmax()]
        b_name = (
            PEER_NAMES.get(b["method"], b["method"])
            if b["family"] == "peer"
            else (f"graphfuse {b['method']}")
        )
        ahead = g["roc_auc"] >= b["roc_auc"]
        lines.append(
            f"Best graph model by mean AUC{over}: graphfuse {g['method']} ({g['protocol']}) "
            f"{g['roc_auc']:.3f}; best baseline: {b_name} ({b['protocol']}) {b['roc_auc']:.3f}. "
            + (
                "The graph model is at least equal to the best baseline."
                if ahead
                else "The graph model is below the best baseline: graphs add nothing here in AUC."
            )
        )
    ours = means[means["family"] == "graphfuse"].set_index(["method", "protocol"])["seconds"]
    ratios = [
        ours[(m, "cv")] / ours[(m, "holdout")]
        for m in ours.index.get_level_values(0).unique()
        if (m, "cv") in ours.index and (m, "holdout") in ours.index and ours[(m, "holdout")] > 0
    ]
    if ratios:
        lines.append(
            f"Cost of the cv protocol (5 inner folds + refit): {np.median(ratios):.1f}x a holdout "
            f"fit (median over {len(ratios)} models; range {min(ratios):.1f}-{max(ratios):.1f}x)."
        )
    return lines


def write_report(
    csv_path: Path,
    md_path: Path,
    *,
    title: str,
    notes: list[str],
    multiclass: bool,
    order: list[str],
) -> str:
    """Render ``md_path`` from ``csv_path`` (methods in ``order``); returns the table."""
    rows = _ordered(pd.read_csv(csv_path), order)
    table = markdown(cohort_table(rows, multiclass=multiclass))
    text = "\n".join(
        [
            f"# {title}",
            "",
            *[f"- {n}" for n in notes],
            "",
            table,
            "",
            *[f"- {line}" for line in findings(rows)],
            "",
            f"Per-seed rows: `{csv_path.name}`; the splits used: `{csv_path.stem}_splits.csv`.",
            "",
        ]
    )
    md_path.write_text(text)
    return table
