"""MOGONET's similarity-threshold patient graphs, without an N x N matrix."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from graphfuse.graphs._base import BUILDERS, PatientGraphBuilder
from graphfuse.graphs._search import NeighbourIndex, SearchParams

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
        if n_fit < 2:
            self.threshold_, self.searched_ = float("inf"), 0
            return np.zeros((2, 0), dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = NeighbourIndex(p.metric, **p.search_options()).fit(x, fit)
        width = min(p.candidates * p.k, n_fit - 1)

        # training patients: candidates, then the threshold, widened until it is exact
        cand = _Candidates(index, x[fit], np.arange(n_fit), width)
        rank = p.k * n_fit
        t = cand.kth_largest(rank)
        while cand.widen(t):
            t = cand.kth_largest(rank)
        self.threshold_ = float(t)

        # held-out patients: candidates widened until every one above t is found
        rest = np.setdiff1d(np.arange(n), fit)
        held = _Candidates(index, x[rest], None, width)
        while held.widen(t):
            pass
        self.searched_ = max(cand.widest, held.widest)

        src_f, dst_f, s_f = cand.edges(t, p.min_neighbours)
        src_h, dst_h, s_h = held.edges(t, p.min_neighbours)
        # training pairs both ways: symmetric even where an approximate search or the
        # best-neighbour fallback found a pair from one end only
        src = np.concatenate([fit[src_f], fit[dst_f], fit[src_h]])
        dst = np.concatenate([fit[dst_f], fit[src_f], rest[dst_h]])
        weight = np.concatenate([s_f, s_f, s_h])
        _, first = np.unique(src * n + dst, return_index=True)
        src, dst, weight = src[first], dst[first], weight[first]
        weight = np.maximum(weight, 0.0) if p.weighted else np.ones_like(weight)
        return np.stack([src, dst]).astype(np.int64), weight.astype(np.float32)


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
        """Search twice as wide every row whose candidates may miss scores ``>= t``."""
        full = self.last >= t
        full &= self.width < self.max_width
        rows = np.flatnonzero(full)
        if len(rows) == 0:
            return False
        width = int(min(2 * self.width[rows].max(), self.max_width))
        nbr, score = self._search(rows, width)
        keep = ~np.isin(np.concatenate(self.rows), rows)
        self.rows = [np.concatenate(self.rows)[keep], np.repeat(rows, width)]
        self.nbr = [np.concatenate(self.nbr)[keep], nbr.ravel()]
        self.score = [np.concatenate(self.score)[keep], score.ravel()]
        self.width[rows] = width
        self.last[rows] = score[:, -1]
        self.widest = max(self.widest, width)
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
