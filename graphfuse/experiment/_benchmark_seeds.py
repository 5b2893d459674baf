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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse._fanout import FanOut
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
from graphfuse.experiment._benchmark_summary import (
    LOGISTIC,
    MODEL_FREE,
    _agreement,
    _kind,
    _stability,
    _summarise,
    _verdict,
)
from graphfuse.experiment._cv import absolute_uri, worker_cohort
from graphfuse.experiment._fit import fit
from graphfuse.experiment._progress import ProgressCallback, ProgressSetting, reporting

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["SeedsBenchmarkResult", "benchmark_seeds"]


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
    fanout: FanOut | None = None,
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
        the seeds (on a cluster only the seeds: the explainers run on the workers).
    fanout
        Where the seeds run (:class:`graphfuse.experiment.FanOut`; ``--workers N`` /
        ``--scheduler ADDRESS``): serially by default, else one task per seed, each
        reading the cohort again (checked against the driver's data fingerprint) and
        logging its own fit; the tests and the report run on the driver. The results are
        those of the serial path.

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
    options = {"n_permutations": n_permutations, "fdr": fdr}
    cohort = load_cohort(config.data, seed=config.seed)
    reference = _reference(cohort, notes, _declared_reference(config, None))
    rows: list[dict[str, Any]] = []
    set_rows: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    rankings: dict[int, dict[str, pd.Series]] = {}
    universes: dict[tuple[str, ...], _Tested] = {}
    background: list[str] = []
    with reporting(progress) as report:
        outputs = _run_seeds(config, cohort, seeds, methods, params, controls, null, report, fanout)
        for i, (seed, (ranks, seconds, metrics)) in enumerate(zip(seeds, outputs, strict=True)):
            rankings[seed] = ranks
            data = metrics.pop("_data")
            models.append({"seed": seed, **metrics})
            background, label = _background(data, max(ks), notes if i == 0 else [])
            key = tuple(background)
            if key not in universes:  # the same background for every seed, usually
                sets, _ = _collections(
                    collections, cohort, background, min_size, max_size, notes if i == 0 else []
                )
                universes[key] = _Tested.of(sets, reference)
            for name, ranking in ranks.items():
                rows += _test_one(
                    set_rows,
                    seed,
                    name,
                    _kind(name),
                    ranking,
                    seconds.get(name, np.nan),
                    background,
                    universes[key],
                    reference,
                    ks,
                    options,
                )
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


@dataclass(frozen=True)
class _SeedTask:
    """One training seed of the benchmark (a picklable task)."""

    config: ExperimentConfig
    cohort: Any  # None on a cluster: the worker reads it again (worker_cohort)
    fingerprint: str
    seed: int
    methods: list[str]
    params: dict[str, dict[str, Any]]
    controls: bool
    null: bool


def _run_seed(task: _SeedTask) -> tuple[dict[str, pd.Series], dict[str, float], dict[str, Any]]:
    cohort = task.cohort
    if cohort is None:
        cohort = worker_cohort(task.config, task.fingerprint, task.config.seed)
    return _seed_rankings(
        task.config, cohort, task.seed, task.methods, task.params, task.controls, task.null, None
    )


def _run_seeds(
    config: ExperimentConfig,
    cohort: Any,
    seeds: list[int],
    methods: list[str],
    params: dict[str, dict[str, Any]],
    controls: bool,
    null: bool,
    report: ProgressCallback | None,
    fanout: FanOut | None,
) -> list[tuple[dict[str, pd.Series], dict[str, float], dict[str, Any]]]:
    """Every seed's rankings, serially (with the explainers' progress) or as tasks."""
    if fanout is None or fanout.serial:
        out = []
        for i, seed in enumerate(seeds):
            if report is not None:
                report("seeds", i, len(seeds), {"seed": seed})
            out.append(
                _seed_rankings(config, cohort, seed, methods, params, controls, null, report)
            )
        if report is not None:
            report("seeds", len(seeds), len(seeds), {})
        return out
    if config.tracking.enabled:  # a worker's working folder may not be the driver's
        from graphfuse.tracking import resolve_tracking_uri

        uri = absolute_uri(resolve_tracking_uri(config.tracking.uri))
        config = config.model_copy(
            update={"tracking": config.tracking.model_copy(update={"uri": uri})}
        )
    fingerprint = cohort.fingerprint()
    tasks = [
        _SeedTask(config, None, fingerprint, s, methods, params, controls, null) for s in seeds
    ]
    done = [0]

    def tick(_: int, __: Any) -> None:
        done[0] += 1
        if report is not None:
            report("seeds", done[0], len(seeds), {})

    if report is not None:
        report("seeds", 0, len(seeds), {})
    return fanout.map(_run_seed, tasks, on_result=tick)


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


@dataclass(frozen=True)
class _Tested:
    """The collections restricted to a background, each one's reference sets, and those
    sets gathered for the preranked test: found once per background, not per ranking."""

    universes: dict[str, Universe]
    ref_sets: dict[str, list[str]]
    members: GeneSets | None

    @classmethod
    def of(cls, universes: dict[str, Universe], reference: _Reference) -> _Tested:
        ref_sets = (
            {n: reference.matches(u.sets) for n, u in universes.items()}
            if reference.pathways
            else {}
        )
        return cls(universes, ref_sets, _reference_members(universes, ref_sets))


def _test_one(
    set_rows: list[dict[str, Any]],
    seed: int,
    name: str,
    kind: str,
    ranking: pd.Series,
    seconds: float,
    background: list[str],
    tested: _Tested,
    reference: _Reference,
    ks: list[int],
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every test of one ranking at every ``k``, one row per ``k``; appends the rank, p and
    FDR of each reference set to ``set_rows``."""
    ranking = ranking[ranking.index.isin(set(background))]
    perm = {"n_permutations": options["n_permutations"], "seed": seed}
    fdr = options["fdr"]
    universes, ref_sets, members = tested.universes, tested.ref_sets, tested.members
    free: dict[str, Any] = {"preranked_p": np.nan, "spearman": np.nan}
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
