"""Attaching new patients to fitted ones: state() -> JSON/npz -> restore() -> attach()."""

import json

import numpy as np
import pytest

from graphfuse.errors import DataError
from graphfuse.graphs import BUILDERS, KNNBuilder, SNFBuilder, ThresholdBuilder, _search

CASES = [
    ("knn", {"k": 4, "metric": "cosine"}),
    ("knn", {"k": 4, "metric": "correlation", "symmetric": False}),
    ("knn", {"k": 4, "metric": "euclidean"}),
    ("knn", {"k": 3, "metric": "euclidean", "symmetric": False, "weighted": False}),
    ("threshold", {"k": 3}),
    ("threshold", {"k": 3, "metric": "correlation", "min_neighbours": 4}),
    ("threshold", {"k": 2, "min_neighbours": 0, "weighted": False}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in params.items())}" for name, params in CASES]


def cohort(n=70, d=24, seed=0):
    """Two groups, a tight cluster (forces wider threshold searches) and an outlier."""
    rng = np.random.default_rng(seed)
    group = rng.integers(2, size=n)
    x = rng.normal(size=(n, d)) + 1.2 * group[:, None] * np.linspace(-1, 1, d)
    x[:6] = x[0] + 0.01 * rng.normal(size=(6, d))
    x[-1] = 40 * rng.normal(size=d)  # a held-out outlier
    fit = np.sort(rng.choice(n - 1, size=48, replace=False))  # scattered, not a prefix
    return x.astype(np.float32), fit, np.setdiff1d(np.arange(n), fit)


def round_trip(values, arrays, path):
    """State as a fitted pipeline saves it: values as JSON, arrays as .npz."""
    values = json.loads(json.dumps(values))
    np.savez(path / "state.npz", **arrays)
    with np.load(path / "state.npz", allow_pickle=False) as saved:
        return values, {key: saved[key] for key in saved.files}


def ordered(src, dst, weight):
    """Edges sorted by (target, source), to compare edge sets with their weights."""
    order = np.lexsort((src, dst))
    return np.stack([src, dst])[:, order], weight[order]


def incoming(ei, w, rows):
    """The edges of ``ei`` into ``rows``."""
    into = np.isin(ei[1], rows)
    return ordered(ei[0, into], ei[1, into], w[into])


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_restored_builder_attaches_held_out_rows_exactly_as_the_fit(name, params, tmp_path):
    x, fit, held = cohort()
    builder = BUILDERS.get(name)(**params)
    ei, w = builder.edges(x, fit)
    values, arrays = round_trip(*builder.state(), tmp_path)
    fresh = BUILDERS.get(name)(**params).restore(x[fit], values, arrays)
    assert fresh.n_fitted_ == len(fit)
    ref_pos, new_pos, weight = fresh.attach(x[held])
    assert ref_pos.dtype == new_pos.dtype == np.int64 and weight.dtype == np.float32
    want_ei, want_w = incoming(ei, w, held)
    got_ei, got_w = ordered(fit[ref_pos], held[new_pos], weight)
    assert want_ei.shape[1] >= (len(held) if params.get("min_neighbours") != 0 else 1)
    assert np.array_equal(got_ei, want_ei) and np.array_equal(got_w, want_w)
    # the fitting builder attaches the same way
    again = ordered(*builder.attach(x[held]))
    assert all(
        np.array_equal(a, b) for a, b in zip(again, ordered(ref_pos, new_pos, weight), strict=True)
    )


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_a_new_rows_edges_do_not_depend_on_its_batch(name, params, monkeypatch):
    monkeypatch.setattr(_search, "CHUNK_MACS", 1)  # products of 64 rows: batches span several
    x, fit, held = cohort()
    builder = BUILDERS.get(name)(**params)
    builder.edges(x, fit)
    rng = np.random.default_rng(5)
    new = (rng.normal(size=(300, x.shape[1])) * rng.uniform(0.5, 3, size=(300, 1))).astype(
        np.float32
    )
    new[:20] = x[held[:20]]
    together = ordered(*builder.attach(new))
    alone = [builder.attach(new[[i]]) for i in range(len(new))]
    assert all((pos == 0).all() for _, pos, _ in alone)
    one_by_one = ordered(
        np.concatenate([ref for ref, _, _ in alone]),
        np.concatenate([np.full(len(ref), i) for i, (ref, _, _) in enumerate(alone)]),
        np.concatenate([wt for _, _, wt in alone]),
    )
    assert np.array_equal(together[0], one_by_one[0])
    assert np.array_equal(together[1], one_by_one[1])
    reversed_ = builder.attach(new[::-1])  # another order, other neighbours in the batch
    back = ordered(reversed_[0], len(new) - 1 - reversed_[1], reversed_[2])
    assert np.array_equal(back[0], together[0]) and np.array_equal(back[1], together[1])


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_new_rows_get_edges_from_fitted_rows_only(name, params):
    x, fit, held = cohort()
    builder = BUILDERS.get(name)(**params)
    ei, _ = builder.edges(x, fit)
    assert np.isin(ei[0], fit).all()
    # twins among the new rows would be each other's best neighbours, were that allowed
    new = np.concatenate([x[held[:5]], x[held[:5]]])
    ref_pos, new_pos, _ = builder.attach(new)
    assert ((ref_pos >= 0) & (ref_pos < len(fit))).all()
    assert set(new_pos.tolist()) <= set(range(10))
    first, second = new_pos < 5, new_pos >= 5
    assert np.array_equal(ref_pos[first], ref_pos[second])


def test_threshold_attach_gives_min_neighbours_to_rows_with_fewer_above_t():
    x, fit, held = cohort()
    isolated = ThresholdBuilder(k=3, min_neighbours=0)
    isolated.edges(x, fit)
    t = isolated.threshold_
    unit = x.astype(float) / np.linalg.norm(x, axis=1, keepdims=True)
    above = (unit[held] @ unit[fit].T >= t).sum(axis=1)
    assert (above == 0).any() and (above > 4).any()
    counts = np.bincount(isolated.attach(x[held])[1], minlength=len(held))
    assert np.array_equal(counts, above)  # MOGONET's rule: every pair above t, else isolated
    values, arrays = isolated.state()
    helped = ThresholdBuilder(k=3, min_neighbours=4).restore(x[fit], values, arrays)
    counts = np.bincount(helped.attach(x[held])[1], minlength=len(held))
    assert np.array_equal(counts, np.maximum(above, 4))  # fewer than 4: the best 4 instead


def test_state_before_fitting_and_bad_inputs_are_clear_errors():
    with pytest.raises(RuntimeError, match=r"KNNBuilder\.state\(\) needs fitted rows"):
        KNNBuilder().state()
    with pytest.raises(RuntimeError, match="call edges"):
        ThresholdBuilder().attach(np.zeros((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="call fuse"):
        SNFBuilder().state()
    x, fit, _ = cohort()
    with pytest.raises(DataError, match="lacks 'scale'"):
        KNNBuilder(metric="euclidean").restore(x[fit], {}, {})
    builder = KNNBuilder().restore(x[fit], {}, {})
    with pytest.raises(DataError, match="have 5 features, but the fitted rows have 24"):
        builder.attach(np.zeros((2, 5), np.float32))
    bad = x[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(DataError, match="1 rows hold missing"):
        builder.attach(bad)


def test_fewer_than_two_fitted_rows_attach_nothing(tmp_path):
    x, _, _ = cohort()
    for builder in (KNNBuilder(k=3), ThresholdBuilder(k=3)):
        ei, _ = builder.edges(x[:5], np.array([2]))
        assert ei.shape[1] == 0
        values, arrays = round_trip(*builder.state(), tmp_path)
        fresh = type(builder)(k=3).restore(x[[2]], values, arrays)
        assert len(fresh.attach(x[:3])[0]) == 0


@pytest.mark.parametrize(("name", "params"), CASES[::3], ids=IDS[::3])
def test_approximate_index_is_saved_and_attaches_the_same(name, params, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    from graphfuse.graphs import _hnsw

    x, fit, held = cohort(n=300, seed=3)
    params = {**params, "index": "approximate"}
    builder = BUILDERS.get(name)(**params)
    ei, w = builder.edges(x, fit)
    values, arrays = round_trip(*builder.state(), tmp_path)
    assert arrays["hnsw"].dtype == np.uint8

    def no_rebuild(*args, **kwargs):
        raise AssertionError("restore rebuilt the HNSW index instead of loading it")

    monkeypatch.setattr(_hnsw.HNSWIndex, "fit", no_rebuild)
    fresh = BUILDERS.get(name)(**params).restore(x[fit], values, arrays)
    got = ordered(*fresh.attach(x[held]))
    want_ei, want_w = incoming(ei, w, held)
    assert np.array_equal(fit[got[0][0]], want_ei[0]) and np.array_equal(
        held[got[0][1]], want_ei[1]
    )
    assert np.array_equal(got[1], want_w)
    alone = [fresh.attach(x[[i]]) for i in held[:30]]
    for i, (ref_pos, _, weight) in zip(held[:30], alone, strict=True):
        into = want_ei[1] == i
        order = np.argsort(fit[ref_pos])
        assert np.array_equal(fit[ref_pos][order], want_ei[0, into])
        assert np.array_equal(weight[order], want_w[into])


# ---------------------------------------------------------------------------- SNF


def snf_cohort(n=60, seed=1):
    rng = np.random.default_rng(seed)
    group = rng.integers(2, size=n)
    xs = {
        "a": rng.normal(size=(n, 6)) + 1.5 * group[:, None],
        "b": rng.normal(size=(n, 4)) - 1.0 * group[:, None],
        "c": rng.normal(size=(n, 3)) + 0.5 * group[:, None],
    }
    xs = {m: x.astype(np.float32) for m, x in xs.items()}
    available = rng.uniform(size=(n, 3)) > 0.25
    available[:, 0] |= ~available.any(axis=1)  # everyone has something...
    available[7] = False  # ...but a fitted patient without any modality
    available[-1] = False  # and a held-out one
    available[-2] = [True, False, False]
    available[-3] = [False, False, True]
    for j, x in enumerate(xs.values()):
        x[~available[:, j]] = np.nan  # as build_patient_graph stores them
    fit = np.sort(rng.choice(np.arange(n - 3), size=40, replace=False))
    fit = np.union1d(fit, [7])
    return xs, available, fit, np.setdiff1d(np.arange(n), fit)


@pytest.mark.parametrize(
    "params", [{"k": 4, "local_k": 6}, {"k": 3, "local_k": 5, "weighted": False, "kernel": "paper"}]
)
def test_snf_restored_attaches_held_out_patients_exactly_as_the_fit(params, tmp_path):
    xs, available, fit, held = snf_cohort()
    builder = SNFBuilder(**params)
    ei, w = builder.fuse(xs, available, fit)
    values, arrays = round_trip(*builder.state(), tmp_path)
    assert arrays["fused"].shape == (len(fit) - 1, len(fit) - 1)  # patient 7 has nothing
    fresh = SNFBuilder(**params).restore(
        {m: x[fit] for m, x in xs.items()}, available[fit], values, arrays
    )
    ref_pos, new_pos, weight = fresh.attach({m: x[held] for m, x in xs.items()}, available[held])
    want_ei, want_w = incoming(ei, w, held)
    got_ei, got_w = ordered(fit[ref_pos], held[new_pos], weight)
    assert np.array_equal(got_ei, want_ei) and np.array_equal(got_w, want_w)
    indeg = np.bincount(new_pos, minlength=len(held))
    assert indeg[-1] == 0 and (indeg[:-1] == params["k"]).all()  # none without a modality
    assert not np.isin(fit[ref_pos], [7]).any()


def test_snf_attach_is_batch_invariant_and_takes_a_subset_of_modalities(monkeypatch):
    monkeypatch.setattr(_search, "CHUNK_MACS", 1)
    xs, available, fit, held = snf_cohort()
    builder = SNFBuilder(k=4, local_k=6)
    builder.fuse(xs, available, fit)
    # the held-out patients and noisy copies of fitted ones: more rows than one product
    rng = np.random.default_rng(6)
    copies = rng.choice(fit, size=150)
    new = {
        m: np.concatenate([x[held], x[copies] + 0.3 * rng.normal(size=x[copies].shape)]).astype(
            np.float32
        )
        for m, x in xs.items()
    }
    have = np.concatenate([available[held], available[copies] & (rng.uniform(size=(150, 3)) > 0.3)])
    together = ordered(*builder.attach(new, have))
    parts = [
        builder.attach({m: x[[i]] for m, x in new.items()}, have[[i]]) for i in range(len(have))
    ]
    one_by_one = ordered(
        np.concatenate([p[0] for p in parts]),
        np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)]),
        np.concatenate([p[2] for p in parts]),
    )
    assert np.array_equal(together[0], one_by_one[0]) and np.array_equal(together[1], one_by_one[1])
    # only modality a given: as if b and c were missing
    only_a = ordered(*builder.attach({"a": new["a"]}, have[:, :1]))
    masked = have.copy()
    masked[:, 1:] = False
    assert all(
        np.array_equal(u, v)
        for u, v in zip(only_a, ordered(*builder.attach(new, masked)), strict=True)
    )
    with pytest.raises(DataError, match=r"cannot attach patients by \['d'\]"):
        builder.attach({"d": new["a"]}, have[:, :1])


def test_snf_restore_refuses_another_cohorts_availability():
    xs, available, fit, _ = snf_cohort()
    builder = SNFBuilder(k=4, local_k=6)
    builder.fuse(xs, available, fit)
    values, arrays = builder.state()
    other = available[fit].copy()
    other[3] = False
    with pytest.raises(DataError, match="not the fitted patients'"):
        SNFBuilder(k=4, local_k=6).restore(
            {m: x[fit] for m, x in xs.items()}, other, values, arrays
        )
    with pytest.raises(DataError, match="fitted on modalities"):
        SNFBuilder().restore({"a": xs["a"][fit]}, available[fit][:, :1], values, arrays)
