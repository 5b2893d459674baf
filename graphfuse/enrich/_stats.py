"""Shared statistics: Benjamini-Hochberg FDR, hypergeometric tail tables, membership setup."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy import stats

from graphfuse.data import GeneSets
from graphfuse.errors import DataError

__all__ = ["Universe", "bh_fdr", "hypergeom_sf"]


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1).

    Examples
    --------
    >>> bh_fdr(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q)
    ranked = q[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(ranked, 1.0)
    out[ok] = adjusted
    return out


def hypergeom_sf(overlap: np.ndarray, background: int, set_size: np.ndarray, n: int) -> np.ndarray:
    """``P(X >= overlap)`` for ``X ~ Hypergeom(background, set_size, n)`` (one-sided ORA p)."""
    return stats.hypergeom.sf(np.asarray(overlap) - 1, background, set_size, n)


class Universe:
    """A gene-set collection restricted to a background, as a sparse sets x genes matrix.

    Parameters
    ----------
    gene_sets
        The collection.
    background
        The genes that could have been picked — for an explainer's ranking, the genes the
        model saw. Set members outside it are dropped before testing.
    min_size, max_size
        Keep sets with this many members *in the background*.
    """

    def __init__(
        self,
        gene_sets: GeneSets,
        background: Iterable[str],
        *,
        min_size: int = 5,
        max_size: int | None = 500,
    ) -> None:
        self.genes = sorted(set(background))
        if not self.genes:
            raise DataError("the background gene list is empty")
        self.index = {g: i for i, g in enumerate(self.genes)}
        restricted = gene_sets.restrict(self.genes, min_size=max(min_size, 1))
        restricted = restricted.filter(min_size=min_size, max_size=max_size)
        if not len(restricted):
            raise DataError(
                f"no set of {gene_sets.name!r} has {min_size}-{max_size} genes in the "
                f"{len(self.genes)}-gene background"
            )
        self.collection = gene_sets.name
        self.sets = restricted
        matrix, _ = restricted.membership(self.genes)
        self.membership: sp.csr_matrix = matrix.astype(np.int32)
        self.sizes = np.asarray(self.membership.sum(axis=1)).ravel()

    @property
    def n(self) -> int:
        return len(self.genes)

    def positions(self, genes: Sequence[str], *, what: str = "gene list") -> np.ndarray:
        """Positions of ``genes`` in the background; genes outside it are an error."""
        outside = [g for g in genes if g not in self.index]
        if outside:
            raise DataError(
                f"{len(outside)} gene(s) of the {what} are not in the background, e.g. "
                f"{outside[:5]}; the background must contain every gene that could be ranked"
            )
        pos = np.array([self.index[g] for g in genes], dtype=np.int64)
        if len(np.unique(pos)) != len(pos):
            raise DataError(f"the {what} lists a gene twice")
        return pos
