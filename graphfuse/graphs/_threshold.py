"""MOGONET's similarity-threshold patient graphs, without an N x N matrix."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from graphfuse.graphs._base import BUILDERS, PatientGraphBuilder, check_rows, saved
from graphfuse.graphs._search import NeighbourIndex, SearchParams

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ThresholdBuilder"]


class ThresholdParams(SearchParams):
    k: int = Field(10, ge=1, le=1000)
    """Average neighbours per training patient that fixes the threshold (MOGONET's
    ``adj_parameter`` counts the self-loop too: ``adj_parameter = k + 1``)."""
    metric: Literal["cosine", "correlation"] = "cosine"
    candidates: int = Field(3, ge=1, le=100)
    """Candidate neighbours searched per patient, as a multiple of ``k``; a patient
    whose candidates all pass the threshold is searched wider, so the threshold and
    the edges do not depend on it (only the time does)."""
    min_neighbours: int = Field(1, ge=0, le=1000)
    """A patient with fewer neighbours above the threshold is given its best
    ``min_neighbours`` instead (0: leave it isolated, as MOGONET does)."""
    weighted: bool = True
    """Weight edges by cosine similarity (MOGONET's ``1 - distance``), floored at 0;
    ``false`` gives weight 1."""


@BUILDERS.register("threshold")
class ThresholdBuilder(PatientGraphBuilder):
    """Connect patients whose similarity passes a threshold fitted on training patients.

    MOGONET's rule (Wang et al., "MOGONET integrates multi-omics data using graph
    convolutional networks allowing patient classification and biomarker
    identification", Nat Commun 12, 3445, 2021; ``cal_adj_mat_parameter`` and
    ``gen_adj_mat_tensor`` of its code): the cosine-similarity threshold ``t`` is chosen
    so that the training graph has on average ``k`` neighbours per patient — ``t`` is
    the ``(k * n)``-th largest similarity (counted from 0) among all ordered pairs of
    distinct training patients — and every pair of training patients with similarity
    ``>= t`` is connected both ways. Validation, test and new patients receive an edge
    from every training patient with similarity ``>= t`` (the same ``t``; they send
    none, so they cannot influence the training graph).

    MOGONET sorts all ``n**2`` distances. Here each patient's ``candidates * k`` most
    similar training patients are searched (:class:`~graphfuse.graphs._search.NeighbourIndex`,
    exact or approximate), ``t`` is the same rank statistic over those candidate pairs,
    and a patient whose every candidate passes ``t`` is searched again with twice as
    many, until none does. The candidate pairs then hold every pair above ``t``, so with
    exact search ``t`` and the edges equal the dense computation's (tested). Memory is
    ``O(n * candidates * k)``.

    A patient with fewer than ``min_neighbours`` training neighbours above ``t`` (an
    outlier: MOGONET leaves it with its self-loop only) gets its ``min_neighbours`` most
    similar training patients instead; between two training patients such edges are
    mirrored too, so the training graph stays symmetric. Weights are the similarity
    (floored at 0).

    The held-out patients' edges are those :meth:`attach` gives, which attaches new
    patients the same way later: the index and ``t`` are kept (:meth:`state`:
    ``{"threshold": t}``, and the HNSW graph of an approximate index). Each patient's
    candidates are widened on its own, so its edges do not depend on the others.

    Attributes
    ----------
    threshold_
        The similarity threshold fitted by the latest :meth:`edges` call.
    searched_
        The largest number of candidates searched for one patient in that call.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(40, 6)).astype(np.float32)
    >>> builder = ThresholdBuilder(k=4)
    >>> ei, w = builder.edges(x, np.arange(30))
    >>> train = ei[1] < 30
    >>> round(train.sum() / 30)  # on average k neighbours per training patient
    4
    >>> bool((ei[0] < 30).all())  # every message comes from a training patient
    True
    """

    Params = ThresholdParams

    threshold_: float
    searched_: int

    def edges(self, x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        fit = np.asarray(fit, dtype=np.int64)
        n, n_fit = x.shape[0], len(fit)
        self._reference(x, fit, {})
        self.threshold_, self.searched_ = float("inf"), 0
        if self._index is None:
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)

        # training patients: candidates, then the threshold, widened until it is exact
        cand = _Candidates(self._index, x[fit], np.arange(n_fit), self._width())
        rank = p.k * n_fit
        t = cand.kth_largest(rank)
        while cand.widen(t):
            t = cand.kth_largest(rank)
        self.threshold_ = float(t)

        # held-out patients: attached to the training patients, as new ones would be
        rest = np.setdiff1d(np.arange(n), fit)
        held = self._candidates(x[rest])
        self.searched_ = max(cand.widest, held.widest)

        src_f, dst_f, s_f = cand.edges(t, p.min_neighbours)
        src_h, dst_h, w_h = self._edges(held)
        # training pairs both ways: symmetric even where an approximate search or the
        # best-neighbour fallback found a pair from one end only
        src = np.concatenate([fit[src_f], fit[dst_f], fit[src_h]])
        dst = np.concatenate([fit[dst_f], fit[src_f], rest[dst_h]])
        weight = np.concatenate([self._weight(s_f), self._weight(s_f), w_h])
        _, first = np.unique(src * n + dst, return_index=True)
        src, dst, weight = src[first], dst[first], weight[first]
        return np.stack([src, dst]).astype(np.int64), weight.astype(np.float32)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``{"threshold": t}`` (``None`` with fewer than 2 fitted rows) and the index's arrays.

        See :meth:`PatientGraphBuilder.state`.
        """
        self._check_fitted("state")
        t = self.threshold_ if math.isfinite(self.threshold_) else None
        return {"threshold": t}, {} if self._index is None else self._index.state()

    def restore(
        self, x_ref: np.ndarray, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> Self:
        """Prepare to :meth:`attach` to the fitted rows ``x_ref``; see the base class."""
        x_ref = check_rows(x_ref, None, "the fitted rows of threshold")
        t = saved(values, "threshold", "threshold")
        self._reference(x_ref, None, arrays)
        self.threshold_ = float("inf") if t is None else float(t)
        self.searched_ = 0
        return self

    def attach(self, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges into each new row from every fitted row with similarity ``>= t``.

        A new row with fewer than ``min_neighbours`` of them gets its best
        ``min_neighbours`` instead. Grouped by new row; see the base class.
        """
        self._check_fitted("attach")
        x_new = check_rows(x_new, self._n_features, "the new rows of threshold")
        if self._index is None or len(x_new) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self._edges(self._candidates(x_new))

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

    def _width(self) -> int:
        return min(self.params.candidates * self.params.k, (self.n_fitted_ or 0) - 1)

    def _candidates(self, q: np.ndarray) -> _Candidates:
        """Candidates of query rows, widened until every one ``>= t`` is found."""
        assert self._index is not None
        held = _Candidates(self._index, q, None, self._width())
        while held.widen(self.threshold_):
            pass
        return held

    def _edges(self, held: _Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reference, query, weight) of a held-out search, by query row then reference."""
        ref, row, score = held.edges(self.threshold_, self.params.min_neighbours)
        order = np.lexsort((ref, row))
        return ref[order], row[order], self._weight(score[order])

    def _weight(self, score: np.ndarray) -> np.ndarray:
        if not self.params.weighted:
            return np.ones(score.shape, dtype=np.float32)
        return np.maximum(score, 0.0).astype(np.float32)


class _Candidates:
    """Each query row's best reference rows, searched wider on demand.

    Rows are queries (positions into ``q``); ``self_pos`` gives, per query, its own
    reference position when queries are the reference rows themselves.
    """

    def __init__(
        self, index: NeighbourIndex, q: np.ndarray, self_pos: np.ndarray | None, width: int
    ) -> None:
        self.index, self.q, self.self_pos = index, q, self_pos
        self.max_width = index.n_fit_ - (1 if self_pos is not None else 0)
        self.width = np.full(len(q), min(width, self.max_width), dtype=np.int64)
        nbr, score = self._search(np.arange(len(q)), int(self.width[0]) if len(q) else 0)
        self.rows = [np.repeat(np.arange(len(q)), nbr.shape[1])]
        self.nbr, self.score = [nbr.ravel()], [score.ravel()]
        self.last = score[:, -1] if nbr.shape[1] else np.full(len(q), -np.inf, np.float32)
        self.widest = int(self.width.max()) if len(q) else 0

    def _search(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k == 0 or len(rows) == 0:
            return np.zeros((len(rows), 0), np.int64), np.zeros((len(rows), 0), np.float32)
        exclude = None if self.self_pos is None else self.self_pos[rows]
        return self.index.query(self.q[rows], k, exclude=exclude)

    def kth_largest(self, rank: int) -> float:
        """The ``rank``-th largest candidate score, counted from 0 (the smallest if fewer)."""
        values = np.concatenate(self.score)
        rank = min(rank, len(values) - 1)
        return float(-np.partition(-values, rank)[rank])

    def widen(self, t: float) -> bool:
        """Search twice as wide every row whose candidates may miss scores ``>= t``.

        Each row doubles its own width, so what a row finds never depends on the others.
        """
        full = self.last >= t
        full &= self.width < self.max_width
        todo = np.flatnonzero(full)
        if len(todo) == 0:
            return False
        keep = ~np.isin(np.concatenate(self.rows), todo)
        rows_new = [np.concatenate(self.rows)[keep]]
        nbr_new, score_new = [np.concatenate(self.nbr)[keep]], [np.concatenate(self.score)[keep]]
        for width in np.unique(self.width[todo]):
            rows = todo[self.width[todo] == width]
            wider = int(min(2 * width, self.max_width))
            nbr, score = self._search(rows, wider)
            rows_new.append(np.repeat(rows, wider))
            nbr_new.append(nbr.ravel())
            score_new.append(score.ravel())
            self.width[rows] = wider
            self.last[rows] = score[:, -1]
            self.widest = max(self.widest, wider)
        self.rows, self.nbr, self.score = rows_new, nbr_new, score_new
        return True

    def edges(self, t: float, at_least: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reference, query, score) of candidates ``>= t``, plus each row's best
        ``at_least`` where fewer pass."""
        rows, nbr, score = (np.concatenate(a) for a in (self.rows, self.nbr, self.score))
        above = score >= t
        if at_least > 0 and len(rows):
            count = np.bincount(rows[above], minlength=len(self.q))
            # candidates are stored best first per row: the first at_least of a row
            order = np.argsort(rows, kind="stable")
            rank = np.empty(len(rows), dtype=np.int64)
            starts = np.searchsorted(rows[order], rows[order])
            rank[order] = np.arange(len(rows)) - starts
            above |= (count[rows] < at_least) & (rank < at_least)
        return nbr[above], rows[above], score[above]
