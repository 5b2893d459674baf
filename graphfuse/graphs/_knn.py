"""k-nearest-neighbour patient-similarity graphs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from graphfuse.graphs._base import BUILDERS, PatientGraphBuilder, check_rows, saved
from graphfuse.graphs._search import NeighbourIndex, SearchParams

if TYPE_CHECKING:
    from typing_extensions import Self

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
    rows are mirrored, so a fitted row may have more. The rows outside ``fit`` get
    theirs from :meth:`attach`, which attaches new rows the same way later: the index
    and ``m`` are kept (:meth:`state`: ``{"scale": m}`` for Euclidean distance, and the
    HNSW graph of an approximate index).

    Attributes
    ----------
    scale_
        ``m`` of the latest :meth:`edges` call (1 for cosine and correlation).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 5)).astype(np.float32)
    >>> builder = KNNBuilder(k=3, symmetric=False)
    >>> ei, w = builder.edges(x, np.arange(15))
    >>> np.bincount(ei[1], minlength=20).tolist() == [3] * 20
    True
    >>> ref_pos, new_pos, weight = builder.attach(x[15:])  # the same edges again
    >>> bool((ei[:, ei[1] >= 15] == np.stack([ref_pos, new_pos + 15])).all())
    True
    """

    Params = KNNParams

    scale_: float

    def edges(self, x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        fit = np.asarray(fit, dtype=np.int64)
        n, n_fit = x.shape[0], len(fit)
        self._reference(x, fit, {})
        self.scale_ = 1.0
        k = self._k()
        if k == 0:
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
        # a fitted patient is not its own neighbour
        nbr, score = self._index.query(x[fit], k, exclude=np.arange(n_fit))
        if p.metric == "euclidean":
            self.scale_ = float(np.median(-score)) or 1.0
        rest = np.setdiff1d(np.arange(n), fit)
        ref_pos, _, rest_weight = self.attach(x[rest])  # k per row, in row order, best first
        src = np.empty((n, k), dtype=np.int64)
        weight = np.empty((n, k), dtype=np.float32)
        src[fit], weight[fit] = fit[nbr], self._weight(score)
        src[rest], weight[rest] = fit[ref_pos].reshape(-1, k), rest_weight.reshape(-1, k)
        src, weight = src.ravel(), weight.ravel()
        dst = np.repeat(np.arange(n), k)
        if p.symmetric:
            is_fit = np.zeros(n, dtype=bool)
            is_fit[fit] = True
            both = is_fit[dst]  # src is always fitted
            src, dst = np.concatenate([src, dst[both]]), np.concatenate([dst, src[both]])
            weight = np.concatenate([weight, weight[both]])
            # an edge found from both ends appears twice: keep one copy
            key = src * n + dst
            _, first = np.unique(key, return_index=True)
            src, dst, weight = src[first], dst[first], weight[first]
        return np.stack([src, dst]).astype(np.int64), weight.astype(np.float32)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``{"scale": m}`` (Euclidean distance; ``{}`` otherwise), and the index's arrays.

        See :meth:`PatientGraphBuilder.state`.
        """
        self._check_fitted("state")
        values = {"scale": self.scale_} if self.params.metric == "euclidean" else {}
        return values, {} if self._index is None else self._index.state()

    def restore(
        self, x_ref: np.ndarray, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> Self:
        """Prepare to :meth:`attach` to the fitted rows ``x_ref``; see the base class."""
        x_ref = check_rows(x_ref, None, "the fitted rows of knn")
        scale = 1.0
        if self.params.metric == "euclidean":
            scale = float(saved(values, "scale", "knn with metric euclidean"))
        self._reference(x_ref, None, arrays)
        self.scale_ = scale
        return self

    def attach(self, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each new row's ``k`` most similar fitted rows, best first; see the base class."""
        self._check_fitted("attach")
        x_new = check_rows(x_new, self._n_features, "the new rows of knn")
        k = self._k()
        if k == 0 or len(x_new) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        nbr, score = self._index.query(x_new, k)
        new_pos = np.repeat(np.arange(len(x_new), dtype=np.int64), k)
        return nbr.ravel().astype(np.int64), new_pos, self._weight(score).ravel()

    def _reference(
        self, x: np.ndarray, rows: np.ndarray | None, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """Index the fitted rows ``x[rows]`` (all of ``x``: ``None``) for :meth:`attach`."""
        p = self.params
        self.n_fitted_ = int(x.shape[0] if rows is None else len(rows))
        self._n_features = int(x.shape[1])
        self._index: NeighbourIndex | None = None
        if self.n_fitted_ > 1:
            index = NeighbourIndex(p.metric, **p.search_options())
            self._index = index.restore(x, arrays, rows)

    def _k(self) -> int:
        n = self.n_fitted_ or 0
        return min(self.params.k, n - 1) if n > 1 else 0

    def _weight(self, score: np.ndarray) -> np.ndarray:
        """Edge weights of neighbour scores (similarity, or negative distance)."""
        if not self.params.weighted:
            return np.ones(score.shape, dtype=np.float32)
        if self.params.metric == "euclidean":
            return (1.0 / (1.0 + -score / self.scale_)).astype(np.float32)
        return ((1.0 + score) / 2.0).astype(np.float32)
