"""Stability of rankings across runs, agreement between explainers, consensus rankings.

All three compare *global* importances (:meth:`Attribution.feature_importance`,
:meth:`Attribution.gene_importance` or :meth:`Attribution.pathway_importance`): rank
correlations over every item (Spearman's rho, Kendall's tau-b), Kendall's tau over the
union of two top-``k`` sets (do the rankings agree where it matters?), and the overlap
of the top-``k`` sets. An item one attribution lacks counts as importance 0 there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from graphfuse.errors import DataError
from graphfuse.explain._attribution import Attribution, GeneAggregate

__all__ = ["agreement", "consensus_ranking", "rank_stability"]

Level = Literal["feature", "gene", "pathway"]
_COLUMNS = ["spearman", "kendall", "kendall_top", "jaccard", "overlap"]


def rank_stability(
    attributions: Sequence[Attribution] | Mapping[str, Attribution],
    *,
    k: int = 20,
    level: Level = "feature",
    aggregate: GeneAggregate = "max",
    gene_sets: Any = None,
) -> pd.DataFrame:
    """How stable one method's global ranking is across runs (seeds, restarts).

    Parameters
    ----------
    attributions
        Two or more runs of one method, as a sequence (labelled ``seed=<seed>`` where the
        seeds differ, else ``run <i>``) or a ``label -> Attribution`` mapping.
    k
        Size of the top sets compared.
    level
        Rank ``"feature"`` s (``(modality, feature)``), ``"gene"`` s or ``"pathway"`` s
        (needs ``gene_sets``).
    aggregate
        How a gene's features combine into its importance (gene and pathway levels).
    gene_sets
        A :class:`~graphfuse.data.GeneSets` or ``name -> genes`` mapping (pathway level).

    Returns
    -------
    pandas.DataFrame
        One row per pair of runs: ``run_a``, ``run_b``, ``spearman`` (rho over all items),
        ``kendall`` (tau-b over all items), ``kendall_top`` (tau-b over the union of the
        two top-``k`` sets), ``jaccard`` (``|A & B| / |A | B|`` of the top-``k`` sets) and
        ``overlap`` (``|A & B| / k``). ``table.mean(numeric_only=True)`` summarises it.
        A correlation is NaN where an importance vector is constant.

    Examples
    --------
    >>> runs = [explain(model, data, "masking", seed=s) for s in range(3)]  # doctest: +SKIP
    >>> rank_stability(runs, k=20).mean(numeric_only=True)  # doctest: +SKIP
    """
    named = _named(attributions)
    if len(named) < 2:
        raise DataError(f"rank stability needs at least two runs; got {len(named)}")
    imp = {name: _importance(a, level, aggregate, gene_sets) for name, a in named.items()}
    rows = [{"run_a": a, "run_b": b, **_pair(imp[a], imp[b], k)} for a, b in combinations(imp, 2)]
    return pd.DataFrame(rows, columns=["run_a", "run_b", *_COLUMNS])


def agreement(
    attributions: Mapping[str, Attribution],
    *,
    k: int = 20,
    level: Level = "feature",
    aggregate: GeneAggregate = "max",
    gene_sets: Any = None,
) -> pd.DataFrame:
    """Pairwise agreement of several explainers' global rankings.

    Parameters
    ----------
    attributions
        ``name -> Attribution`` (e.g. ``{"saliency": ..., "shap": ...}``) of one model.
    k, level, aggregate, gene_sets
        As in :func:`rank_stability`.

    Returns
    -------
    pandas.DataFrame
        One row per ordered pair of methods, the diagonal included (so
        ``table.pivot(index="method_a", columns="method_b", values="kendall")`` is a full
        symmetric matrix): ``method_a``, ``method_b`` and the columns of
        :func:`rank_stability` (``spearman``, ``kendall``, ``kendall_top``, ``jaccard``,
        ``overlap``). Every measure is symmetric. ``table.attrs`` holds ``k`` and ``level``.
    """
    named = _named(attributions)
    if not named:
        raise DataError("agreement needs at least one attribution")
    imp = {name: _importance(a, level, aggregate, gene_sets) for name, a in named.items()}
    stats_of: dict[tuple[str, str], dict[str, float]] = {}
    for a, b in combinations(imp, 2):
        stats_of[a, b] = stats_of[b, a] = _pair(imp[a], imp[b], k)
    for a in imp:
        stats_of[a, a] = _pair(imp[a], imp[a], k)
    rows = [{"method_a": a, "method_b": b, **stats_of[a, b]} for a in imp for b in imp]
    table = pd.DataFrame(rows, columns=["method_a", "method_b", *_COLUMNS])
    table.attrs |= {"k": k, "level": level}  # named by agreement_figure
    return table


def consensus_ranking(
    attributions: Sequence[Attribution] | Mapping[str, Attribution],
    *,
    method: Literal["mean_rank", "borda"] = "mean_rank",
    k: int | None = None,
    level: Level = "feature",
    aggregate: GeneAggregate = "max",
    gene_sets: Any = None,
) -> pd.Series:
    """One ranking that several attributions (explainers, or runs) agree on.

    Each attribution ranks the items by global importance (rank 1 = most important; tied
    items share their average rank; an item it lacks is tied last).

    - ``"mean_rank"``: items ordered by their mean rank ``r`` over the ``m``
      attributions; the returned score is ``1 - (r - 1) / (N - 1)`` (``N`` items):
      1 for an item every attribution ranks first, 0 for one every attribution ranks last.
      Equal to the normalised Borda count of full rankings.
    - ``"borda"``: Borda count of the top-``k`` lists: an item ranked ``r <= k`` by an
      attribution gets ``k - r + 1`` points from it, otherwise none; the score is the total.
      Only the top of each ranking votes, so a method's ordering of its tail does not count.

    Ties in the consensus keep the first attribution's order.

    Parameters
    ----------
    attributions
        Attributions of one model (sequence or ``name -> Attribution``).
    method
        ``"mean_rank"`` (default) or ``"borda"``.
    k
        Top-list length of ``"borda"`` (default: all items, which orders like
        ``"mean_rank"``); ignored by ``"mean_rank"``.
    level, aggregate, gene_sets
        As in :func:`rank_stability`.

    Returns
    -------
    pandas.Series
        Consensus score per item (higher is more important, so it can be passed to
        :func:`truth_scores` as is), sorted from the most to the least important; named
        ``"consensus"``.
    """
    named = _named(attributions)
    if not named:
        raise DataError("a consensus needs at least one attribution")
    if method not in ("mean_rank", "borda"):
        raise DataError(f"consensus method must be 'mean_rank' or 'borda'; got {method!r}")
    imp = [_importance(a, level, aggregate, gene_sets) for a in named.values()]
    table = _aligned(imp)
    ranks = table.rank(axis=0, ascending=False, method="average")
    n = len(table)
    if method == "mean_rank":
        mean = ranks.mean(axis=1)
        score = 1.0 - (mean - 1.0) / (n - 1) if n > 1 else pd.Series(1.0, index=table.index)
    else:
        top = n if k is None else int(k)
        if top < 1:
            raise DataError(f"k must be a positive top-list length; got {k}")
        score = (top - ranks + 1.0).clip(lower=0.0).sum(axis=1)
    order = np.argsort(-score.to_numpy(), kind="stable")
    return score.iloc[order].rename("consensus")


# --------------------------------------------------------------------------- helpers
def _named(
    attributions: Sequence[Attribution] | Mapping[str, Attribution],
) -> dict[str, Attribution]:
    if isinstance(attributions, Mapping):
        named = {str(name): a for name, a in attributions.items()}
    else:
        runs = list(attributions)
        seeds = [a.seed for a in runs]
        if None not in seeds and len(set(seeds)) == len(seeds):
            named = {f"seed={s}": a for s, a in zip(seeds, runs, strict=True)}
        else:
            named = {f"run {i}": a for i, a in enumerate(runs)}
    for name, a in named.items():
        if not isinstance(a, Attribution):
            raise DataError(f"{name}: expected an Attribution, got {type(a).__name__}")
    return named


def _importance(
    attribution: Attribution, level: str, aggregate: GeneAggregate, gene_sets: Any
) -> pd.Series:
    if level == "feature":
        return attribution.feature_importance()
    if level == "gene":
        return attribution.gene_importance(aggregate)
    if level == "pathway":
        if gene_sets is None:
            raise DataError("level='pathway' needs gene_sets (a GeneSets or name -> genes)")
        return attribution.pathway_importance(gene_sets, aggregate)
    raise DataError(f"level must be 'feature', 'gene' or 'pathway'; got {level!r}")


def _aligned(importances: list[pd.Series]) -> pd.DataFrame:
    """Items x attributions, in the first attribution's order; absent items get 0."""
    index = importances[0].index
    for imp in importances[1:]:
        index = index.append(imp.index.difference(index, sort=False))
    return pd.concat(
        [imp.reindex(index).fillna(0.0) for imp in importances], axis=1, ignore_index=True
    )


def _pair(a: pd.Series, b: pd.Series, k: int) -> dict[str, float]:
    if k < 1:
        raise DataError(f"k must be a positive top-set size; got {k}")
    table = _aligned([a, b])
    x, y = table[0].to_numpy(), table[1].to_numpy()
    top_a = set(_top(a, k))
    top_b = set(_top(b, k))
    union = [i for i in table.index if i in top_a or i in top_b]
    sub = table.loc[union] if union else table.iloc[:0]
    return {
        "spearman": _correlation(stats.spearmanr, x, y),
        "kendall": _correlation(stats.kendalltau, x, y),
        "kendall_top": _correlation(stats.kendalltau, sub[0].to_numpy(), sub[1].to_numpy()),
        "jaccard": len(top_a & top_b) / len(top_a | top_b),
        "overlap": len(top_a & top_b) / min(k, len(a), len(b)),
    }


def _top(importance: pd.Series, k: int) -> list[Any]:
    order = np.argsort(-importance.to_numpy(), kind="stable")
    return [importance.index[i] for i in order[:k]]


def _correlation(fn: Any, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(fn(x, y)[0])
