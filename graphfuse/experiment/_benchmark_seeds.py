"""The explainer benchmark over training seeds, with the controls a reviewer asks for first.

``benchmark_seeds(config, seeds=[0, 1, 2, 3, 4])`` trains the config's model once per seed
(the same cohort; the seed decides the split and the initialisation), explains it with every
explainer, and tests each gene ranking against the cohort's reference biology
(``benchmark.reference``; the synthetic cohort: its planted truth):

- over-representation of the top-``k`` genes (each ``k`` of ``benchmark.top_k``) against
  the genes the model saw, per collection with BH FDR, and the rank of each reference set
  among all the collection's sets; the overlap of the top-``k`` with the reference genes
  (hypergeometric p and a permutation p against size-matched random lists from the same
  background); a preranked test of the reference sets; Spearman with a reference ranking;
- the same tests of the **controls**: the explainers' consensus (mean rank), a model-free
  ranking (``|t|`` on training patients), the ``logistic`` baseline's coefficients, and the
  **null**: the same model trained on permuted labels, explained the same way;
- stability across seeds (top-``k`` Jaccard, Kendall's tau) and agreement between rankings.

A gene measured by several features (probes) takes the largest score of its features.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse.config import ExperimentConfig
from graphfuse.data import GeneSets, load_cohort
from graphfuse.enrich import Universe, ora, rank_test
from graphfuse.errors import ConfigError
from graphfuse.experiment._benchmark import (
    COLLECTIONS,
    METHODS,
    _background,
    _check_arguments,
    _collections,
    _declared_reference,
)
from graphfuse.experiment._benchmark_controls import (
    coefficient_ranking,
    consensus_ranking,
    model_free_ranking,
    permuted_cohort,
)
from graphfuse.experiment._benchmark_reference import (
    _gene_reference,
    _pathway_reference,
    _Reference,
    _reference,
)
from graphfuse.experiment._fit import fit
from graphfuse.experiment._progress import ProgressCallback, ProgressSetting, reporting

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["SeedsBenchmarkResult", "benchmark_seeds"]

#: Kinds of ranking in the tables.
EXPLAINER, CONSENSUS, CONTROL, NULL = "explainer", "consensus", "control", "null"
MODEL_FREE, LOGISTIC = "t-test", "logistic"


@dataclass
class SeedsBenchmarkResult:
    """What :func:`benchmark_seeds` measured (each table is also a CSV in ``out``).

    Attributes
    ----------
    per_seed
        One row per seed, ranking and ``k``: ``kind`` (explainer, consensus, control,
        null), ``seconds``, ``ref_overlap``, ``ref_n`` (reference genes in the
        background), ``ref_p`` (hypergeometric), ``ref_perm_p`` (random lists), per
        collection ``sig_<c>`` (sets at ``fdr``), ``ref_rank_<c>`` (best rank of a
        reference set by ORA p), ``ref_sig_<c>`` (reference sets at ``fdr``) and
        ``ref_pathway_perm_p_<c>``; per seed and ranking (``k``-free) ``preranked_p``
        and ``spearman``.
    summary
        One row per ranking: mean and sd over seeds of those columns at every ``k``
        (``<column>@<k>_mean`` / ``_sd``), ``frac_perm_p_lt_0.05@<k>``, and ``test_auc``.
    stability
        Per ranking: mean and sd over seed pairs of the top-``k`` Jaccard and of Kendall's
        tau of the scores.
    agreement
        Mean over seeds of the top-``k`` Jaccard between rankings (headline ``k``).
    models
        Per seed: the test metrics of the graph model, the logistic baseline and the null
        model.
    reference_sets
        Per seed, ranking, ``k`` and collection, each reference set tested: its ``rank``
        among the ``of`` sets of the collection (by ORA p), ``overlap``, ``size``, ``p``,
        ``fdr``.
    verdict
        Plain sentences: explanations against the model-free ranking, the null's
        calibration, each explainer against random lists.
    """

    per_seed: pd.DataFrame
    summary: pd.DataFrame
    stability: pd.DataFrame
    agreement: pd.DataFrame
    models: pd.DataFrame
    reference_sets: pd.DataFrame
    verdict: list[str]
    notes: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    rankings: dict[int, dict[str, pd.Series]] = field(default_factory=dict)
    out: Path | None = None
    run_id: str | None = None

    def print_summary(self, console: Console | None = None) -> None:
        """Print the per-ranking summary, the verdict and where the report is."""
        from graphfuse.experiment._benchmark_seeds_report import print_seeds_report

        print_seeds_report(self, console)


def benchmark_seeds(
    config: ExperimentConfig,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    methods: Sequence[str] = METHODS,
    collections: Sequence[str] = COLLECTIONS,
    top_k: Sequence[int] | None = None,
    n_permutations: int = 10_000,
    fdr: float = 0.05,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    controls: bool = True,
    null: bool = True,
    out: str | Path = "benchmark-explainers",
    min_size: int = 5,
    max_size: int | None = 500,
    tracking_uri: str | None = None,
    progress: ProgressSetting = False,
) -> SeedsBenchmarkResult:
    """Benchmark the explainers over training seeds, with controls and a null model.

    Parameters
    ----------
    config
        The experiment; ``benchmark.reference`` names its reference biology and
        ``benchmark.top_k`` the list lengths (default 50, 100, 200).
    seeds
        Training seeds (each also seeds the explainers and the random lists).
    methods, collections, n_permutations, fdr, params, min_size, max_size
        As :func:`graphfuse.experiment.benchmark_explainers`.
    top_k
        List lengths (default: ``config.benchmark.top_k``).
    controls
        Also rank genes by the model-free ``|t|`` and the logistic baseline.
    null
        Also train the model on permuted labels and explain it the same way.
    out
        Report folder.
    tracking_uri
        Instead of ``config.tracking.uri``. Every fit of the graph model is logged (run
        ``<stem>-<model>-s<seed>-benchmark``) and the report as one run; the control and
        null fits are not logged (their test metrics are in ``models``).
    progress
        As :func:`graphfuse.experiment.benchmark_explainers`; stage ``"seeds"`` counts
        the seeds.

    Returns
    -------
    SeedsBenchmarkResult
    """
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    methods = list(dict.fromkeys(methods))
    params = {k: dict(v) for k, v in (params or {}).items()}
    ks = sorted(set(top_k if top_k is not None else _config_top_k(config)))
    if not seeds:
        raise ConfigError("benchmark_seeds needs at least one seed")
    _check_arguments(config, methods, params, collections, max(ks), n_permutations, fdr, None)
    if tracking_uri is not None:
        config = config.model_copy(
            update={"tracking": config.tracking.model_copy(update={"uri": tracking_uri})}
        )
    notes: list[str] = []
    options = {"n_permutations": n_permutations, "fdr": fdr, "min": min_size, "max": max_size}
    cohort = load_cohort(config.data, seed=config.seed)
    reference = _reference(cohort, notes, _declared_reference(config, None))
    rows: list[dict[str, Any]] = []
    set_rows: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    rankings: dict[int, dict[str, pd.Series]] = {}
    universes: dict[tuple[str, ...], tuple[dict[str, Universe], dict[str, str]]] = {}
    background: list[str] = []
    with reporting(progress) as report:
        for i, seed in enumerate(seeds):
            if report is not None:
                report("seeds", i, len(seeds), {"seed": seed})
            ranks, seconds, metrics = _seed_rankings(
                config, cohort, seed, methods, params, controls, null, report
            )
            rankings[seed] = ranks
            models.append({"seed": seed, **metrics})
            background, label = _background(metrics.pop("_data"), max(ks), notes if i == 0 else [])
            models[-1].pop("_data", None)
            key = tuple(background)
            if key not in universes:
                universes[key] = _collections(
                    collections, cohort, background, min_size, max_size, notes if i == 0 else []
                )
            sets = universes[key][0]
            for name, ranking in ranks.items():
                kind = _kind(name)
                rows += _test_one(
                    set_rows,
                    seed,
                    name,
                    kind,
                    ranking,
                    seconds.get(name, np.nan),
                    background,
                    sets,
                    reference,
                    ks,
                    options,
                )
        if report is not None:
            report("seeds", len(seeds), len(seeds), {})
    per_seed = pd.DataFrame(rows)
    reference_sets = pd.DataFrame(set_rows)
    models_table = pd.DataFrame(models)
    headline = ks[len(ks) // 2]
    summary = _summarise(per_seed, models_table, ks)
    stability = _stability(rankings, ks, len(background))
    agree = _agreement(rankings, headline)
    verdict = _verdict(summary, headline, reference, len(seeds))
    if not reference.planted and reference.genes is not None:
        n_ref = len(set(reference.genes.genes) & set(background))
        if n_ref < 10:
            notes.append(
                f"only {n_ref} reference genes are in the {len(background)}-gene background: "
                "the reference tests have almost no power, whatever the ranking"
            )
    result = SeedsBenchmarkResult(
        per_seed=per_seed,
        summary=summary,
        stability=stability,
        agreement=agree,
        models=models_table,
        reference_sets=reference_sets,
        verdict=verdict,
        notes=notes,
        settings={
            "seeds": seeds,
            "methods": methods,
            "collections": list(collections),
            "top_k": ks,
            "headline_k": headline,
            "n_permutations": n_permutations,
            "fdr": fdr,
            "min_size": min_size,
            "max_size": max_size,
            "controls": controls,
            "null": null,
            "reference": reference.label,
            "ranking_reference": reference.ranking_label,
            "background": label if background else None,
            "gene_rule": "a gene's score is the largest score of its features",
            "source": str(config.source),
            "params": params,
        },
        rankings=rankings,
    )
    from graphfuse.experiment._benchmark_seeds_report import log_seeds_report, write_seeds_report

    result.out = write_seeds_report(result, Path(out))
    if config.tracking.enabled:
        result.run_id = log_seeds_report(result, config)
    return result


def _config_top_k(config: ExperimentConfig) -> list[int]:
    return list(config.benchmark.top_k) if config.benchmark is not None else [50, 100, 200]


def _kind(name: str) -> str:
    if name.startswith("null:"):
        return NULL
    if name == "consensus":
        return CONSENSUS
    if name in (MODEL_FREE, LOGISTIC):
        return CONTROL
    return EXPLAINER


def _quiet(config: ExperimentConfig, seed: int, **update: Any) -> ExperimentConfig:
    """``config`` at ``seed`` with tracking off (the control and null fits)."""
    tracking = config.tracking.model_copy(update={"enabled": False})
    return config.model_copy(update={"seed": seed, "tracking": tracking, **update})


def _seed_rankings(
    config: ExperimentConfig,
    cohort: Any,
    seed: int,
    methods: list[str],
    params: dict[str, dict[str, Any]],
    controls: bool,
    null: bool,
    report: ProgressCallback | None,
) -> tuple[dict[str, pd.Series], dict[str, float], dict[str, Any]]:
    """One seed's rankings (explainers, consensus, controls, null), their seconds and the
    models' test metrics (``_data``: the graph model's data, for the background)."""
    from graphfuse._threads import auto_threads
    from graphfuse.explain import build_explainers
    from graphfuse.explain import run as run_explainers

    explainers = build_explainers(methods, params)
    threads = auto_threads(cohort.n_patients, config.train.threads)
    fitted = fit(config.model_copy(update={"seed": seed}), cohort=cohort, run_suffix="benchmark")
    atts = run_explainers(
        fitted.model, fitted.data, explainers, seed=seed, threads=threads, progress=report
    )
    ranks = {m: a.gene_importance() for m, a in atts.items()}
    seconds = {m: float(a.seconds) for m, a in atts.items()}
    metrics: dict[str, Any] = {"_data": fitted.data, "model_run_id": fitted.run_id}
    metrics |= _test_metrics(fitted, "model")
    if len(ranks) > 1:
        ranks["consensus"] = consensus_ranking({m: ranks[m] for m in methods})
        seconds["consensus"] = sum(seconds[m] for m in methods)
    if controls:
        start = time.perf_counter()
        ranks[MODEL_FREE] = model_free_ranking(fitted.data)
        seconds[MODEL_FREE] = time.perf_counter() - start
        start = time.perf_counter()
        model = config.model.model_copy(update={"name": "logistic", "params": {}})
        logistic = fit(_quiet(config, seed, model=model), cohort=cohort, splits=fitted.splits)
        ranks[LOGISTIC] = coefficient_ranking(logistic.model, logistic.data)
        seconds[LOGISTIC] = time.perf_counter() - start
        metrics |= _test_metrics(logistic, LOGISTIC)
    if null:
        shuffled = permuted_cohort(cohort, seed=10_000 + seed)
        nfit = fit(_quiet(config, seed), cohort=shuffled)
        natts = run_explainers(
            nfit.model, nfit.data, explainers, seed=seed, threads=threads, progress=report
        )
        for m, a in natts.items():
            ranks[f"null:{m}"] = a.gene_importance()
            seconds[f"null:{m}"] = float(a.seconds)
        metrics |= _test_metrics(nfit, "null")
    return ranks, seconds, metrics


def _test_metrics(fitted: Any, prefix: str) -> dict[str, float]:
    test = fitted.metrics.get("test", {})
    return {f"{prefix}_{k}": float(v) for k, v in test.items() if k in ("roc_auc", "accuracy")}


def _test_one(
    set_rows: list[dict[str, Any]],
    seed: int,
    name: str,
    kind: str,
    ranking: pd.Series,
    seconds: float,
    background: list[str],
    universes: dict[str, Universe],
    reference: _Reference,
    ks: list[int],
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every test of one ranking at every ``k``, one row per ``k``; appends the rank, p and
    FDR of each reference set to ``set_rows``."""
    ranking = ranking[ranking.index.isin(set(background))]
    perm = {"n_permutations": options["n_permutations"], "seed": seed}
    fdr = options["fdr"]
    free: dict[str, Any] = {"preranked_p": np.nan, "spearman": np.nan}
    ref_sets = {n: reference.matches(u.sets) for n, u in universes.items() if reference.pathways}
    members = _reference_members(universes, ref_sets)
    if members is not None and len(members):
        pre = rank_test(ranking, members, min_size=1, max_size=None)
        free["preranked_p"] = float(pre["p"].min())
    if reference.ranking is not None:
        shared = ranking.index.intersection(reference.ranking.index)
        if len(shared) > 2:
            free["spearman"] = float(
                pd.Series(ranking.loc[shared]).corr(reference.ranking.loc[shared], "spearman")
            )
    rows = []
    for k in ks:
        top = list(ranking.index[:k])
        row: dict[str, Any] = {"seed": seed, "ranking": name, "kind": kind, "k": k}
        row |= {"seconds": seconds, **free}
        if reference.genes is not None:
            g = _gene_reference(name, top, background, reference, perm)
            row |= {
                "ref_overlap": g.get("overlap", np.nan),
                "ref_n": g.get("n_reference", 0),
                "ref_p": g.get("p", np.nan),
                "ref_perm_p": g.get("permutation_p", np.nan),
            }
        for cname, universe in universes.items():
            table = ora(top, universe)
            row[f"sig_{cname}"] = int((table["fdr"] < fdr).sum())
            refs = set(ref_sets.get(cname, []))
            if not refs:
                continue
            table = table.assign(reference=table["set"].isin(refs))
            ranks = np.flatnonzero(table["reference"].to_numpy()) + 1  # table sorted by p
            row[f"ref_rank_{cname}"] = int(ranks.min())
            for rank in ranks:
                hit = table.iloc[rank - 1]
                set_rows.append(
                    {"seed": seed, "ranking": name, "kind": kind, "k": k, "collection": cname}
                    | {
                        "set": hit["set"],
                        "rank": int(rank),
                        "of": len(table),
                        "overlap": int(hit["overlap"]),
                    }
                    | {"size": int(hit["size"]), "p": float(hit["p"]), "fdr": float(hit["fdr"])}
                )
            row[f"n_sets_{cname}"] = len(table)
            p = _pathway_reference(name, cname, top, universe, table, fdr, perm)
            row[f"ref_sig_{cname}"] = p.get("n_significant", 0)
            row[f"ref_pathway_perm_p_{cname}"] = p.get("permutation_p", np.nan)
        rows.append(row)
    return rows


def _reference_members(
    universes: dict[str, Universe], ref_sets: dict[str, list[str]]
) -> GeneSets | None:
    """The reference sets (restricted to the background), from whichever collection has
    them, for the preranked test."""
    sets: dict[str, list[str]] = {}
    for cname, names in ref_sets.items():
        for n in names:
            sets.setdefault(f"{cname}:{n}", list(universes[cname].sets[n]))
    return GeneSets(sets, name="reference") if sets else None


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
