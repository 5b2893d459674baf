"""k-nearest-neighbour patient-similarity graphs."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from graphfuse.graphs._base import BUILDERS, PatientGraphBuilder
from graphfuse.graphs._search import NeighbourIndex, SearchParams

__all__ = ["KNNBuilder"]


class KNNParams(SearchParams):
    k: int = Field(10, ge=1, le=1000)
    """Neighbours per patient, drawn from the fitted (training) patients."""
    metric: Literal["cosine", "euclidean", "correlation"] = "cosine"
    symmetric: bool = True
    """Also add the reverse of edges between two fitted patients (as MOGONET does)."""
    weighted: bool = True
    """Weight edges by similarity (see :class:`KNNBuilder`); ``false`` gives weight 1."""


@BUILDERS.register("knn")
class KNNBuilder(PatientGraphBuilder):
    """Connect each patient to its ``k`` most similar fitted patients.

    Similarity is cosine, Pearson correlation (cosine of row-centred features), or
    negative Euclidean distance. Edge weights are ``(1 + s) / 2`` in ``[0, 1]`` for
    cosine and correlation and ``1 / (1 + d / m)`` for Euclidean distance ``d``, with
    ``m`` the median neighbour distance among fitted patients.

    Search (``index``): exact, in blocks of bounded memory, up to 50,000 fitted patients
    (``auto``) or always (``exact``); above that (``auto``) or always (``approximate``)
    an HNSW index (Malkov & Yashunin, IEEE TPAMI 2020; faiss, the ``graphfuse[ann]``
    extra), which found ≥ 99 % of the exact 10 nearest neighbours of 100,000 patients
    (``benchmarks/results/graphs.md``). The index is built on fitted patients only.

    Every row gets exactly ``k`` incoming edges from fitted rows (fewer only if fewer
    than ``k`` other fitted rows exist); with ``symmetric`` the edges among fitted
    rows are mirrored, so a fitted row may have more.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 5)).astype(np.float32)
    >>> ei, w = KNNBuilder(k=3, symmetric=False).edges(x, np.arange(15))
    >>> np.bincount(ei[1], minlength=20).tolist() == [3] * 20
    True
    """

    Params = KNNParams

    def edges(self, x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        fit = np.asarray(fit, dtype=np.int64)
        n = x.shape[0]
        is_fit = np.zeros(n, dtype=bool)
        is_fit[fit] = True
        fit_pos = np.full(n, -1, dtype=np.int64)
        fit_pos[fit] = np.arange(len(fit))
        k = min(p.k, len(fit) - 1) if len(fit) > 1 else 0
        if k == 0:
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = NeighbourIndex(p.metric, **p.search_options()).fit(x, fit)
        # a fitted patient is not its own neighbour
        nbr, score = index.query(x, k, exclude=fit_pos)
        src = fit[nbr.ravel()]
        dst = np.repeat(np.arange(n), k)
        if p.metric == "euclidean":
            dist = -score.ravel()
            scale = float(np.median(dist[is_fit[dst]])) or 1.0
            weight = 1.0 / (1.0 + dist / scale)
        else:
            weight = (1.0 + score.ravel()) / 2.0
        if p.symmetric:
            both = is_fit[dst]  # src is always fitted
            src, dst = np.concatenate([src, dst[both]]), np.concatenate([dst, src[both]])
            weight = np.concatenate([weight, weight[both]])
            # an edge found from both ends appears twice: keep one copy
            key = src * n + dst
            _, first = np.unique(key, return_index=True)
            src, dst, weight = src[first], dst[first], weight[first]
        if not p.weighted:
            weight = np.ones_like(weight)
        return np.stack([src, dst]).astype(np.int64), weight.astype(np.float32)
