"""Neighbour search: exact blocks, the approximate (HNSW) index, and ``index: auto``."""

import sys

import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

from graphfuse.errors import GraphfuseError
from graphfuse.graphs import KNNBuilder, NeighbourIndex
from graphfuse.graphs import _search as search


def clustered(n, d=16, clusters=6, seed=0):
    """Patients in a few subtypes: cluster centres in a low-dimensional latent space."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, 4)) * 3
    z = centres[rng.integers(clusters, size=n)] + rng.normal(size=(n, 4))
    w = rng.normal(size=(4, d))
    return (z @ w + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def brute(q, ref, k, metric, exclude=None):
    d = pairwise_distances(q, ref, metric=metric)
    if exclude is not None:
        d[np.arange(len(q)), exclude] = np.inf
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "correlation"])
def test_exact_blocks_match_brute_force(metric, monkeypatch):
    monkeypatch.setattr(search, "BLOCK_FLOATS", 64 * 50)  # several blocks of 64 rows
    x = clustered(300)
    ref = x[:200]
    nbr, score = NeighbourIndex(metric, "exact").fit(ref).query(x, 5, exclude=_self(300, 200))
    d = pairwise_distances(x, ref, metric=metric)
    d[np.arange(200), np.arange(200)] = np.inf
    best = np.sort(d, axis=1)[:, :5]
    # the same distances as brute force (neighbour ids may differ only between ties)
    assert np.allclose(np.take_along_axis(d, nbr, axis=1), best, atol=1e-5)
    assert (np.diff(score, axis=1) <= 1e-6).all()  # best first


def _self(n, n_ref):
    own = np.full(n, -1)
    own[:n_ref] = np.arange(n_ref)
    return own


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_approximate_recall_on_clustered_patients(metric):
    pytest.importorskip("faiss")
    x = clustered(2000)
    ref = x[:1500]
    own = _self(2000, 1500)
    idx = NeighbourIndex(metric, "approximate", hnsw_m=16, ef_construction=40, ef_search=32)
    nbr, score = idx.fit(ref).query(x, 10, exclude=own)
    assert idx.kind_ == "approximate"
    assert not (nbr == own[:, None]).any()  # never its own neighbour
    truth = brute(x, ref, 10, metric, own)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(nbr, truth, strict=True)])
    assert recall >= 0.95
    # the scores are exact similarities of the neighbours found
    exact = -pairwise_distances(x[:5], ref, metric=metric)
    if metric == "cosine":
        exact = 1 + exact
    assert np.allclose(score[:5], np.take_along_axis(exact, nbr[:5], axis=1), atol=1e-4)


def test_approximate_knn_graph_keeps_the_contract():
    pytest.importorskip("faiss")
    x = clustered(400)
    fit = np.arange(300)
    ei, _ = KNNBuilder(k=5, index="approximate").edges(x, fit)
    indeg = np.bincount(ei[1], minlength=400)
    assert (indeg[300:] == 5).all() and (indeg[:300] >= 5).all()
    assert np.isin(ei[0], fit).all() and not (ei[0] == ei[1]).any()
    exact, _ = KNNBuilder(k=5, index="exact").edges(x, fit)
    a = set(zip(*ei, strict=True))
    b = set(zip(*exact, strict=True))
    assert len(a & b) / len(b) >= 0.95


def test_approximate_index_built_on_fitted_rows_only():
    pytest.importorskip("faiss")
    x = clustered(500)
    fit = np.arange(0, 500, 2)
    builder = KNNBuilder(k=4, index="approximate")
    ei, _ = builder.edges(x, fit)
    y = x.copy()
    y[1::2] = np.random.default_rng(1).normal(size=(250, x.shape[1]))  # held-out scrambled
    ej, _ = builder.edges(y, fit)
    train = np.zeros(500, dtype=bool)
    train[fit] = True
    keep_a, keep_b = train[ei[1]], train[ej[1]]
    assert np.array_equal(ei[:, keep_a], ej[:, keep_b])


def test_missing_faiss_is_an_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now fails
    x = clustered(50)
    with pytest.raises(GraphfuseError, match=r"pip install 'graphfuse\[ann\]'"):
        KNNBuilder(k=3, index="approximate").edges(x, np.arange(40))


def test_auto_switches_above_the_threshold(monkeypatch):
    monkeypatch.setattr(search, "AUTO_APPROXIMATE_ABOVE", 100)
    x = clustered(200)
    assert NeighbourIndex("cosine", "auto").fit(x[:100]).kind_ == "exact"
    monkeypatch.setattr("graphfuse.graphs._hnsw.faiss_available", lambda: False)
    with pytest.warns(RuntimeWarning, match=r"graphfuse\[ann\]"):
        idx = NeighbourIndex("cosine", "auto").fit(x[:150])
    assert idx.kind_ == "exact"


def test_auto_uses_the_index_above_the_threshold(monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setattr(search, "AUTO_APPROXIMATE_ABOVE", 100)
    x = clustered(200)
    assert NeighbourIndex("cosine", "auto").fit(x[:150]).kind_ == "approximate"
