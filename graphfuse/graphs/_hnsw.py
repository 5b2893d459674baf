"""Approximate nearest-neighbour search with an HNSW graph (faiss, optional).

Hierarchical navigable small-world graphs (Malkov & Yashunin, "Efficient and robust
approximate nearest neighbor search using Hierarchical Navigable Small World graphs",
IEEE TPAMI 42(4), 2020) as implemented by faiss (Douze et al., "The Faiss library",
2024). Chosen by ``benchmarks/graphs.py --libraries`` (10-NN graph of 100,000 patients, 2
cores, two runs): faiss and hnswlib equally good (20-27 s, recall@10 ≥ 0.999), but hnswlib
is an sdist that must be compiled and was last released in 2023; pynndescent 28-32 s at
recall 0.998 with 1.5x the memory and numba compilation on first use; faiss IVF-Flat fast
but at recall 0.85. faiss is the
``graphfuse[ann]`` extra (``pip install 'graphfuse[ann]'``: a 19 MB wheel, about 65 MB
installed, so optional) and is imported only when an approximate index is built.

The index stores its own copy of the (normalised) reference rows, so the scores it returns
are exact similarities of the neighbours it finds; only the set may miss a few true
neighbours.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

import numpy as np

from graphfuse.errors import GraphfuseError

__all__ = ["HNSWIndex", "faiss_available"]

_CHUNK = 65_536  # rows normalised and added (or searched) at a time: no full normalised copy


def faiss_available() -> bool:
    """Whether faiss (the ``graphfuse[ann]`` extra) can be imported."""
    return importlib.util.find_spec("faiss") is not None


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise GraphfuseError(
            "index: approximate needs faiss, graphfuse's optional approximate-search "
            f"backend: pip install 'graphfuse[ann]' (faiss-cpu) — import failed: {exc}. "
            "Or use index: exact."
        ) from None
    return faiss


class HNSWIndex:
    """An HNSW index over reference rows, queried for each row's ``k`` nearest.

    Parameters
    ----------
    metric
        ``cosine`` and ``correlation`` search by inner product of unit rows,
        ``euclidean`` by L2 distance.
    m, ef_construction, ef_search
        Links per node, candidate list while building and while searching.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(200, 8)).astype(np.float32)
    >>> nbr, score = HNSWIndex("cosine").fit(ref).query(ref[:5], 3, exclude=np.arange(5))
    >>> nbr.shape, bool((nbr != np.arange(5)[:, None]).all())  # doctest: +SKIP
    ((5, 3), True)
    """

    def __init__(
        self,
        metric: Literal["cosine", "euclidean", "correlation"] = "cosine",
        *,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
    ) -> None:
        self.metric = metric
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float32, order="C")  # always a copy: the caller's rows stay
        if self.metric == "correlation":
            x -= x.mean(axis=1, keepdims=True)
        if self.metric in ("cosine", "correlation"):
            norm = np.linalg.norm(x, axis=1, keepdims=True)
            x /= np.maximum(norm, 1e-12)
        return x

    def fit(self, x: np.ndarray, rows: np.ndarray | None = None) -> HNSWIndex:
        """Build the index over ``x[rows]`` (all of ``x`` by default), in chunks."""
        faiss = _faiss()
        kind = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        self._index = faiss.IndexHNSWFlat(x.shape[1], self.m, kind)
        self._index.hnsw.efConstruction = self.ef_construction
        n = x.shape[0] if rows is None else len(rows)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            chunk = x[start:stop] if rows is None else x[rows[start:stop]]
            self._index.add(self._prepare(chunk))
        self.n_fit_ = int(n)
        return self

    def serialize(self) -> np.ndarray:
        """The fitted index as ``uint8`` bytes (faiss' own format, no pickle)."""
        return np.asarray(_faiss().serialize_index(self._index), dtype=np.uint8)

    def load(self, data: np.ndarray, n_fit: int, dim: int) -> HNSWIndex:
        """The index :meth:`serialize` gave, checked to hold ``n_fit`` rows of ``dim`` features."""
        index = _faiss().deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        if index.ntotal != n_fit or index.d != dim:
            raise GraphfuseError(
                f"the saved HNSW index holds {index.ntotal:,} rows of {index.d} features, but "
                f"{n_fit:,} reference rows of {dim} features were given to attach to"
            )
        self._index = index
        self.n_fit_ = int(n_fit)
        return self

    def query(
        self, q: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest reference rows of each query row, best first.

        ``exclude`` gives, per query row, a reference position to leave out (the row
        itself) or -1. Returns positions and scores as
        :meth:`graphfuse.graphs._search.NeighbourIndex.query` does.
        """
        extra = 1 if exclude is not None else 0
        want = k + extra
        self._index.hnsw.efSearch = max(self.ef_search, want)
        nbr = np.empty((q.shape[0], k), dtype=np.int64)
        score = np.empty((q.shape[0], k), dtype=np.float32)
        for start in range(0, q.shape[0], _CHUNK):
            stop = min(start + _CHUNK, q.shape[0])
            d, i = self._search(self._prepare(q[start:stop]), want)
            if exclude is not None:
                d, i = _drop(d, i, exclude[start:stop], k)
            nbr[start:stop], score[start:stop] = i, d
        if self.metric == "euclidean":  # faiss gives squared distances
            score = -np.sqrt(np.maximum(-score, 0.0))
        return nbr, score

    def _search(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        d, i = self._index.search(q, want)
        missing = (i < 0).any(axis=1)
        ef = self._index.hnsw.efSearch
        while missing.any() and ef < self.n_fit_:  # too few found: search those wider
            ef = min(4 * ef, self.n_fit_)
            self._index.hnsw.efSearch = ef
            rows = np.flatnonzero(missing)
            d[rows], i[rows] = self._index.search(q[rows], want)
            missing = (i < 0).any(axis=1)
        self._index.hnsw.efSearch = max(self.ef_search, want)
        if missing.any():  # pragma: no cover - a disconnected HNSW graph; never seen
            raise GraphfuseError(
                f"the HNSW index found fewer than {want} neighbours for {int(missing.sum())} "
                "rows; use index: exact"
            )
        if self.metric == "euclidean":
            return -d, i  # squared L2: negated so that larger is nearer (see query)
        return d, i  # inner product: larger is nearer already


def _drop(d: np.ndarray, i: np.ndarray, own: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row's own position from ``k + 1`` results, else its last result."""
    hit = i == own[:, None]
    last = ~hit.any(axis=1)
    hit[last, -1] = True
    keep = ~hit
    return d[keep].reshape(-1, k), i[keep].reshape(-1, k)
