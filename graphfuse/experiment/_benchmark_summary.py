"""The tables of the explainer benchmark over seeds: mean and sd per ranking, stability across
seeds (with the Jaccard of random lists), agreement between rankings, and the verdict."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.experiment._benchmark_reference import _Reference

#: Kinds of ranking in the tables.
EXPLAINER, CONSENSUS, CONTROL, NULL = "explainer", "consensus", "control", "null"
MODEL_FREE, LOGISTIC = "t-test", "logistic"


def _kind(name: str) -> str:
    if name.startswith("null:"):
        return NULL
    if name == "consensus":
        return CONSENSUS
    if name in (MODEL_FREE, LOGISTIC):
        return CONTROL
    return EXPLAINER


# ------------------------------------------------------------------ aggregation
_MEASURES = ("ref_overlap", "ref_p", "ref_perm_p", "preranked_p", "spearman")


def _summarise(per_seed: pd.DataFrame, models: pd.DataFrame, ks: list[int]) -> pd.DataFrame:
    """Per ranking: mean and sd over seeds of every measure at every ``k``."""
    out = []
    names = list(dict.fromkeys(per_seed["ranking"]))
    measures = [c for c in per_seed.columns if c.startswith(("sig_", "ref_")) or c in _MEASURES]
    for name in names:
        part = per_seed[per_seed["ranking"] == name]
        row: dict[str, Any] = {"ranking": name, "kind": part["kind"].iloc[0]}
        row["seeds"] = part["seed"].nunique()
        first = part[part["k"] == ks[0]]
        row["seconds_mean"] = float(first["seconds"].mean())
        row["seconds_sd"] = float(first["seconds"].std(ddof=1)) if len(first) > 1 else np.nan
        row |= _auc(name, models)
        for k in ks:
            at = part[part["k"] == k]
            for col in measures:
                if col in ("preranked_p", "spearman") and k != ks[0]:
                    continue
                values = pd.to_numeric(at[col], errors="coerce")
                key = col if col in ("preranked_p", "spearman") else f"{col}@{k}"
                if col.endswith("_p") or "perm_p" in col:
                    values = -np.log10(values.clip(lower=1e-300))
                    key = f"-log10 {key}"
                row[f"{key}_mean"] = float(values.mean())
                row[f"{key}_sd"] = float(values.std(ddof=1)) if values.count() > 1 else np.nan
            if "ref_perm_p" in at:
                row[f"frac_perm_p<0.05@{k}"] = float((at["ref_perm_p"] < 0.05).mean())
        out.append(row)
    return pd.DataFrame(out)


def _auc(name: str, models: pd.DataFrame) -> dict[str, float]:
    column = {
        EXPLAINER: "model_roc_auc",
        CONSENSUS: "model_roc_auc",
        NULL: "null_roc_auc",
    }.get(_kind(name), f"{LOGISTIC}_roc_auc" if name == LOGISTIC else "")
    if column not in models:
        return {"test_auc_mean": np.nan, "test_auc_sd": np.nan}
    values = models[column]
    sd = float(values.std(ddof=1)) if len(values) > 1 else np.nan
    return {"test_auc_mean": float(values.mean()), "test_auc_sd": sd}


def _stability(
    rankings: dict[int, dict[str, pd.Series]], ks: list[int], n_genes: int
) -> pd.DataFrame:
    """Per ranking: top-k Jaccard and Kendall's tau over every pair of seeds, and the
    Jaccard two random top-k lists of the ``n_genes`` background have on average."""
    from scipy.stats import kendalltau

    seeds = list(rankings)
    names = list(dict.fromkeys(n for r in rankings.values() for n in r))
    rows = []
    for name in names:
        row: dict[str, Any] = {"ranking": name, "kind": _kind(name), "pairs": 0}
        pairs = [
            (a, b) for a, b in combinations(seeds, 2) if name in rankings[a] and name in rankings[b]
        ]
        row["pairs"] = len(pairs)
        for k in ks:
            values = [_jaccard(rankings[a][name], rankings[b][name], k) for a, b in pairs]
            row[f"jaccard@{k}_mean"] = float(np.mean(values)) if values else np.nan
            row[f"jaccard@{k}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else np.nan
            row[f"jaccard@{k}_chance"] = _chance_jaccard(k, n_genes)
        taus = []
        for a, b in pairs:
            x, y = rankings[a][name], rankings[b][name]
            shared = x.index.intersection(y.index)
            taus.append(float(kendalltau(x.loc[shared], y.loc[shared]).statistic))
        row["kendall_tau_mean"] = float(np.mean(taus)) if taus else np.nan
        row["kendall_tau_sd"] = float(np.std(taus, ddof=1)) if len(taus) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _chance_jaccard(k: int, n: int) -> float:
    """Expected Jaccard of two independent random ``k``-gene lists from ``n`` genes (exact,
    over the hypergeometric distribution of their overlap)."""
    from scipy.stats import hypergeom

    k = min(k, n)
    if k <= 0:
        return np.nan
    overlap = np.arange(max(0, 2 * k - n), k + 1)
    weights = hypergeom(n, k, k).pmf(overlap)
    return float(np.sum(weights * overlap / (2 * k - overlap)))


def _jaccard(a: pd.Series, b: pd.Series, k: int) -> float:
    x, y = set(a.index[:k]), set(b.index[:k])
    return len(x & y) / len(x | y) if x | y else np.nan


def _agreement(rankings: dict[int, dict[str, pd.Series]], k: int) -> pd.DataFrame:
    """Mean over seeds of the top-``k`` Jaccard between every two rankings of a seed."""
    names = [n for n in dict.fromkeys(n for r in rankings.values() for n in r)]
    matrix = pd.DataFrame(np.nan, index=names, columns=names)
    for a in names:
        for b in names:
            values = [_jaccard(r[a], r[b], k) for r in rankings.values() if a in r and b in r]
            matrix.loc[a, b] = float(np.mean(values)) if values else np.nan
    return matrix.rename_axis("ranking").reset_index()


def _verdict(summary: pd.DataFrame, k: int, reference: _Reference, n_seeds: int) -> list[str]:
    """Plain sentences on what the tables say, at the headline ``k``."""
    s = summary.set_index("ranking")
    lines = _spearman_verdict(s, reference, n_seeds)
    if reference.genes is None:
        return lines or ["no reference biology declared: nothing to judge"]
    col = f"-log10 ref_p@{k}"
    n_ref = s.get(f"ref_n@{k}_mean", pd.Series([0.0])).max()
    if f"{col}_mean" not in s or not n_ref >= 10:
        return [
            *lines,
            f"{n_ref:.0f} reference genes are in the background: the gene-level reference "
            "test is untestable here (no power for any ranking)",
        ]
    explainers = s[s["kind"] == EXPLAINER]
    if len(explainers):
        best = explainers[f"{col}_mean"].idxmax()
        b_mean, b_sd = s.loc[best, f"{col}_mean"], s.loc[best, f"{col}_sd"]
        for control in (MODEL_FREE, LOGISTIC):
            if control not in s.index:
                continue
            c_mean, c_sd = s.loc[control, f"{col}_mean"], s.loc[control, f"{col}_sd"]
            spread = np.nanmax([b_sd, c_sd, 0.0])
            if abs(b_mean - c_mean) <= spread:
                word = "the same as"
            else:
                word = "more than" if b_mean > c_mean else "less than"
            lines.append(
                f"the best explainer ({best}: -log10 p {b_mean:.2f} ± {_sd(b_sd)} of the top-{k}'s "
                f"overlap with the reference genes) recovers {word} the {control} ranking "
                f"({c_mean:.2f} ± {_sd(c_sd)}), over {n_seeds} seed(s)"
            )
        beat = [
            f"{m} {s.loc[m, f'frac_perm_p<0.05@{k}']:.0%}"
            for m in explainers.index
            if f"frac_perm_p<0.05@{k}" in s
        ]
        if beat:
            lines.append(
                f"seeds where the top-{k} beats random lists (permutation p < 0.05): "
                + ", ".join(beat)
            )
    nulls = s[s["kind"] == NULL]
    if len(nulls) and f"frac_perm_p<0.05@{k}" in s:
        frac = float((nulls[f"frac_perm_p<0.05@{k}"] * nulls["seeds"]).sum() / nulls["seeds"].sum())
        n = int(nulls["seeds"].sum())
        lines.append(
            f"null (permuted labels): {frac:.0%} of {n} explanations have permutation p < 0.05 "
            "(a calibrated pipeline gives about 5 %)"
        )
    return lines


def _spearman_verdict(s: pd.DataFrame, reference: _Reference, n_seeds: int) -> list[str]:
    """The explainers' Spearman with the reference ranking, against the controls'."""
    if reference.ranking is None or "spearman_mean" not in s:
        return []
    explainers = s[s["kind"] == EXPLAINER]["spearman_mean"].dropna()
    if explainers.empty:
        return []
    best = explainers.idxmax()
    parts = [
        f"{n} {s.loc[n, 'spearman_mean']:.2f} ± {_sd(s.loc[n, 'spearman_sd'])}"
        for n in s.index
        if np.isfinite(s.loc[n, "spearman_mean"])
    ]
    return [
        f"Spearman with the reference ranking ({reference.ranking_label}), over {n_seeds} "
        f"seed(s): " + "; ".join(parts) + f" (best explainer: {best})"
    ]


def _sd(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"
