"""k-nearest-neighbour patient-similarity graphs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from graphfuse.graphs._base import BUILDERS, BuilderParams, PatientGraphBuilder

__all__ = ["KNNBuilder"]

_BLOCK = 4096  # query rows per similarity block: bounds memory at (block x n_fit) floats


class KNNParams(BuilderParams):
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
    ``m`` the median neighbour distance among fitted patients. Exact search, in blocks.

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
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if p.metric == "correlation":
            xt = xt - xt.mean(dim=1, keepdim=True)
        if p.metric in ("cosine", "correlation"):
            xt = torch.nn.functional.normalize(xt, dim=1)
        ref = xt[fit]
        is_fit = np.zeros(n, dtype=bool)
        is_fit[fit] = True
        fit_pos = np.full(n, -1, dtype=np.int64)
        fit_pos[fit] = np.arange(len(fit))
        k = min(p.k, len(fit) - 1) if len(fit) > 1 else 0
        if k == 0:
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
        nbr = np.empty((n, k), dtype=np.int64)
        score = np.empty((n, k), dtype=np.float32)
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            q = xt[start:stop]
            if p.metric == "euclidean":
                s = -torch.cdist(q, ref)
            else:
                s = q @ ref.T
            own = fit_pos[start:stop]
            rows = np.flatnonzero(own >= 0)
            if len(rows):  # a fitted patient is not its own neighbour
                s[torch.from_numpy(rows), torch.from_numpy(own[rows])] = -torch.inf
            top = torch.topk(s, k, dim=1)
            nbr[start:stop] = fit[top.indices.numpy()]
            score[start:stop] = top.values.numpy()
        src = nbr.ravel()
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
