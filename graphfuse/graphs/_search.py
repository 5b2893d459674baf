"""Nearest fitted rows of every row: exact blocked search, or an approximate index.

Every patient-similarity builder asks the same question — which fitted (training) rows
are most similar to this row? — and answers it through :class:`NeighbourIndex`: fitted
on the reference rows, then queried with any rows. ``index: exact`` compares each query
with every reference row, in blocks whose score matrix is bounded (:data:`BLOCK_FLOATS`),
so memory stays flat however large the cohort; ``index: approximate`` searches an HNSW
graph (:mod:`graphfuse.graphs._hnsw`, the optional ``graphfuse[ann]`` extra);
``index: auto`` picks exact up to :data:`AUTO_APPROXIMATE_ABOVE` fitted rows and
approximate above.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.graphs._base import BuilderParams

__all__ = [
    "AUTO_APPROXIMATE_ABOVE",
    "BLOCK_FLOATS",
    "NeighbourIndex",
    "SearchParams",
    "exact_search",
    "prepare",
]

Metric = Literal["cosine", "euclidean", "correlation"]

#: ``index: auto`` searches approximately above this many fitted rows. Measured on 2 cores
#: with 200 features (benchmarks/graphs.py, benchmarks/results/graphs.md): exact search grows
#: with the square of the cohort — 0.6 s at 10,000 rows, 10 s at 50,000, 43 s at 100,000 —
#: while the HNSW index took 7 s at 50,000 and 20 s at 100,000 (recall@10 ≥ 0.999) and
#: 7-9 minutes at 1,000,000. Below 50,000 the index saves seconds at most, and exact search
#: gives exactly ranked, bit-reproducible neighbours.
AUTO_APPROXIMATE_ABOVE = 50_000

#: Most similarity scores held at once by the exact search (64 MiB of float32): a block of
#: ``BLOCK_FLOATS // n_fitted`` query rows (at least 64, at most 4,096) is scored at a time.
BLOCK_FLOATS = 1 << 24


class SearchParams(BuilderParams):
    """Parameters of the neighbour search shared by the builders that search."""

    index: Literal["exact", "approximate", "auto"] = "auto"
    """``exact``: blocked brute force; ``approximate``: an HNSW index (needs the
    ``graphfuse[ann]`` extra); ``auto``: exact up to 50,000 fitted patients, then
    approximate (exact, with a warning, when the extra is not installed)."""
    hnsw_m: int = Field(32, ge=4, le=256)
    """HNSW links per node (approximate search): more is slower to build, higher recall."""
    ef_construction: int = Field(200, ge=8, le=4096)
    """HNSW candidate list while building the index. faiss' default (40) and 80 lost
    recall on large clustered cohorts (recall@10 0.94 at 300,000 patients with 80,
    0.998 with 200; 0.997 at 1,000,000); 200 is also hnswlib's default."""
    ef_search: int = Field(64, ge=8, le=4096)
    """HNSW candidate list while searching (raised to ``k + 1`` when smaller): larger
    is slower and gives higher recall."""

    def search_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`NeighbourIndex` these parameters give."""
        return {
            "index": self.index,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }


def prepare(x: np.ndarray | torch.Tensor, metric: Metric) -> torch.Tensor:
    """Rows ready for inner-product (cosine, correlation) or Euclidean comparison.

    Correlation rows are centred, cosine and correlation rows scaled to unit length (a
    zero row stays zero). Returns a new ``float32`` tensor; ``x`` is never modified.
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).clone()
    if metric == "correlation":
        xt -= xt.mean(dim=1, keepdim=True)
    if metric in ("cosine", "correlation"):
        xt = torch.nn.functional.normalize(xt, dim=1)
    return xt


def exact_search(
    q: torch.Tensor,
    ref: torch.Tensor,
    k: int,
    metric: Metric,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best reference rows of each query row, by exhaustive blocked search.

    Parameters
    ----------
    q, ref
        Prepared rows (:func:`prepare`).
    k
        Neighbours per query row, ``k <= len(ref)`` (``len(ref) - 1`` with ``exclude``).
    metric
        As passed to :func:`prepare`.
    exclude
        Per query row, a reference position it may not have (itself), or -1.

    Returns
    -------
    nbr, score
        ``int64`` and ``float32`` arrays ``(len(q), k)``, best first: reference
        positions, and similarities (inner product) or negative Euclidean distances.
    """
    n, n_ref = q.shape[0], ref.shape[0]
    nbr = np.empty((n, k), dtype=np.int64)
    score = np.empty((n, k), dtype=np.float32)
    block = int(min(4096, max(64, BLOCK_FLOATS // max(n_ref, 1))))
    for start in range(0, n, block):
        stop = min(start + block, n)
        s = -torch.cdist(q[start:stop], ref) if metric == "euclidean" else q[start:stop] @ ref.T
        if exclude is not None:
            own = exclude[start:stop]
            rows = np.flatnonzero(own >= 0)
            if len(rows):
                s[torch.from_numpy(rows), torch.from_numpy(own[rows])] = -torch.inf
        top = torch.topk(s, k, dim=1)
        nbr[start:stop] = top.indices.numpy()
        score[start:stop] = top.values.numpy()
    return nbr, score


class NeighbourIndex:
    """Search the rows an index was fitted on for the nearest rows of any query.

    Parameters
    ----------
    metric
        ``cosine``, ``correlation`` (similarity: larger is nearer) or ``euclidean``.
    index
        ``exact``, ``approximate`` or ``auto`` (see :class:`SearchParams`).
    hnsw_m, ef_construction, ef_search
        HNSW parameters of the approximate index (Malkov & Yashunin, IEEE TPAMI 2020).

    Attributes
    ----------
    kind_
        ``"exact"`` or ``"approximate"``: the search actually used.
    n_fit_
        Number of reference rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(30, 4)).astype(np.float32)
    >>> idx = NeighbourIndex("cosine", "exact").fit(ref)
    >>> nbr, score = idx.query(ref[:3], 2, exclude=np.arange(3))
    >>> nbr.shape, bool((nbr != np.arange(3)[:, None]).all())
    ((3, 2), True)
    """

    def __init__(
        self,
        metric: Metric = "cosine",
        index: Literal["exact", "approximate", "auto"] = "auto",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
    ) -> None:
        self.metric = metric
        self.index = index
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search

    def fit(self, x: np.ndarray, rows: np.ndarray | None = None) -> NeighbourIndex:
        """Index the reference rows ``x[rows]`` (all of ``x`` when ``rows`` is ``None``).

        Reference position ``i`` (in :meth:`query`'s results) is row ``rows[i]`` of ``x``.
        Passing ``rows`` rather than ``x[rows]`` spares the approximate index a copy.
        """
        self.n_fit_ = int(x.shape[0] if rows is None else len(rows))
        self.kind_ = self._choose(self.n_fit_)
        if self.kind_ == "exact":
            self._ref = prepare(x if rows is None else x[rows], self.metric)
            self._hnsw = None
        else:
            from graphfuse.graphs._hnsw import HNSWIndex

            self._ref = None
            self._hnsw = HNSWIndex(
                self.metric,
                m=self.hnsw_m,
                ef_construction=self.ef_construction,
                ef_search=self.ef_search,
            ).fit(x, rows)
        return self

    def query(
        self, q: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest reference rows of each row of ``q``, best first.

        Parameters
        ----------
        q
            ``float32`` query rows.
        k
            Neighbours per row; at most ``n_fit_`` (``n_fit_ - 1`` with ``exclude``).
        exclude
            Per query row, the reference position of the row itself (it is not its own
            neighbour), or -1.

        Returns
        -------
        nbr, score
            Reference positions and scores ``(len(q), k)``: similarity for cosine and
            correlation, negative Euclidean distance for ``euclidean``.
        """
        if self._hnsw is not None:
            return self._hnsw.query(q, k, exclude)
        return exact_search(prepare(q, self.metric), self._ref, k, self.metric, exclude)

    def _choose(self, n_fit: int) -> Literal["exact", "approximate"]:
        if self.index == "exact":
            return "exact"
        if self.index == "approximate":
            return "approximate"
        if n_fit <= AUTO_APPROXIMATE_ABOVE:
            return "exact"
        from graphfuse.graphs._hnsw import faiss_available

        if faiss_available():
            return "approximate"
        warnings.warn(
            f"index: auto would search {n_fit:,} fitted patients approximately, but faiss is "
            "not installed (pip install 'graphfuse[ann]'); searching exactly, which grows "
            "with the square of the cohort",
            RuntimeWarning,
            stacklevel=3,
        )
        return "exact"
