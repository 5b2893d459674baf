import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

from graphfuse.graphs import KNNBuilder


def brute(x, fit, k, metric):
    d = pairwise_distances(x, x[fit], metric=metric)
    for pos, row in enumerate(fit):
        d[row, pos] = np.inf
    return [set(fit[np.argsort(d[i], kind="stable")[:k]]) for i in range(len(x))]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "correlation"])
def test_exact_neighbours_from_fitted_rows(metric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    fit = np.arange(0, 40, 2)
    ei, w = KNNBuilder(k=3, metric=metric, symmetric=False).edges(x, fit)
    expected = brute(x, fit, 3, metric)
    for i in range(40):
        assert set(ei[0, ei[1] == i]) == expected[i]
    assert np.all((w > 0) & (w <= 1))


def test_every_row_gets_k_fitted_neighbours_and_none_leave_unfitted_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    fit = np.arange(20)
    ei, _ = KNNBuilder(k=4, symmetric=True).edges(x, fit)
    indeg = np.bincount(ei[1], minlength=30)
    assert (indeg[20:] == 4).all()  # unfitted rows: exactly k, all from fitted rows
    assert (indeg[:20] >= 4).all()  # fitted rows: k plus mirrored edges
    assert np.isin(ei[0], fit).all()  # no message leaves an unfitted row
    assert not (ei[0] == ei[1]).any()  # no self loops
    pairs = set(zip(ei[0].tolist(), ei[1].tolist(), strict=True))
    assert len(pairs) == ei.shape[1]  # no duplicate edges
    assert all((d, s) in pairs for s, d in pairs if d < 20)  # symmetric among fitted rows


def test_k_larger_than_fitted_rows_is_capped():
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    ei, _ = KNNBuilder(k=10, symmetric=False).edges(x, np.arange(3))
    assert (np.bincount(ei[1], minlength=6) == 2).all()


def test_unweighted_edges():
    x = np.random.default_rng(3).normal(size=(10, 3)).astype(np.float32)
    _, w = KNNBuilder(k=2, weighted=False).edges(x, np.arange(10))
    assert (w == 1).all()
