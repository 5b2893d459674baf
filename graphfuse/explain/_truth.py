"""Scores of a ranking against planted ground truth: precision@k, recall@k, AUPRC.

Each metric is reported beside what a random ranking of the same items would score
(its expectation, exactly), and the *lift* — how many times better than random the
ranking is. On the synthetic cohort (:func:`graphfuse.data.make_synthetic_cohort`) the
truth is planted: :func:`planted_truth` lists it at the level of features, genes and
pathways, and :func:`score_attribution` scores an :class:`Attribution` at every level.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.errors import DataError
from graphfuse.explain._attribution import Attribution, GeneAggregate

__all__ = ["planted_truth", "score_attribution", "truth_scores"]

_PERMUTATION_CHUNK = 256  # permuted rankings scored at a time (bounds memory)


def truth_scores(
    ranking: Sequence[Hashable] | pd.Index | pd.Series,
    truth: Iterable[Hashable],
    *,
    k: int | Sequence[int] = (10, 50, 100),
    universe: Iterable[Hashable] | None = None,
    n_permutations: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Precision@k, recall@k and average precision of a ranking against true items.

    Parameters
    ----------
    ranking
        Items from most to least important (a list or ``Index``), or a ``Series`` of
        scores indexed by item, ranked by *decreasing* score (NaN last). Items with equal
        scores are tied: precision@k counts a tie group straddling rank ``k`` by its
        expected share of true items under random tie-breaking, and AUPRC treats the tie
        group as one threshold (as ``sklearn.metrics.average_precision_score`` does).
    truth
        The true items. Only those in the universe count (a feature removed by
        preprocessing cannot be ranked); ``n_true`` in the result says how many did.
    k
        Cut-offs for precision@k and recall@k; those larger than the universe are left out.
    universe
        All items that could have been ranked (default: the ranked items). Items of the
        universe missing from ``ranking`` are tied at the bottom.
    n_permutations
        If positive, also an empirical p-value per metric: the share of that many random
        rankings (seeded) scoring at least as high, ``(1 + #{null >= observed}) / (1 + n)``.
    seed
        Seed of the random rankings.

    Returns
    -------
    pandas.DataFrame
        One row per metric (index ``metric``: ``precision@k``, ``recall@k``, ``auprc``),
        columns:

        - ``k``: the cut-off (``<NA>`` for AUPRC);
        - ``value``: the ranking's score;
        - ``random``: expected score of a uniformly random ranking of the universe —
          the prevalence ``n_true / n_items`` for precision@k, ``k / n_items`` for
          recall@k, and for average precision the exact expectation
          ``(H_N + (R - 1) / (N - 1) * (N - H_N)) / N`` (``N`` items, ``R`` true,
          ``H_N`` the harmonic number), slightly above the prevalence;
        - ``lift``: ``value / random`` (how many times better than random);
        - ``n_items``, ``n_true``: sizes of the universe and of the truth in it;
        - ``p_value``: only with ``n_permutations > 0``.

    Raises
    ------
    DataError
        The ranking is empty, has duplicate items, or no true item is in the universe.

    Examples
    --------
    >>> table = truth_scores(["a", "b", "c", "d"], {"a", "c"}, k=2)
    >>> table.loc["precision@2", ["value", "random", "lift"]].tolist()
    [0.5, 0.5, 1.0]
    >>> round(float(table.loc["auprc", "value"]), 4)  # (1/1 + 2/3) / 2
    0.8333
    """
    counts, relevant, items = _tie_groups(ranking, universe)
    true_set = set(truth)
    rel = np.asarray([item in true_set for item in items], dtype=bool)
    n_items, n_true = len(items), int(rel.sum())
    if n_true == 0:
        raise DataError(
            f"none of the {len(true_set)} true items is among the {n_items} ranked items; "
            "check that truth and ranking name items the same way (e.g. (modality, feature) "
            "pairs for features, gene symbols for genes)"
        )
    relevant = relevant(rel)
    ks = sorted({int(v) for v in np.atleast_1d(k)})
    if any(v < 1 for v in ks):
        raise DataError(f"k must be positive cut-offs; got {list(np.atleast_1d(k))}")
    ks = [v for v in ks if v <= n_items]
    rows = []
    for cut in ks:
        hits = _hits_at(counts, relevant, cut)
        rows.append((f"precision@{cut}", cut, hits / cut, n_true / n_items))
        rows.append((f"recall@{cut}", cut, hits / n_true, cut / n_items))
    rows.append(("auprc", pd.NA, _average_precision(counts, relevant), _random_ap(n_items, n_true)))
    out = pd.DataFrame(rows, columns=["metric", "k", "value", "random"]).set_index("metric")
    out["k"] = out["k"].astype("Int64")
    out["lift"] = out["value"] / out["random"]
    out["n_items"] = n_items
    out["n_true"] = n_true
    if n_permutations > 0:
        out["p_value"] = _permutation_p(out, ks, rel, n_permutations, seed)
    return out


def planted_truth(cohort: Any) -> dict[str, list[Any]]:
    """The planted ground truth of a synthetic cohort, at each level an explainer ranks.

    Parameters
    ----------
    cohort
        A :class:`~graphfuse.data.Cohort` made by
        :func:`~graphfuse.data.make_synthetic_cohort` (its ``truth`` records the plant).

    Returns
    -------
    dict
        - ``"genes"``: the planted disease genes (members of the disease pathways);
        - ``"features"``: ``(modality, feature)`` pairs carrying planted signal —
          omics features whose ``var["gene"]`` is a planted gene (expression genes,
          methylation probes; plus the recorded ``probes``), the planted imaging regions
          in imaging modalities and the planted clinical variables in clinical ones
          (not their missing-value indicators: values are missing at random);
        - ``"pathways"``: the disease pathways (names in ``uns["gene_sets"]``).

    Raises
    ------
    DataError
        The cohort has no planted truth.
    """
    truth = cohort.truth
    if not truth or "genes" not in truth:
        raise DataError(
            "the cohort has no planted truth (uns['truth'] with 'genes'); only cohorts made "
            "by graphfuse.data.make_synthetic_cohort can be scored against planted truth"
        )
    genes = {str(g) for g in truth["genes"]}
    probes = {str(p) for p in truth.get("probes", [])}
    regions = {str(r) for r in truth.get("imaging_regions", [])}
    clinical = {str(c) for c in truth.get("clinical", [])}
    feature_genes = cohort.feature_genes()
    features: list[tuple[str, str]] = []
    for m, kind in cohort.kinds.items():
        names = [str(f) for f in cohort.modality(m).var_names]
        if kind == "imaging":
            planted = regions
        elif kind == "clinical":
            planted = clinical
        else:
            mapping = feature_genes.get(m, {})
            planted = {f for f, g in mapping.items() if g in genes} | probes
        features += [(m, f) for f in names if f in planted]
    return {
        "genes": sorted(genes),
        "features": features,
        "pathways": [str(p) for p in truth.get("pathways", [])],
    }


def score_attribution(
    attribution: Attribution,
    cohort: Any,
    *,
    k: int | Sequence[int] = (10, 50, 100),
    aggregate: GeneAggregate = "max",
    by_modality: bool = False,
    n_permutations: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Score an attribution's global rankings against a synthetic cohort's planted truth.

    Features are ranked by :meth:`Attribution.feature_importance`, genes by
    :meth:`Attribution.gene_importance` and pathways by
    :meth:`Attribution.pathway_importance` over the cohort's gene sets
    (``uns["gene_sets"]``), each against the matching level of :func:`planted_truth`
    with :func:`truth_scores`. Gene and pathway levels are left out when the attribution
    maps no feature to a gene.

    Parameters
    ----------
    attribution
        Any explainer's attribution of a model trained on ``cohort``.
    cohort
        The synthetic cohort (see :func:`planted_truth`).
    k
        Cut-offs of precision@k and recall@k (those above a level's size are left out).
    aggregate
        How features of one gene become the gene's importance (``max``, ``sum``, ``mean``).
    by_modality
        Also score each modality's features on their own (levels ``features:<modality>``),
        where the modality has planted features.
    n_permutations, seed
        Empirical p-values from seeded random rankings (see :func:`truth_scores`).

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per level and metric; columns ``level`` (``features``, ``genes``,
        ``pathways``, optionally ``features:<modality>``), ``metric``, ``k``, ``value``,
        ``random``, ``lift``, ``n_items``, ``n_true`` (and ``p_value``), as documented
        in :func:`truth_scores`.
    """
    truth = planted_truth(cohort)
    options = {"k": k, "n_permutations": n_permutations, "seed": seed}
    rankings: list[tuple[str, pd.Series, Collection[Any]]] = []
    features = attribution.feature_importance()
    rankings.append(("features", features, truth["features"]))
    if by_modality:
        for m in attribution.modalities:
            planted = [f for f in truth["features"] if f[0] == m]
            if planted:
                rankings.append((f"features:{m}", attribution.feature_importance(m), planted))
    if attribution.feature_genes:
        rankings.append(("genes", attribution.gene_importance(aggregate), truth["genes"]))
        gene_sets = cohort.mdata.uns.get("gene_sets")
        if gene_sets and truth["pathways"]:
            pathways = attribution.pathway_importance(gene_sets, aggregate)
            rankings.append(("pathways", pathways, truth["pathways"]))
    parts = []
    for level, ranking, true in rankings:
        table = truth_scores(ranking, true, **options).reset_index()
        table.insert(0, "level", level)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- helpers
def _tie_groups(
    ranking: Sequence[Hashable] | pd.Index | pd.Series, universe: Iterable[Hashable] | None
) -> tuple[np.ndarray, Any, list[Hashable]]:
    """Items in rank order, the sizes of their tie groups, and a function turning a
    per-item relevance vector into per-group relevant counts."""
    if isinstance(ranking, pd.Series):
        values = pd.to_numeric(ranking, errors="coerce").to_numpy(dtype=float)
        values = np.where(np.isnan(values), -np.inf, values)
        order = np.argsort(-values, kind="stable")
        items = [ranking.index[i] for i in order]
        sorted_values = values[order]
    else:
        items = list(ranking)
        sorted_values = -np.arange(len(items), dtype=float)  # strict order, no ties
    if not items:
        raise DataError("the ranking is empty")
    if len(set(items)) != len(items):
        dupes = pd.Index(items)[pd.Index(items).duplicated()].unique()[:5].tolist()
        raise DataError(f"the ranking names items more than once: {dupes}")
    if universe is not None:
        seen = set(items)
        rest = [u for u in dict.fromkeys(universe) if u not in seen]
        items += rest
        sorted_values = np.concatenate([sorted_values, np.full(len(rest), -np.inf)])
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    counts = np.diff(np.r_[starts, len(items)])

    def relevant(rel: np.ndarray) -> np.ndarray:
        return np.add.reduceat(rel.astype(np.int64), starts)

    return counts, relevant, items


def _hits_at(counts: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Expected true items in the top ``k`` under random tie-breaking."""
    ends = np.cumsum(counts)
    g = int(np.searchsorted(ends, k))  # the group holding rank k
    before = int(ends[g - 1]) if g else 0
    full = float(relevant[:g].sum())
    return full + (k - before) * relevant[g] / counts[g]


def _average_precision(counts: np.ndarray, relevant: np.ndarray) -> float:
    """``sum_g (r_g / R) * precision at the end of group g`` (sklearn's definition)."""
    cum_rel = np.cumsum(relevant)
    cum_n = np.cumsum(counts)
    return float(np.sum(relevant / cum_rel[-1] * cum_rel / cum_n))


def _random_ap(n: int, r: int) -> float:
    """Exact expected average precision of a uniformly random ranking of ``n`` items
    with ``r`` true: each position ``p`` is true with probability ``r / n`` and then
    holds ``1 + (p - 1)(r - 1)/(n - 1)`` true items in expectation."""
    if n == 1:
        return 1.0
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    return (harmonic + (r - 1) / (n - 1) * (n - harmonic)) / n


def _permutation_p(
    table: pd.DataFrame, ks: list[int], rel: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """Empirical p-values of every metric against ``n`` random rankings."""
    rng = np.random.default_rng(seed)
    n_true = rel.sum()
    positions = np.arange(1, len(rel) + 1)
    exceed = np.zeros(len(table))
    observed = table["value"].to_numpy(dtype=float)
    tol = 1e-12
    for start in range(0, n, _PERMUTATION_CHUNK):
        m = min(_PERMUTATION_CHUNK, n - start)
        perm = rel[np.argsort(rng.random((m, len(rel))), axis=1)]
        hits = np.cumsum(perm, axis=1)
        null = []
        for cut in ks:
            null.append(hits[:, cut - 1] / cut)
            null.append(hits[:, cut - 1] / n_true)
        null.append(np.sum(perm * hits / positions, axis=1) / n_true)
        exceed += (np.stack(null, axis=1) >= observed - tol).sum(axis=0)
    return (1.0 + exceed) / (1.0 + n)
