"""MOGONET's threshold graph, checked against MOGONET's dense computation."""

import numpy as np
import pytest
import torch

from graphfuse.graphs import ThresholdBuilder


def data(n=80, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[: n // 4] += 2.5  # a tight group: its members pass the threshold with many others
    return x.astype(np.float32)


def mogonet(x, fit, k):
    """MOGONET's utils.py in float64: ``cal_adj_mat_parameter`` + the edges of
    ``gen_adj_mat_tensor`` / ``gen_test_adj_mat_tensor`` (adj_parameter = k + 1)."""
    xt = torch.from_numpy(x).double()

    def cos_dist(a, b):
        return 1 - (a @ b.T) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True).T)

    tr = xt[fit]
    dist = cos_dist(tr, tr)
    parameter = torch.sort(dist.reshape(-1)).values[(k + 1) * len(fit)].item()
    sim_tr = 1 - dist.numpy()
    np.fill_diagonal(sim_tr, -np.inf)
    rest = np.setdiff1d(np.arange(len(x)), fit)
    sim_te = 1 - cos_dist(tr, xt[rest]).numpy()  # training rows x held-out columns
    return 1 - parameter, sim_tr, sim_te, rest


def edge_set(ei):
    return set(zip(ei[0].tolist(), ei[1].tolist(), strict=True))


@pytest.mark.parametrize("candidates", [1, 3])
def test_threshold_and_edges_equal_mogonet_dense(candidates):
    x = data()
    fit = np.sort(np.random.default_rng(1).choice(80, 60, replace=False))
    k = 4
    builder = ThresholdBuilder(k=k, candidates=candidates, min_neighbours=0, index="exact")
    ei, w = builder.edges(x, fit)
    t, sim_tr, sim_te, rest = mogonet(x, fit, k)
    assert builder.threshold_ == pytest.approx(t, abs=1e-5)
    if candidates == 1:
        assert builder.searched_ > k  # the tight group forced a wider search
    got = edge_set(ei)
    tol = 1e-5  # float32 search vs float64 reference: only pairs at the threshold may differ
    for sim, src_ids, dst_ids in [(sim_tr, fit, fit), (sim_te, fit, rest)]:
        src, dst = np.nonzero(sim >= t + tol)
        assert {(a, b) for a, b in zip(src_ids[src], dst_ids[dst], strict=True)} <= got
        src, dst = np.nonzero(sim < t - tol)
        assert not {(a, b) for a, b in zip(src_ids[src], dst_ids[dst], strict=True)} & got
    assert np.all(w >= t - tol) and np.all(w <= 1 + tol)


def test_training_graph_has_k_neighbours_on_average_and_is_symmetric():
    x = data(120, seed=2)
    fit = np.arange(90)
    ei, _ = ThresholdBuilder(k=5, min_neighbours=0).edges(x, fit)
    train = ei[1] < 90
    assert train.sum() / 90 == pytest.approx(5, abs=0.05)  # (k n + 1) pairs pass
    pairs = edge_set(ei[:, train])
    assert all((b, a) in pairs for a, b in pairs)
    assert np.isin(ei[0], fit).all()  # held-out patients send nothing
    assert not (ei[0] == ei[1]).any()


def test_isolated_patients_keep_their_best_neighbour():
    x = data(60, seed=3)
    x[55] = -x[0] * 10  # an outlier far from everyone
    x[10] = np.random.default_rng(0).normal(size=8) * 0.01 - x[:5].mean(axis=0)
    fit = np.arange(50)
    alone, _ = ThresholdBuilder(k=2, min_neighbours=0).edges(x, fit)
    kept, _ = ThresholdBuilder(k=2, min_neighbours=1).edges(x, fit)
    before = np.bincount(alone[1], minlength=60)
    after = np.bincount(kept[1], minlength=60)
    assert (before == 0).any()  # MOGONET's rule leaves someone isolated here
    assert (after >= 1).all()
    added = edge_set(kept) - edge_set(alone)
    for src, dst in added:
        assert before[dst] == 0 or (dst < 50 and before[src] == 0)  # the fallback, mirrored
    pairs = edge_set(kept[:, kept[1] < 50])
    assert all((b, a) in pairs for a, b in pairs)


def test_held_out_features_never_move_the_threshold_or_training_edges():
    x = data(100, seed=4)
    fit = np.arange(0, 100, 4)
    fit = np.setdiff1d(np.arange(100), fit)  # 75 training patients
    builder = ThresholdBuilder(k=4)
    ei, _ = builder.edges(x, fit)
    t = builder.threshold_
    y = x.copy()
    held = np.setdiff1d(np.arange(100), fit)
    y[held] = np.random.default_rng(5).normal(size=(len(held), 8)) * 3
    ej, _ = builder.edges(y, fit)
    assert builder.threshold_ == t
    train = np.zeros(100, dtype=bool)
    train[fit] = True
    assert edge_set(ei[:, train[ei[1]]]) == edge_set(ej[:, train[ej[1]]])


def test_approximate_search_gives_the_same_threshold():
    pytest.importorskip("faiss")
    x = data(400, seed=6)
    fit = np.arange(300)
    exact = ThresholdBuilder(k=5, index="exact")
    approx = ThresholdBuilder(k=5, index="approximate")
    a, _ = exact.edges(x, fit)
    b, _ = approx.edges(x, fit)
    assert approx.threshold_ == pytest.approx(exact.threshold_, abs=1e-3)
    assert len(edge_set(a) & edge_set(b)) / len(edge_set(a)) >= 0.95


def test_transductive_mode_fits_on_everyone():
    x = data(40, seed=7)
    ei, _ = ThresholdBuilder(k=3).edges(x, np.arange(40))
    assert np.bincount(ei[1], minlength=40).sum() / 40 >= 3
