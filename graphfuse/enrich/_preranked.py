"""Preranked enrichment: a rank test over a full gene ranking (no top-k cut)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from graphfuse.data import GeneSets
from graphfuse.enrich._stats import Universe, bh_fdr

__all__ = ["rank_test"]


def rank_test(
    scores: Mapping[str, float] | pd.Series,
    gene_sets: GeneSets,
    *,
    min_size: int = 5,
    max_size: int | None = 500,
) -> pd.DataFrame:
    """Do a set's genes rank higher than the other ranked genes? (Mann-Whitney U, per set).

    For rankings where any top-k cut would be arbitrary (e.g. mean |SHAP| of every gene).
    The background is the ranked genes themselves. The U statistic of each set against
    the rest is computed from rank sums of the whole ranking at once, with the normal
    approximation including the tie correction; one-sided (set ranks higher), BH FDR.

    Parameters
    ----------
    scores
        Gene -> score, higher = more important.
    gene_sets
        The collection.
    min_size, max_size
        Set-size limits among the ranked genes.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``p``: ``set``, ``size``, ``mean_rank_percentile`` (1 = top),
        ``auc`` (``U / (size * (N - size))``: the probability a member outranks a non-member),
        ``z``, ``p``, ``fdr``, ``background_size``, ``collection``.

    Examples
    --------
    >>> gs = GeneSets({"TOP": list("ABCDE"), "LOW": list("VWXYZ")})
    >>> s = {chr(65 + i): 26.0 - i for i in range(26)}
    >>> rank_test(s, gs)[["set", "auc"]].values.tolist()
    [['TOP', 1.0], ['LOW', 0.0]]
    """
    scores = pd.Series(scores, dtype=float).dropna()
    universe = Universe(gene_sets, scores.index, min_size=min_size, max_size=max_size)
    values = scores.reindex(universe.genes).to_numpy()
    ranks = stats.rankdata(values)  # 1 = lowest score, ties averaged
    big_n = len(values)
    n1 = universe.sizes.astype(float)
    n2 = big_n - n1
    rank_sum = universe.membership @ ranks
    u = rank_sum - n1 * (n1 + 1) / 2
    _, tie_counts = np.unique(values, return_counts=True)
    tie_term = (tie_counts**3 - tie_counts).sum() / (big_n * (big_n - 1))
    sigma = np.sqrt(n1 * n2 / 12 * ((big_n + 1) - tie_term))
    z = np.divide(u - n1 * n2 / 2, sigma, out=np.zeros_like(u), where=sigma > 0)
    p = stats.norm.sf(z)
    out = pd.DataFrame(
        {
            "set": universe.sets.names,
            "size": universe.sizes,
            "mean_rank_percentile": 1 - (rank_sum / n1 - 1) / max(big_n - 1, 1),
            "auc": u / (n1 * n2),
            "z": z,
            "p": p,
            "fdr": bh_fdr(p),
            "background_size": big_n,
            "collection": universe.collection,
        }
    )
    return out.sort_values(["p", "set"], kind="stable").reset_index(drop=True)
