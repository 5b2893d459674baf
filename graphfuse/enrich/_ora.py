"""Over-representation analysis: one-sided hypergeometric test of a gene list per gene set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphfuse.data import GeneSets
from graphfuse.enrich._stats import Universe, bh_fdr, hypergeom_sf

__all__ = ["ORA_COLUMNS", "ora"]

#: Columns of :func:`ora`'s result.
ORA_COLUMNS = [
    "set", "size", "overlap", "expected", "fold_enrichment", "genes", "p", "fdr",
    "list_size", "background_size", "background", "collection",
]  # fmt: skip


def ora(
    genes: Sequence[str],
    gene_sets: GeneSets | Universe,
    *,
    background: Iterable[str] | None = None,
    background_label: str = "genes the model saw",
    min_size: int = 5,
    max_size: int | None = 500,
) -> pd.DataFrame:
    """Over-representation of ``genes`` (e.g. an explainer's top-k) in each gene set.

    One-sided hypergeometric test against the **background** — by default it must be given:
    the genes the model actually saw, never the whole genome — with Benjamini-Hochberg FDR
    over the tested sets. Set members outside the background are dropped first, and sets
    are kept when ``min_size <= size in background <= max_size``.

    Parameters
    ----------
    genes
        The gene list (unique, all in the background).
    gene_sets
        A collection, or a :class:`Universe` already restricted to a background (reuse it
        across many lists).
    background
        Genes that could have been listed. Required with a :class:`GeneSets`.
    background_label
        How the background is described in the result's ``background`` column.
    min_size, max_size
        Set-size limits within the background.

    Returns
    -------
    pandas.DataFrame
        One row per tested set, sorted by ``p``: ``set``; ``size`` (members in the
        background); ``overlap``; ``expected`` (``size * list_size / background_size``);
        ``fold_enrichment``; ``genes`` (overlapping genes, ``;``-joined); ``p``; ``fdr``;
        ``list_size``; ``background_size``; ``background`` (the label); ``collection``.

    Examples
    --------
    >>> gs = GeneSets({"P1": list("ABCDE"), "P2": list("FGHIJ")})
    >>> res = ora(list("ABCF"), gs, background=list("ABCDEFGHIJKLMNOPQRST"), min_size=2)
    >>> res[["set", "overlap", "genes"]].values.tolist()
    [['P1', 3, 'A;B;C'], ['P2', 1, 'F']]
    """
    if isinstance(gene_sets, Universe):
        universe = gene_sets
    else:
        if background is None:
            raise ValueError(
                "ora() needs the background: the genes the model saw (e.g. the genes of its "
                "omics features), not the whole genome"
            )
        universe = Universe(gene_sets, background, min_size=min_size, max_size=max_size)
    pos = universe.positions(list(genes))
    hit = np.zeros(universe.n, dtype=np.int32)
    hit[pos] = 1
    overlap = universe.membership @ hit
    n, big_n = len(pos), universe.n
    p = hypergeom_sf(overlap, big_n, universe.sizes, n)
    members = sp.csr_matrix(universe.membership.multiply(hit[None, :]))
    members.eliminate_zeros()
    names = np.asarray(universe.genes, dtype=object)
    overlapping = [
        ";".join(names[members.indices[members.indptr[i] : members.indptr[i + 1]]])
        for i in range(members.shape[0])
    ]
    expected = universe.sizes * n / big_n
    out = pd.DataFrame(
        {
            "set": universe.sets.names,
            "size": universe.sizes,
            "overlap": overlap,
            "expected": expected,
            "fold_enrichment": np.divide(
                overlap, expected, where=expected > 0, out=np.zeros(len(p))
            ),
            "genes": overlapping,
            "p": p,
            "fdr": bh_fdr(p),
            "list_size": n,
            "background_size": big_n,
            "background": background_label,
            "collection": universe.collection,
        }
    )
    return out.sort_values(["p", "set"], kind="stable").reset_index(drop=True)
