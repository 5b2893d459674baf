"""Sensitivity: output change when features or groups are replaced by a baseline."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from graphfuse.errors import ConfigError, DataError
from graphfuse.explain import Attribution, explain
from graphfuse.explain._perturb import _reference_outputs
from graphfuse.graphs import PATIENT

from .test_perturb import context
from .test_saliency import planted_model


def brute_force(model, graph, p: int, replace: dict[str, dict[int, float]]) -> float:
    """``output(x_p) - output(x_p with replace[m][feature] = value)`` by full forwards."""
    ctx = context(model, graph)
    feats = ctx.features()
    owners = torch.tensor([p, p])
    rows = {m: feats[m][owners].clone() for m in replace}
    for m, values in replace.items():
        for f, v in values.items():
            rows[m][1, f] = v
    out = _reference_outputs(ctx, owners, rows)
    return float(out[0] - out[1])


def test_single_feature_scores_equal_brute_force(gcn):
    model, graph = gcn
    patients = np.array([2, 19, 40])
    attr = explain(model, graph, "sensitivity", patients=patients)
    mean = context(model, graph).train_mean()
    rng = np.random.default_rng(0)
    for row, p in enumerate(patients):
        for m in attr.modalities:
            if attr.scores[m].iloc[row].isna().all():
                continue
            for f in rng.choice(len(graph.feature_names[m]), 3, replace=False):
                want = brute_force(model, graph, p, {m: {f: float(mean[m][f])}})
                assert attr.scores[m].iloc[row, f] == pytest.approx(want, abs=1e-5)


def test_zero_baseline_is_mogonets_ablation(gcn):
    model, graph = gcn
    attr = explain(model, graph, "sensitivity", baseline="zeros", patients=[5])
    m = attr.modalities[0]
    for f in (0, 4):
        want = brute_force(model, graph, 5, {m: {f: 0.0}})
        assert attr.scores[m].iloc[0, f] == pytest.approx(want, abs=1e-5)


def test_planted_feature_is_the_only_one_that_matters(graph):
    model = planted_model(graph, "imaging", 3)
    attr = explain(model, graph, "sensitivity")
    top = attr.feature_importance().index[0]
    assert top == ("imaging", graph.feature_names["imaging"][3])
    others = attr.table().drop(columns=[top]).to_numpy()
    assert np.nanmax(np.abs(others)) == 0.0
    # a modality group holds its planted feature's effect; the others none
    groups = explain(model, graph, "sensitivity", groups="modalities", feature_scores=False)
    table = groups.groups["modalities"]
    assert list(table.columns) == list(graph.modalities)
    assert table.drop(columns=["imaging"]).abs().max().max() == 0.0
    assert table["imaging"].abs().max() > 0.1
    assert all(frame.isna().all().all() for frame in groups.scores.values())


def test_group_scores_equal_brute_force(gcn, cohort):
    model, graph = gcn
    patients = np.array([3, 30])
    ctx = context(model, graph)
    mean = ctx.train_mean()
    names = graph.feature_names
    explicit = {
        "first_regions": [("imaging", names["imaging"][0]), ("imaging", names["imaging"][1])],
        "mixed": [("expression", names["expression"][2]), ("clinical", names["clinical"][0])],
    }
    attr = explain(model, graph, "sensitivity", groups=explicit, patients=patients)
    table = attr.groups["groups"]
    assert list(table.columns) == list(explicit)
    assert list(table.index) == [graph.patients[p] for p in patients]
    for row, p in enumerate(patients):
        for g, members in explicit.items():
            replace: dict[str, dict[int, float]] = {}
            for m, feature in members:
                f = names[m].index(feature)
                replace.setdefault(m, {})[f] = float(mean[m][f])
            touched = [list(graph.modalities).index(m) for m in replace]
            if not bool(ctx.available[p, touched].any()):
                assert np.isnan(table.iloc[row][g])
                continue
            assert table.iloc[row][g] == pytest.approx(
                brute_force(model, graph, p, replace), abs=1e-5
            )
    # pathways from the cohort's gene sets
    sets = cohort.mdata.uns["gene_sets"]
    attr = explain(
        model, graph, "sensitivity", groups="pathways", gene_sets=sets, patients=patients
    )
    pathways = attr.groups["pathways"]
    assert pathways.shape[0] == 2 and pathways.shape[1] > 0
    assert np.isfinite(pathways.to_numpy()).all()


def test_sampled_baseline_is_seeded(gcn, tmp_path):
    model, graph = gcn
    patients = np.arange(0, 48, 8)
    kw = dict(baseline="samples", samples=3, groups="modalities", patients=patients)
    a = explain(model, graph, "sensitivity", seed=4, **kw)
    b = explain(model, graph, "sensitivity", seed=4, **kw)
    c = explain(model, graph, "sensitivity", seed=5, **kw)
    assert a.seed == 4
    for m in a.modalities:
        assert a.scores[m].equals(b.scores[m])
    assert a.groups["modalities"].equals(b.groups["modalities"])
    assert not a.table().equals(c.table())
    loaded = Attribution.load(a.save(tmp_path / "attr"))
    assert loaded.groups["modalities"].equals(a.groups["modalities"])
    assert loaded.seed == 4


def test_labels_are_not_used(gcn):
    model, graph = gcn
    shuffled = copy.copy(graph)
    shuffled[PATIENT].y = 1 - graph[PATIENT].y
    kw = dict(baseline="samples", samples=2, patients=[1, 9, 33], seed=2)
    a = explain(model, graph, "sensitivity", **kw)
    b = explain(model, shuffled, "sensitivity", **kw)
    for m in a.modalities:
        assert a.scores[m].equals(b.scores[m])


def test_bad_groups_are_refused(gcn):
    model, graph = gcn
    with pytest.raises(ConfigError, match="gene_sets"):
        explain(model, graph, "sensitivity", groups="pathways")
    with pytest.raises(DataError, match="unknown modality 'nope'"):
        explain(model, graph, "sensitivity", groups={"g": [("nope", "x")]}, patients=[0])
    with pytest.raises(DataError, match="no feature 'x'"):
        explain(model, graph, "sensitivity", groups={"g": [("imaging", "x")]}, patients=[0])
    with pytest.raises(DataError, match="no gene set"):
        explain(
            model,
            graph,
            "sensitivity",
            groups="pathways",
            gene_sets={"S": ["NOTAGENE"]},
            patients=[0],
        )
