"""Saliency and integrated gradients: exact per patient, filed under the right modality."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from graphfuse.errors import ConfigError
from graphfuse.explain import explain, perturbed_outputs
from graphfuse.explain._saliency import integration_points
from graphfuse.graphs import PATIENT, edge_type, feature_key
from graphfuse.models import FusionModel

from .test_perturb import context


class Planted(FusionModel):
    """Log-odds of class 1 = ``tanh(a x[p, f]) + 0.3 * sum of in-neighbours' x[q, f]`` in
    the modality's graph: a patient's output depends on its own rows only through
    feature ``f`` of ``modality`` — but, through the graph, on other patients' too."""

    registry_name = "planted"

    def __init__(self, in_dims: dict[str, int], modality: str, feature: int) -> None:
        super().__init__(in_dims, 2)
        self.modality, self.feature = modality, feature
        self.scale = nn.Parameter(torch.tensor(1.5))

    def forward(self, data) -> torch.Tensor:
        store = data[PATIENT]
        have = store.available[:, list(data.modalities).index(self.modality)]
        x = torch.where(have[:, None], store[feature_key(self.modality)], 0.0)
        v = x[:, self.feature]
        ei = data[edge_type(self.modality)].edge_index
        agg = torch.zeros_like(v).index_add(0, ei[1], v[ei[0]] * 0.3)
        z = torch.tanh(self.scale * v) + agg
        return torch.stack([-z / 2, z / 2], dim=1)


def planted_model(graph, modality: str = "imaging", feature: int = 3) -> Planted:
    dims = {m: len(graph.feature_names[m]) for m in graph.modalities}
    return Planted(dims, modality, feature).eval()


KINDS = ["gradient", "abs_gradient", "gradient_x_input", "integrated_gradients"]


@pytest.mark.parametrize("kind", KINDS)
def test_planted_feature_gets_the_top_score_under_its_modality(kind, graph):
    model = planted_model(graph, "imaging", 3)
    attr = explain(model, graph, "saliency", kind=kind, steps=8)
    top = attr.feature_importance().index[0]
    assert top == ("imaging", graph.feature_names["imaging"][3])
    # every other feature of every modality scores exactly zero (own rows only)
    table = attr.table().drop(columns=[top])
    assert np.nanmax(np.abs(table.to_numpy())) == 0.0
    assert attr.signed == (kind != "abs_gradient")


def test_gradients_are_each_patients_own(gcn):
    model, graph = gcn
    patients = np.array([0, 7, 20, 41])
    grad = explain(model, graph, "saliency", kind="gradient", patients=patients)
    ctx = context(model, graph)
    feats = ctx.features()
    for row, p in enumerate(patients):
        leaves = {m: x.clone().requires_grad_(True) for m, x in feats.items()}
        value = ctx.output(ctx.forward(leaves))[p]
        want = torch.autograd.grad(value, list(leaves.values()))
        for i, (m, g) in enumerate(zip(leaves, want, strict=True)):
            if not bool(ctx.available[p, i]):
                assert grad.scores[m].iloc[row].isna().all()
                continue
            got = grad.scores[m].iloc[row].to_numpy()
            assert np.allclose(got, g[p].numpy(), atol=1e-6, rtol=1e-4)


def test_kinds_are_consistent(gcn):
    model, graph = gcn
    patients = np.arange(0, 48, 5)
    g = explain(model, graph, "saliency", kind="gradient", patients=patients)
    a = explain(model, graph, "saliency", kind="abs_gradient", patients=patients)
    gx = explain(model, graph, "saliency", kind="gradient_x_input", patients=patients)
    ctx = context(model, graph)
    for m in g.modalities:
        x = ctx.features()[m][patients].numpy()
        assert np.allclose(a.scores[m], g.scores[m].abs(), equal_nan=True)
        assert np.allclose(gx.scores[m], g.scores[m] * x, equal_nan=True)


def _captum_ig(model, graph, p: int, steps: int) -> dict[str, np.ndarray]:
    from captum.attr import IntegratedGradients

    ctx = context(model, graph)
    feats = ctx.features()
    mods = ctx.modalities
    mean = ctx.train_mean()

    def forward(*xs):
        outs = []
        for j in range(xs[0].shape[0]):
            row = {m: feats[m].clone() for m in mods}
            for m, x in zip(mods, xs, strict=True):
                row[m] = torch.cat([feats[m][:p], x[j : j + 1], feats[m][p + 1 :]])
            outs.append(ctx.output(ctx.forward(row))[p])
        return torch.stack(outs)

    inputs = tuple(feats[m][p : p + 1] for m in mods)
    baselines = tuple(mean[m][None] for m in mods)
    ig = IntegratedGradients(forward)
    attr = ig.attribute(inputs, baselines=baselines, n_steps=steps, method="gausslegendre")
    return {m: a[0].detach().numpy() for m, a in zip(mods, attr, strict=True)}


def test_integrated_gradients_agree_with_captum(gcn):
    model, graph = gcn
    train = int(np.flatnonzero(graph[PATIENT].train_mask.numpy())[0])
    test = int(np.flatnonzero(graph[PATIENT].test_mask.numpy())[0])
    steps = 12
    ours = explain(
        model, graph, "saliency", kind="integrated_gradients", steps=steps, patients=[train, test]
    )
    for row, p in enumerate([train, test]):
        theirs = _captum_ig(model, graph, p, steps)
        for m, values in theirs.items():
            got = ours.scores[m].iloc[row].to_numpy()
            have = ~np.isnan(got)
            assert have.any() or not values.any()
            assert np.allclose(got[have], values[have], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("baseline", ["mean", "zeros"])
def test_integrated_gradients_are_complete(baseline, gcn):
    model, graph = gcn
    patients = np.arange(0, 48, 6)
    attr = explain(
        model,
        graph,
        "saliency",
        kind="integrated_gradients",
        steps=128,
        baseline=baseline,
        patients=patients,
    )
    ctx = context(model, graph)
    feats = ctx.features()
    owners = torch.as_tensor(patients)
    if baseline == "mean":
        base = {m: v.expand(len(patients), -1) for m, v in ctx.train_mean().items()}
    else:
        base = {m: torch.zeros(len(patients), x.shape[1]) for m, x in feats.items()}
    at_x = perturbed_outputs(ctx, owners, {m: x[owners] for m, x in feats.items()})
    at_base = perturbed_outputs(ctx, owners, base)
    total = attr.table().sum(axis=1, skipna=True).to_numpy()
    gap = (at_x - at_base).numpy()
    assert np.abs(gap).max() > 0.1  # the check is not vacuous
    assert np.allclose(total, gap, atol=2e-3 * (1 + np.abs(gap).max()))


def test_labels_are_not_used(gcn):
    model, graph = gcn
    shuffled = copy.copy(graph)
    shuffled[PATIENT].y = 1 - graph[PATIENT].y
    for kind in ("gradient_x_input", "integrated_gradients"):
        a = explain(model, graph, "saliency", kind=kind, steps=4)
        b = explain(model, shuffled, "saliency", kind=kind, steps=4)
        for m in a.modalities:
            assert a.scores[m].equals(b.scores[m])


def test_integration_points_match_captum():
    from captum.attr._utils.approximation_methods import approximation_parameters

    for rule in ("gausslegendre", "riemann_middle"):
        step_sizes, alphas = approximation_parameters(rule)
        a, w = integration_points(7, rule)
        assert np.allclose(a, alphas(7)) and np.allclose(w, step_sizes(7))
    # the trapezoid rule proper (captum's weights for it sum to (n - 1) / n, not 1)
    a, w = integration_points(5, "riemann_trapezoid")
    assert np.allclose(a, [0, 0.25, 0.5, 0.75, 1]) and np.allclose(w, [1, 2, 2, 2, 1] / np.array(8))
    for rule in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        a, w = integration_points(9, rule)
        assert np.isclose(w.sum(), 1.0) and np.isclose((w * a**2).sum(), 1 / 3, atol=5e-3)


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="kind"):
        explain(None, None, "saliency", kind="smoothgrad")
