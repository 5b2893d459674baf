"""Similarity Network Fusion, checked against a dense implementation of the paper's equations."""

import numpy as np
import pytest

from graphfuse.errors import GraphfuseError
from graphfuse.graphs import SNFBuilder

EPS = np.spacing(1)


def views(n=36, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.integers(2, size=n)
    a = rng.normal(size=(n, 6)) + 1.5 * group[:, None]
    b = rng.normal(size=(n, 4)) - 1.0 * group[:, None]
    return {"a": a.astype(np.float32), "b": b.astype(np.float32)}


def affinity(x, K, mu, kernel, ref=None):
    """Equation 1 for rows ``x`` against ``ref`` (itself by default), dense float64."""
    own = ref is None
    ref = x if own else ref
    d = np.sqrt(((x[:, None].astype(float) - ref[None].astype(float)) ** 2).sum(-1))
    dr = np.sqrt(((ref[:, None].astype(float) - ref[None].astype(float)) ** 2).sum(-1))
    mean_ref = np.sort(dr, axis=1)[:, 1 : K + 1].mean(1) + EPS
    mean_x = mean_ref if own else np.sort(d, axis=1)[:, :K].mean(1) + EPS
    eps = (mean_x[:, None] + mean_ref[None] + d) / 3
    eps = eps * (eps > EPS) + EPS
    if kernel == "paper":
        return np.exp(-(d**2) / (mu * eps))
    scale = mu * eps
    return np.exp(-(d**2) / (2 * scale**2)) / (np.sqrt(2 * np.pi) * scale)


def normalise(w):
    """Equation 2, symmetrised."""
    rows = w.sum(1) - np.diag(w)
    rows[rows == 0] = 1
    p = w / (2 * rows[:, None])
    np.fill_diagonal(p, 0.5)
    return (p + p.T) / 2


def local(p, K):
    """Equation 3: each row's K largest entries (itself included), summing to 1."""
    s = np.zeros_like(p)
    for i, row in enumerate(p):
        top = np.argsort(-row, kind="stable")[:K]
        s[i, top] = row[top] / row[top].sum()
    return s


def reference_snf(xs, avail, K, mu, t, kernel):
    """Dense SNF over all patients; pairs averaged over the modalities both patients have."""
    n = avail.shape[0]
    P, S, M = [], [], []
    for x, has in zip(xs, avail.T, strict=True):
        idx = np.flatnonzero(has)
        sub = np.ix_(idx, idx)
        p = normalise(affinity(x[idx], min(K, len(idx) - 1), mu, kernel))
        full_p, full_s = np.zeros((n, n)), np.zeros((n, n))
        full_p[sub], full_s[sub] = p, local(p, min(K, len(idx)))
        P.append(full_p)
        S.append(full_s)
        M.append(np.outer(has, has).astype(float))
    for _ in range(t):
        new = []
        for v in range(len(xs)):
            num = sum(P[u] for u in range(len(xs)) if u != v)
            cnt = sum(M[u] for u in range(len(xs)) if u != v)
            mid = np.where(cnt > 0, num / np.maximum(cnt, 1), P[v]) * M[v]
            new.append(S[v] @ mid @ S[v].T)  # equation 6
        for v, has in enumerate(avail.T):
            idx = np.flatnonzero(has)
            P[v] = np.zeros((n, n))
            P[v][np.ix_(idx, idx)] = normalise(new[v][np.ix_(idx, idx)])
    count = sum(M)
    return normalise(np.where(count > 0, sum(P) / np.maximum(count, 1), 0.0))


@pytest.mark.parametrize("kernel", ["gaussian", "paper"])
@pytest.mark.parametrize("missing", [False, True])
def test_fused_similarity_equals_dense_reference(kernel, missing):
    xs = views()
    avail = np.ones((36, 2), dtype=bool)
    if missing:
        avail[[1, 4, 9, 16, 25], 0] = False
        avail[[2, 3, 30], 1] = False
    got = SNFBuilder(local_k=6, iterations=8, kernel=kernel).similarity(xs, avail, np.arange(36))
    want = reference_snf(list(xs.values()), avail, 6, 0.5, 8, kernel)
    assert got.shape == (36, 36)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-6)
    assert np.allclose(got, got.T)


def test_one_modality_is_self_diffusion():
    xs = {"a": views()["a"]}
    avail = np.ones((36, 1), dtype=bool)
    got = SNFBuilder(local_k=5, iterations=3).similarity(xs, avail, np.arange(36))
    want = reference_snf([xs["a"]], avail, 5, 0.5, 3, "gaussian")
    assert np.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_graph_is_fitted_on_training_patients_and_attaches_the_rest():
    xs = views(48, seed=1)
    avail = np.ones((48, 2), dtype=bool)
    avail[40, 0] = False  # a held-out patient with one modality
    avail[41] = False  # and one with none
    avail[5, 1] = False  # a training patient lacking one
    fit = np.arange(36)
    ei, w = SNFBuilder(k=4, local_k=6).fuse(xs, avail, fit)
    assert np.isin(ei[0], fit).all()  # messages only from training patients
    indeg = np.bincount(ei[1], minlength=48)
    assert (indeg[36:41] == 4).all() and (indeg[42:] == 4).all() and indeg[41] == 0
    assert (indeg[:36] >= 4).all()
    pairs = {(a, b) for a, b in ei.T.tolist() if b < 36}
    assert all((b, a) in pairs for a, b in pairs)  # symmetric among training patients
    assert np.all((w > 0) & (w <= 1))


def test_held_out_row_is_its_local_kernel_through_the_fused_matrix():
    xs = views(40, seed=2)
    avail = np.ones((40, 2), dtype=bool)
    fit = np.arange(30)
    builder = SNFBuilder(k=3, local_k=5, iterations=5)
    fused = builder.similarity(xs, avail, fit).astype(float)
    q = 35
    row = np.zeros(30)
    for x in xs.values():
        w = affinity(x[[q]], 5, 0.5, "gaussian", ref=x[fit])[0]
        top = np.argsort(-w)[:5]
        row += (w[top] / w[top].sum()) @ fused[top]
    row /= 2
    ei, _ = builder.fuse(xs, avail, fit)
    assert set(ei[0, ei[1] == q]) == set(np.argsort(-row)[:3])


def test_held_out_features_never_change_the_fitted_graph():
    xs = views(50, seed=3)
    avail = np.ones((50, 2), dtype=bool)
    fit = np.arange(0, 50, 5)
    fit = np.setdiff1d(np.arange(50), fit)
    builder = SNFBuilder(k=4, local_k=6)
    ei, wi = builder.fuse(xs, avail, fit)
    held = np.setdiff1d(np.arange(50), fit)
    rng = np.random.default_rng(4)
    scrambled = {m: x.copy() for m, x in xs.items()}
    for x in scrambled.values():
        x[held] = rng.normal(size=(len(held), x.shape[1])) * 5
    ej, wj = builder.fuse(scrambled, avail, fit)
    assert np.array_equal(
        builder.similarity(xs, avail, fit), builder.similarity(scrambled, avail, fit)
    )
    train = np.isin(np.arange(50), fit)
    a, b = train[ei[1]], train[ej[1]]
    assert np.array_equal(ei[:, a], ej[:, b]) and np.array_equal(wi[a], wj[b])


def test_too_many_patients_is_refused_with_advice():
    xs = views(30)
    with pytest.raises(GraphfuseError, match=r"max_patients=10.*knn, threshold"):
        SNFBuilder(max_patients=10).fuse(xs, np.ones((30, 2), dtype=bool), np.arange(30))
