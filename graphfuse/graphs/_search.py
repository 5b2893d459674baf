"""Nearest fitted rows of every row: exact blocked search, or an approximate index.

Every patient-similarity builder asks the same question — which fitted (training) rows
are most similar to this row? — and answers it through :class:`NeighbourIndex`: fitted
on the reference rows, then queried with any rows. ``index: exact`` compares each query
with every reference row, in blocks whose score matrix is bounded (:data:`BLOCK_FLOATS`),
so memory stays flat however large the cohort; ``index: approximate`` searches an HNSW
graph (:mod:`graphfuse.graphs._hnsw`, the optional ``graphfuse[ann]`` extra);
``index: auto`` picks exact up to :data:`AUTO_APPROXIMATE_ABOVE` fitted rows and
approximate above. Either way a query row's neighbours and scores are the same, bit for
bit, whichever rows it is queried with (exact search scores rows in products of a fixed
shape, :func:`scores`; HNSW searches each row on its own), so a new patient attached
alone gets the edges it gets in a batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.graphs._base import BuilderParams

__all__ = [
    "AUTO_APPROXIMATE_ABOVE",
    "BLOCK_FLOATS",
    "CHUNK_MACS",
    "NeighbourIndex",
    "SearchParams",
    "chunk_rows",
    "exact_search",
    "prepare",
    "scores",
]

Metric = Literal["cosine", "euclidean", "correlation"]

#: ``index: auto`` searches approximately above this many fitted rows. Measured on 2 cores
#: with 200 features (benchmarks/graphs.py, benchmarks/results/graphs.md): exact search grows
#: with the square of the cohort — 0.6 s at 10,000 rows, 10 s at 50,000, 43 s at 100,000 —
#: while the HNSW index took 7 s at 50,000 and 20 s at 100,000 (recall@10 ≥ 0.999) and
#: 7-9 minutes at 1,000,000. Below 50,000 the index saves seconds at most, and exact search
#: gives exactly ranked, bit-reproducible neighbours.
AUTO_APPROXIMATE_ABOVE = 50_000

#: Multiply-adds of one matrix product of :func:`scores` (see :func:`chunk_rows`).
CHUNK_MACS = 1 << 30

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
    Each row is prepared on its own (numpy's row-wise reductions), so a row comes out
    the same, bit for bit, whichever rows it is prepared with.
    """
    xn = np.array(x, dtype=np.float32, order="C")
    if metric == "correlation":
        xn -= xn.mean(axis=1, keepdims=True)
    if metric in ("cosine", "correlation"):
        norm = np.sqrt(np.square(xn).sum(axis=1, keepdims=True))
        xn /= np.maximum(norm, 1e-12)
    return torch.from_numpy(xn)


def chunk_rows(n_ref: int, n_features: int) -> int:
    """Query rows per matrix product of :func:`scores` against ``n_ref`` reference rows.

    A power of two from 64 to 1,024, about :data:`CHUNK_MACS` multiply-adds per product
    (512 rows against 10,000 of 200 features: a few hundredths of a second, which one
    new patient pays in full, while larger products score many rows faster). It depends
    on the reference rows only: every product has this many rows (the last padded), so
    a row's scores never depend on how many rows are scored with it.

    Examples
    --------
    >>> chunk_rows(10_000, 200), chunk_rows(100, 20), chunk_rows(1_000_000, 200)
    (512, 1024, 64)
    """
    rows = CHUNK_MACS // max(n_ref * n_features, 1)
    return int(min(1024, max(64, 1 << max(int(rows).bit_length() - 1, 0))))


def scores(
    q: torch.Tensor, ref: torch.Tensor, metric: Metric, ref_sq: torch.Tensor | None = None
) -> torch.Tensor:
    """Score every (query, reference) pair of prepared rows (:func:`prepare`).

    Parameters
    ----------
    q, ref
        Prepared ``float32`` rows.
    metric
        ``cosine`` and ``correlation`` give inner products, ``euclidean`` negative
        Euclidean distances.
    ref_sq
        The reference rows' squared norms (``euclidean``), when already known.

    Returns
    -------
    torch.Tensor
        ``float32`` ``(len(q), len(ref))``. A matrix product's rounding depends on its
        shape, so the rows are scored in chunks of :func:`chunk_rows` rows, the last one
        padded with zero rows: each query row's scores are the same, bit for bit, whichever
        other rows are scored with it (a new patient's neighbours do not depend on its batch).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref, q = (prepare(rng.normal(size=(n, 4)), "cosine") for n in (30, 5))
    >>> bool((scores(q[:1], ref, "cosine") == scores(q, ref, "cosine")[:1]).all())
    True
    """
    n, n_ref = q.shape[0], ref.shape[0]
    out = torch.empty(n, n_ref)
    chunk = chunk_rows(n_ref, ref.shape[1])
    ref_t = ref.T
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        if stop - start == chunk:
            torch.mm(q[start:stop], ref_t, out=out[start:stop])
        else:
            padded = q.new_zeros(chunk, q.shape[1])
            padded[: stop - start] = q[start:stop]
            out[start:stop] = torch.mm(padded, ref_t)[: stop - start]
    if metric == "euclidean":
        if ref_sq is None:
            ref_sq = torch.from_numpy(np.square(ref.numpy()).sum(axis=1))
        q_sq = torch.from_numpy(np.square(q.numpy()).sum(axis=1))
        # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r, clamped at 0 where rounding undershoots
        out.mul_(-2.0).add_(q_sq[:, None]).add_(ref_sq[None, :]).clamp_(min=0.0)
        out.sqrt_().neg_()
    return out


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
        Scored by :func:`scores`: a row's results do not depend on the other query rows.
    """
    n, n_ref = q.shape[0], ref.shape[0]
    nbr = np.empty((n, k), dtype=np.int64)
    score = np.empty((n, k), dtype=np.float32)
    chunk = chunk_rows(n_ref, ref.shape[1])
    block = max(chunk, min(4096, BLOCK_FLOATS // max(n_ref, 1)) // chunk * chunk)
    ref_sq = torch.from_numpy(np.square(ref.numpy()).sum(axis=1)) if metric == "euclidean" else None
    for start in range(0, n, block):
        stop = min(start + block, n)
        s = scores(q[start:stop], ref, metric, ref_sq)
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

    def state(self) -> dict[str, np.ndarray]:
        """What rebuilds this index beyond its reference rows, as arrays.

        Exact search needs nothing more; an approximate index gives its serialised HNSW
        graph (``"hnsw"``, ``uint8``; it holds its own copy of the prepared rows), so
        :meth:`restore` neither rebuilds it (minutes at a million rows) nor depends on
        the build being reproducible.
        """
        if self._hnsw is None:
            return {}
        return {"hnsw": self._hnsw.serialize()}

    def restore(
        self, x: np.ndarray, arrays: Mapping[str, np.ndarray], rows: np.ndarray | None = None
    ) -> NeighbourIndex:
        """The index :meth:`fit` built on ``x[rows]``, from those rows and :meth:`state`.

        With a saved HNSW graph in ``arrays`` the graph is loaded, else the index is
        fitted on the rows (exact search: the same index as before).
        """
        if "hnsw" not in arrays:
            return self.fit(x, rows)
        from graphfuse.graphs._hnsw import HNSWIndex

        self.n_fit_ = int(x.shape[0] if rows is None else len(rows))
        self.kind_ = "approximate"
        self._ref = None
        self._hnsw = HNSWIndex(
            self.metric,
            m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
        ).load(np.asarray(arrays["hnsw"]), self.n_fit_, x.shape[1])
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
