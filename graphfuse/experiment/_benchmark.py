"""Explainer benchmark: which explainer recovers known pathways, beats random gene sets, and
at what cost.

``benchmark_explainers(config)`` trains the model (or explains a tracked run), runs every
explainer, and tests each explainer's gene ranking against gene-set collections with the
statistics of :mod:`graphfuse.enrich`:

- over-representation of the top-``k`` genes (hypergeometric, BH FDR) against the **genes the
  model saw** (the genes of its omics features after preprocessing), never the whole genome;
- a preranked rank test of the full ranking (no top-``k`` cut);
- permutation tests against random gene lists of the same size from the same background:
  per pathway, and for the reference (the AD reference on real cohorts, the planted
  pathways on the synthetic one);
- overlap with the reference at gene and pathway level, compute seconds and agreement
  between explainers; on the synthetic cohort, precision and recall of the planted
  pathways among those significant at the FDR level.

It writes one folder (CSV tables, ``report.md``, three figures) and, when tracking is on,
an MLflow run (or logs into ``run_id``)::

    from graphfuse.experiment import benchmark_explainers
    from graphfuse.config import load_config

    result = benchmark_explainers(load_config("configs/ad.yaml"), out="bench")
    result.summary
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graphfuse.config import ExperimentConfig, TrackingConfig
from graphfuse.data import GENE_SET_SOURCES, load_gene_sets
from graphfuse.enrich import Universe, permutation_test, rank_test
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment._benchmark_reference import (
    _gene_reference,
    _pathway_reference,
    _Reference,
    _reference,
    ad_reference,
)
from graphfuse.experiment._explain import explain_run
from graphfuse.experiment._fit import fit
from graphfuse.experiment._progress import ProgressCallback, ProgressSetting, reporting
from graphfuse.graphs import graph_info

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["COLLECTIONS", "METHODS", "BenchmarkResult", "ad_reference", "benchmark_explainers"]

METHODS = ("saliency", "shap", "masking", "sensitivity")
COLLECTIONS = ("go_bp", "reactome", "hallmark")


@dataclass
class BenchmarkResult:
    """What :func:`benchmark_explainers` measured (each table is also a CSV in ``out``).

    Attributes
    ----------
    summary
        One row per explainer: ``seconds``; ``sig_<collection>`` (pathways with ORA
        ``fdr < fdr``) and ``perm_p_<collection>`` (list-level permutation p: more sets at
        ``p < 0.05`` than random lists?); ``ref_gene_overlap`` (top-``k`` genes in the
        reference gene set), ``ref_gene_p`` (hypergeometric) and ``ref_gene_perm_p``
        (empirical, random lists); ``ref_pathways_sig`` (reference pathways significant at
        ``fdr``) and ``ref_pathway_perm_p`` (empirical: smallest reference-pathway p of
        the list against random lists, best collection); ``mean_jaccard`` (top-``k``
        genes, with the other explainers); on the synthetic cohort ``precision``,
        ``recall`` (planted pathways among the ORA-significant ones) and ``chance``.
    enrichment
        :func:`graphfuse.enrich.permutation_test`'s table (ORA columns, ``empirical_p``,
        ``empirical_fdr``, ``n_permutations``, ``seed``) per explainer and collection,
        with ``explainer`` and ``reference`` (the set is a reference pathway) columns.
    preranked
        :func:`graphfuse.enrich.rank_test` per explainer and collection.
    reference
        Per explainer, level (``genes``, ``pathways:<collection>``): ``reference``,
        ``n_reference`` (in the background), ``overlap``, ``n_significant``, ``p``,
        ``permutation_p``, ``statistic`` (what ``permutation_p`` tests).
    recovery
        Synthetic cohort only: per explainer and test (``ora``, ``permutation``,
        ``preranked``): ``n_significant``, ``true_positives``, ``n_planted``, ``n_tested``,
        ``precision``, ``recall``, ``f1``, ``chance`` (precision of a random pick).
    agreement
        :func:`graphfuse.explain.agreement` of the gene rankings (top-``k``).
    background
        ``label``, ``size``, ``genes`` of the background every test used.
    collections
        Requested collection -> what was used (a collection name, or why it was not).
    notes
        Caveats the report states (substituted collections, low power, ...).
    attributions
        ``method -> Attribution``.
    out, run_id, model_run_id
        The report folder, the MLflow run logged into (``None`` with tracking off) and
        the run of the explained model.
    """

    summary: pd.DataFrame
    enrichment: pd.DataFrame
    preranked: pd.DataFrame
    reference: pd.DataFrame
    recovery: pd.DataFrame | None
    agreement: pd.DataFrame | None
    background: dict[str, Any]
    collections: dict[str, str]
    notes: list[str]
    attributions: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None
    run_id: str | None = None
    model_run_id: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def print_summary(self, console: Console | None = None) -> None:
        """Print the per-explainer summary, the background, notes and where the report is
        (what ``graphfuse benchmark explainers`` shows)."""
        from graphfuse.experiment._benchmark_report import print_report

        print_report(self, console)


def benchmark_explainers(
    config: ExperimentConfig | None,
    *,
    methods: Sequence[str] = METHODS,
    collections: Sequence[str] = COLLECTIONS,
    top_k: int = 100,
    n_permutations: int = 10_000,
    fdr: float = 0.05,
    out: str | Path = "benchmark-explainers",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    run_id: str | None = None,
    min_size: int = 5,
    max_size: int | None = 500,
    trust_run: bool = False,
    tracking_uri: str | None = None,
    progress: ProgressSetting = False,
) -> BenchmarkResult:
    """Run every explainer on one model and test its gene ranking against pathways.

    Parameters
    ----------
    config
        The experiment to train (:func:`graphfuse.experiment.fit`). With ``run_id`` it may
        be ``None``; otherwise only its ``tracking`` section is used.
    methods
        Registered explainers.
    collections
        Registered gene-set collections (:func:`graphfuse.data.load_gene_sets`). Where
        none of a collection's sets has ``min_size`` genes in the background (the synthetic
        cohort's made-up gene names are in no real collection), the cohort's own collection
        is used instead, if it has one, and the report says so.
    top_k
        Length of the gene list tested by over-representation and permutations.
    n_permutations
        Random gene lists per permutation test (>= 10,000 for reported p-values).
    fdr
        Benjamini-Hochberg level at which a pathway counts as significant.
    out
        Report folder (created; files in it are overwritten).
    params
        ``method -> its parameters``, e.g. ``{"shap": {"n_permutations": 64}}``.
    seed
        Seed of the explainers and of the random gene lists.
    run_id
        Explain this tracked run's model (:func:`graphfuse.experiment.explain_run`,
        nothing logged by it) instead of training; the benchmark is logged into it.
    min_size, max_size
        Set sizes tested, counted within the background.
    trust_run
        With ``run_id``: explain a run without a data fingerprint tag (see
        :func:`graphfuse.experiment.explain_run`).
    tracking_uri
        The tracking store instead of ``config.tracking.uri`` (also where ``run_id`` is).
    progress
        ``True``: progress bars on standard error, one per explainer (stage
        ``"explain"``) and one over the permutation tests, an explainer's ranking against
        one collection per step (stage ``"enrichment"``); a callable: called as
        ``progress(stage, done, total, info)`` (the protocol of
        :class:`graphfuse.experiment.RichProgress`); ``False``: nothing.

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    ConfigError
        An unknown explainer or collection, or invalid numbers (before anything is trained).
    DataError
        The model saw no gene (no omics modality with ``var["gene"]``).
    """
    methods = list(dict.fromkeys(methods))
    params = {k: dict(v) for k, v in (params or {}).items()}
    _check_arguments(config, methods, params, collections, top_k, n_permutations, fdr, run_id)
    notes: list[str] = []
    tracking = config.tracking if config is not None else TrackingConfig()
    if tracking_uri is not None:
        tracking = tracking.model_copy(update={"uri": tracking_uri})
        if config is not None:
            config = config.model_copy(update={"tracking": tracking})
    with reporting(progress) as report:
        attributions, cohort, data, model_run_id, run_config = _explain(
            config, methods, params, seed, run_id, trust_run, tracking.uri, report
        )

        background, label = _background(data, top_k, notes)

        gene_sets, used = _collections(collections, cohort, background, min_size, max_size, notes)
        reference = _reference(cohort, notes, _declared_reference(config, run_config))
        rankings = {m: a.gene_importance() for m, a in attributions.items()}
        options = {"n_permutations": n_permutations, "seed": seed}
        enrich, pre, ref_rows, list_p = _test_rankings(
            rankings,
            gene_sets,
            reference,
            background,
            top_k,
            fdr,
            min_size,
            max_size,
            options,
            report,
        )
        enrichment = _front(
            pd.concat(enrich, ignore_index=True), ["explainer", "key", "collection"]
        )
        preranked = _front(pd.concat(pre, ignore_index=True), ["explainer", "key", "collection"])
        ref_table = pd.DataFrame(ref_rows)
        empty = ref_table.loc[ref_table["n_reference"] == 0, "level"].unique().tolist()
        if empty and not reference.planted:
            notes.append(
                f"no reference pathway has {min_size}-{max_size} genes in the background in "
                f"{', '.join(e.removeprefix('pathways:') for e in empty)}: the pathway-level "
                "reference test cannot be run there"
            )
        recovery = _recovery(enrichment, preranked, reference, fdr) if reference.planted else None

        from graphfuse.explain import agreement

        agree = agreement(attributions, k=top_k, level="gene") if len(attributions) > 1 else None
        summary = _summary(attributions, enrichment, ref_table, recovery, agree, list_p, fdr)
        if reference.genes is not None and reference.planted is False:
            n_ref = len(set(reference.genes.genes) & set(background))
            if n_ref < 10:
                notes.append(
                    f"only {n_ref} of the {len(reference.genes.genes)} {reference.label} genes are "
                    f"in the {len(background)}-gene background: the gene-level AD test has almost "
                    "no power, whatever the explainer"
                )
        result = BenchmarkResult(
            summary=summary,
            enrichment=enrichment,
            preranked=preranked,
            reference=ref_table,
            recovery=recovery,
            agreement=agree,
            background={"label": label, "size": len(background), "genes": background},
            collections=used,
            notes=notes,
            attributions=attributions,
            settings={
                "methods": methods,
                "collections": list(collections),
                "top_k": top_k,
                "n_permutations": n_permutations,
                "fdr": fdr,
                "seed": seed,
                "min_size": min_size,
                "max_size": max_size,
                "params": {m: a.params for m, a in attributions.items()},
                "reference": reference.label,
                "source": str(config.source) if config is not None else f"run {run_id}",
            },
            model_run_id=model_run_id,
        )
        from graphfuse.experiment._benchmark_report import log_report, write_report

        result.out = write_report(result, Path(out))
        if tracking.enabled:
            result.run_id = log_report(result, tracking, run_id)
        return result


# --------------------------------------------------------------------------- stages
def _check_arguments(
    config: ExperimentConfig | None,
    methods: list[str],
    params: dict[str, dict[str, Any]],
    collections: Sequence[str],
    top_k: int,
    n_permutations: int,
    fdr: float,
    run_id: str | None,
) -> None:
    """Refuse unknown explainers or collections and invalid numbers, before any training."""
    from graphfuse.explain import EXPLAINERS

    unknown = [m for m in [*methods, *params] if m not in EXPLAINERS]
    if unknown or not methods:
        raise ConfigError(
            f"unknown explainer(s) {unknown or '(none given)'}; registered: "
            f"{', '.join(EXPLAINERS.names())}"
        )
    bad = [c for c in collections if c not in GENE_SET_SOURCES]
    if bad or not collections:
        raise ConfigError(
            f"unknown gene-set collection(s) {bad or '(none given)'}; registered: "
            f"{', '.join(GENE_SET_SOURCES.names())}"
        )
    if top_k < 1 or n_permutations < 1 or not 0 < fdr < 1:
        raise ConfigError(
            f"top_k and n_permutations must be positive and 0 < fdr < 1; got top_k={top_k}, "
            f"n_permutations={n_permutations}, fdr={fdr}"
        )
    if config is None and run_id is None:
        raise ConfigError("benchmark_explainers needs a config to train, or a run_id")


def _background(data: Any, top_k: int, notes: list[str]) -> tuple[list[str], str]:
    """The genes of the model's omics features (every test's background) and its label."""
    feature_genes = graph_info(data).feature_genes
    background = sorted({g for genes in feature_genes.values() for g in genes.values()})
    if not background:
        raise DataError(
            f"the model's modalities {list(data.modalities)} map no feature to a gene "
            "(var['gene']); pathway enrichment needs an omics modality with gene names"
        )
    omics = [m for m, genes in feature_genes.items() if genes]
    label = f"{len(background)} genes of the model's omics features after preprocessing"
    label += f" ({', '.join(omics)})"
    if top_k >= len(background):
        raise ConfigError(
            f"top_k={top_k} is not smaller than the {len(background)}-gene background"
        )
    if top_k > len(background) / 4:
        notes.append(
            f"the top-{top_k} list is {top_k / len(background):.0%} of the {len(background)}-gene "
            "background: over-representation has little room; read the preranked test too"
        )
    return background, label


def _test_rankings(
    rankings: dict[str, pd.Series],
    gene_sets: dict[str, Universe],
    reference: _Reference,
    background: list[str],
    top_k: int,
    fdr: float,
    min_size: int,
    max_size: int | None,
    options: dict[str, Any],
    report: ProgressCallback | None = None,
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], list[dict[str, Any]], dict[Any, float]]:
    """Per explainer's gene ranking and collection: the permutation-tested ORA of the top-k,
    the preranked test and the reference rows; and each list's permutation p."""
    enrich, pre, ref_rows = [], [], []
    list_p: dict[tuple[str, str], float] = {}
    total, done = len(rankings) * len(gene_sets), 0
    for method, importance in rankings.items():
        top = list(importance.index[:top_k])
        for name, universe in gene_sets.items():
            if report is not None:
                report("enrichment", done, total, {"explainer": method, "collection": name})
            res = permutation_test(top, universe, **options)
            list_p[method, name] = res.p_value
            refs = set(reference.matches(universe.sets))
            table = res.table.assign(
                explainer=method, key=name, reference=res.table["set"].isin(refs)
            )
            enrich.append(table)
            ranks = rank_test(importance, universe.sets, min_size=min_size, max_size=max_size)
            pre.append(ranks.assign(explainer=method, key=name, reference=ranks["set"].isin(refs)))
            ref_rows.append(_pathway_reference(method, name, top, universe, table, fdr, options))
            done += 1
        ref_rows.append(_gene_reference(method, top, background, reference, options))
    if report is not None:
        report("enrichment", done, total, {})
    return enrich, pre, ref_rows, list_p


def _explain(
    config: ExperimentConfig | None,
    methods: list[str],
    params: dict[str, dict[str, Any]],
    seed: int,
    run_id: str | None,
    trust_run: bool,
    uri: str | None = None,
    report: ProgressCallback | None = None,
) -> tuple[dict[str, Any], Any, Any, str | None, ExperimentConfig | None]:
    """Attributions of a freshly trained model, or of a tracked run's model, and the
    model's config."""
    from graphfuse._threads import auto_threads
    from graphfuse.explain import build_explainers
    from graphfuse.explain import run as run_explainers

    if run_id is not None:
        res = explain_run(
            run_id,
            methods,
            tracking_uri=uri,
            seed=seed,
            params=params,
            log=False,
            trust_run=trust_run,
            progress=report,
        )
        prepared = res.prepared
        return res.attributions, prepared.cohort, prepared.data, run_id, res.config
    explainers = build_explainers(methods, params)
    fitted = fit(config, run_suffix="benchmark")
    threads = auto_threads(fitted.cohort.n_patients, config.train.threads)
    attributions = run_explainers(
        fitted.model, fitted.data, explainers, seed=seed, threads=threads, progress=report
    )
    return attributions, fitted.cohort, fitted.data, fitted.run_id, config


def _declared_reference(
    config: ExperimentConfig | None, run_config: ExperimentConfig | None
) -> Any:
    """``benchmark.reference`` of the config given, else of the explained run's config."""
    for cfg in (config, run_config):
        if cfg is not None and cfg.benchmark is not None and cfg.benchmark.reference is not None:
            return cfg.benchmark.reference
    return None


def _collections(
    names: Sequence[str],
    cohort: Any,
    background: list[str],
    min_size: int,
    max_size: int | None,
    notes: list[str],
) -> tuple[dict[str, Universe], dict[str, str]]:
    """Each requested collection restricted to the background; substitutes the cohort's own
    collection where a real one shares no testable set with the synthetic gene names."""
    out: dict[str, Universe] = {}
    used: dict[str, str] = {}
    own = "gene_sets" in cohort.mdata.uns
    for name in names:
        gs = load_gene_sets(name, cohort=cohort) if name == "synthetic" else load_gene_sets(name)
        shared = len(set(gs.genes) & set(background))
        try:
            out[name] = Universe(gs, background, min_size=min_size, max_size=max_size)
            used[name] = f"{gs.name} ({len(out[name].sets)} sets tested)"
            continue
        except DataError:
            pass
        why = f"{shared} of the {len(background)} background genes are in {gs.name}"
        if own:
            if "synthetic" not in out:
                out["synthetic"] = Universe(
                    load_gene_sets("synthetic", cohort=cohort), background, min_size=min_size
                )
            used[name] = f"synthetic (the cohort's own collection; {why})"
            notes.append(
                f"{name}: {why} (the synthetic cohort's genes are made-up names); the "
                "cohort's own planted pathway collection (uns['gene_sets']) is tested instead"
            )
        else:
            used[name] = f"not tested: {why}, no set has {min_size}+ of them"
            notes.append(f"{name}: not tested, {why}")
    if not out:
        raise DataError(
            f"none of the collections {list(names)} has a set with {min_size}+ genes in the "
            f"{len(background)}-gene background"
        )
    return out, used


def _recovery(
    enrichment: pd.DataFrame, preranked: pd.DataFrame, ref: _Reference, fdr: float
) -> pd.DataFrame:
    """Precision / recall of the planted pathways among those significant at ``fdr``."""
    planted = set(ref.pathways)
    rows = []
    tests = {"ora": (enrichment, "fdr"), "permutation": (enrichment, "empirical_fdr")}
    tests["preranked"] = (preranked, "fdr")
    for test, (frame, column) in tests.items():
        sub = frame[frame["key"] == "synthetic"]
        for method, part in sub.groupby("explainer", sort=False):
            sig = set(part.loc[part[column] < fdr, "set"])
            tested = set(part["set"])
            tp = len(sig & planted)
            n_planted = len(planted & tested)
            precision = tp / len(sig) if sig else 0.0
            recall = tp / n_planted if n_planted else float("nan")
            f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
            rows.append(
                {
                    "explainer": method,
                    "test": test,
                    "n_significant": len(sig),
                    "true_positives": tp,
                    "n_planted": n_planted,
                    "n_tested": len(tested),
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "chance": n_planted / len(tested) if tested else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def _summary(
    attributions: dict[str, Any],
    enrichment: pd.DataFrame,
    reference: pd.DataFrame,
    recovery: pd.DataFrame | None,
    agree: pd.DataFrame | None,
    list_p: dict[tuple[str, str], float],
    fdr: float,
) -> pd.DataFrame:
    rows = []
    names = list(dict.fromkeys(name for _, name in list_p))
    for method, attribution in attributions.items():
        row: dict[str, Any] = {"explainer": method, "seconds": attribution.seconds}
        for name in names:
            part = enrichment[(enrichment["explainer"] == method) & (enrichment["key"] == name)]
            row[f"sig_{name}"] = int((part["fdr"] < fdr).sum())
            row[f"perm_p_{name}"] = list_p[method, name]
        own = reference[reference["explainer"] == method]
        genes = own[own["level"] == "genes"]
        if len(genes) and "overlap" in genes:
            g = genes.iloc[0]
            row |= {
                "ref_gene_overlap": g["overlap"],
                "ref_gene_n": g["n_reference"],
                "ref_gene_p": g.get("p", np.nan),
                "ref_gene_perm_p": g.get("permutation_p", np.nan),
            }
        paths = own[own["level"].str.startswith("pathways:")]
        if "n_significant" in paths:
            row["ref_pathways_sig"] = int(paths["n_significant"].fillna(0).sum())
            perm = paths["permutation_p"].dropna()
            row["ref_pathway_perm_p"] = float(perm.min()) if len(perm) else np.nan
        if agree is not None:
            others = agree[(agree["method_a"] == method) & (agree["method_b"] != method)]
            row["mean_jaccard"] = float(others["jaccard"].mean())
        if recovery is not None:
            r = recovery[(recovery["explainer"] == method) & (recovery["test"] == "ora")]
            if len(r):
                row |= {k: float(r.iloc[0][k]) for k in ("precision", "recall", "f1", "chance")}
        rows.append(row)
    return pd.DataFrame(rows)


def _front(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[[*columns, *[c for c in frame.columns if c not in columns]]]
