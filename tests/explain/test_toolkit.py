"""The shared explain toolkit: feature groups, baselines, eval mode, the gradient classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphfuse.data import GeneSets
from graphfuse.errors import ConfigError, DataError
from graphfuse.explain import (
    EXPLAINERS,
    AbsGradient,
    Gradient,
    GradientXInput,
    IntegratedGradients,
    Saliency,
    explain,
)
from graphfuse.explain._baselines import (
    fixed_baseline,
    patient_samples,
    shared_samples,
    training_mean,
)
from graphfuse.explain._groups import (
    explicit_groups,
    feature_groups,
    gene_set_groups,
    positions_by_modality,
)
from graphfuse.explain._saliency import SALIENCY_KINDS
from graphfuse.explain._sensitivity import SensitivityParams
from graphfuse.explain._shap import ShapParams
from graphfuse.graphs import PATIENT
from graphfuse.models import eval_mode

from .test_perturb import context
from .test_saliency import planted_model

FEATURES = {"expr": ["f1", "f2", "f3"], "meth": ["cg1", "cg2"], "img": ["r1"]}
GENES = {"expr": {"f1": "A", "f2": "B", "f3": "C"}, "meth": {"cg1": "A", "cg2": "C"}}


def test_gene_sets_become_feature_groups_across_modalities():
    groups = gene_set_groups({"P1": ["A", "B"], "P2": ["Z"], "P3": ["C", "C"]}, GENES)
    assert groups == {
        "P1": [("expr", "f1"), ("meth", "cg1"), ("expr", "f2")],
        "P3": [("expr", "f3"), ("meth", "cg2")],  # a repeated gene counts once
    }
    # restricted to the model's features; a GeneSets gives the same groups as a dict
    gs = GeneSets({"P1": ["A", "B"]})
    assert gene_set_groups(gs, GENES, {"expr": ["f2"]}) == {"P1": [("expr", "f2")]}
    members = positions_by_modality(groups["P1"], FEATURES)
    assert members == {"expr": [0, 1], "meth": [0]}


def test_feature_groups_by_spec_and_errors():
    kw = {"feature_genes": GENES, "gene_sets": {"P1": ["A"]}, "who": "x"}
    assert list(feature_groups("features", FEATURES, **kw))[:2] == [("expr", "f1"), ("expr", "f2")]
    assert feature_groups("modalities", FEATURES, **kw)["img"] == [("img", "r1")]
    assert feature_groups("pathways", FEATURES, **kw) == {"P1": [("expr", "f1"), ("meth", "cg1")]}
    with pytest.raises(DataError, match="x groups 'pathways': no gene set"):
        feature_groups("pathways", FEATURES, **{**kw, "gene_sets": {"P": ["Z"]}})
    explicit = {"g": [("img", "r1"), ("expr", "f2"), ("img", "r1")]}
    assert explicit_groups(explicit, FEATURES, who="x") == {"g": [("img", "r1"), ("expr", "f2")]}
    with pytest.raises(ConfigError, match="unknown modality 'nope'"):
        explicit_groups({"g": [("nope", "r1")]}, FEATURES, who="x", error=ConfigError)
    with pytest.raises(DataError, match=r"no feature 'x'.*does not have"):
        explicit_groups({"g": [("img", "x")]}, FEATURES, who="x")
    with pytest.raises(DataError, match="has no features"):
        explicit_groups({"g": []}, FEATURES, who="x")


def test_gene_sets_objects_are_accepted_as_parameters():
    gs = GeneSets({"P1": ["A", "B"], "P2": ["C"]})
    for Params in (ShapParams, SensitivityParams):
        params = Params(groups="pathways", gene_sets=gs)
        assert params.gene_sets == {"P1": ["A", "B"], "P2": ["C"]}


def test_baselines_come_from_training_patients(gcn):
    model, graph = gcn
    ctx = context(model, graph)
    train = graph[PATIENT].train_mask
    mean, zeros = fixed_baseline(ctx, "mean"), fixed_baseline(ctx, "zeros")
    for i, m in enumerate(ctx.modalities):
        rows = train & ctx.available[:, i]
        torch.testing.assert_close(mean[m], ctx.features()[m][rows].mean(dim=0))
        assert not zeros[m].any() and zeros[m].shape == mean[m].shape
    assert all(
        torch.equal(a, b) for a, b in zip(training_mean(ctx).values(), mean.values(), strict=True)
    )
    drawn = patient_samples(ctx, 3, 5, torch.Generator().manual_seed(0), "t")
    shared = shared_samples(ctx, 4, np.random.default_rng(0), "t")
    pool = {m: ctx.features()[m][train & ctx.available[:, i]] for i, m in enumerate(ctx.modalities)}
    for m in ctx.modalities:
        assert drawn[m].shape == (3, 5, pool[m].shape[1]) and shared[m].shape[0] == 4
        for row in torch.cat([drawn[m].reshape(-1, pool[m].shape[1]), shared[m]]):
            assert (pool[m] == row).all(dim=1).any(), "a drawn row is not a training row"


def test_eval_mode_restores_the_training_flag(gcn):
    model, graph = gcn
    for before in (True, False):
        model.train(before)
        with pytest.raises(RuntimeError), eval_mode(model):
            assert not model.training
            raise RuntimeError
        assert model.training is before
    model.train()
    explain(model, graph, "gradient", patients=[0, 1])
    assert model.training
    model.eval()


def test_gradient_classes_are_registered_and_match_saliency(graph):
    model = planted_model(graph, "imaging", 3)
    assert set(SALIENCY_KINDS) <= set(EXPLAINERS.names())
    classes = {
        "gradient": Gradient,
        "abs_gradient": AbsGradient,
        "gradient_x_input": GradientXInput,
        "integrated_gradients": IntegratedGradients,
    }
    for kind, cls in classes.items():
        assert EXPLAINERS.get(kind) is cls and cls.needs_gradients
        own = explain(model, graph, kind, patients=[0, 5, 9])
        via = explain(model, graph, "saliency", kind=kind, patients=[0, 5, 9])
        assert own.method == kind and via.method == "saliency"
        assert own.signed == via.signed == (kind != "abs_gradient")
        for m in own.modalities:
            assert own.scores[m].equals(via.scores[m])
    assert Saliency().params.kind == "gradient_x_input"
    assert set(Saliency().params.model_dump()) == {"kind", "baseline", "steps", "integration"}
    assert set(IntegratedGradients().params.model_dump()) == {"baseline", "steps", "integration"}


def test_explainers_refuse_what_is_not_a_fusion_model(graph):
    with pytest.raises(TypeError, match="FusionModel"):
        explain(torch.nn.Linear(2, 2), graph, "shap")
