"""The perturbation engine equals one full forward pass per (patient, rows) pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphfuse.errors import DataError
from graphfuse.explain import ExplainContext, own_row_gradients, perturbation_engine
from graphfuse.explain._base import _target
from graphfuse.explain._engines import _CopiesEngine, _schedule
from graphfuse.explain._perturb import _reference_outputs, perturbed_outputs, replaced_outputs
from graphfuse.explain._reach import _adjacency, _conflicts, dependency_radius
from graphfuse.graphs import PATIENT

from .conftest import PATIENT_MODELS, trained

#: Engine each built-in family must get (a model added later may use any exact engine).
EXPECTED = {
    "gcn_fusion": "gcn_fusion",
    "attention": "attention",
    "mogonet": "mogonet",
    "early_mlp": "rows",
    "late_mlp": "rows",
}


def context(model, graph) -> ExplainContext:
    model.eval()
    with torch.no_grad():
        logits = model(graph)
    n = graph[PATIENT].num_nodes
    return ExplainContext(model, graph, np.arange(n), _target(None, logits, graph), 0)


def random_pairs(ctx: ExplainContext, b: int, seed: int = 0, modalities=None):
    """Pairs with rows borrowed from other patients plus noise; some owners repeated."""
    gen = torch.Generator().manual_seed(seed)
    feats = ctx.features()
    owners = torch.randint(0, ctx.n_nodes, (b,), generator=gen)
    owners[-2:] = owners[0]
    rows = {}
    for m in modalities or ctx.modalities:
        x = feats[m]
        donors = torch.randint(0, ctx.n_nodes, (b,), generator=gen)
        rows[m] = x[donors] + 0.3 * torch.randn(b, x.shape[1], generator=gen)
    return owners, rows


def assert_close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-5) -> None:
    err = ((got.double() - want.double()).abs() / (1 + want.double().abs())).max()
    assert float(err) < tol, f"max relative error {float(err):.3g}"


@pytest.mark.parametrize("name", PATIENT_MODELS)
def test_every_model_matches_the_reference(name, graph, cohort):
    model = trained(name, graph, cohort)
    ctx = context(model, graph)
    engine = perturbation_engine(ctx)
    if name in EXPECTED:
        assert engine.name == EXPECTED[name]
    owners, rows = random_pairs(ctx, 24)
    assert_close(perturbed_outputs(ctx, owners, rows), _reference_outputs(ctx, owners, rows))
    # one modality replaced, the others kept; a single changed feature
    m = ctx.modalities[0]
    one = ctx.features()[m][owners].clone()
    one[:, 3] += 2.0
    want = _reference_outputs(ctx, owners, {m: one})
    assert_close(perturbed_outputs(ctx, owners, {m: one}), want)
    columns = torch.full((len(owners),), 3)
    assert_close(replaced_outputs(ctx, owners, m, columns, one[:, 3]), want)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gcn_fusion", {"root": True, "layers": 3, "hidden": 16}),
        ("gcn_fusion", {"layers": 1}),
        ("gcn_fusion", {"missing": "learned"}),
        ("gcn_fusion", {"missing": "neighbors", "root": True}),
        ("attention", {"missing": "learned", "layers": 1}),
        ("mogonet", {"hidden": [16, 8], "view_probability": "sigmoid"}),
        ("mogonet", {"hidden": [8], "fusion_gradient": False}),
    ],
)
def test_fast_path_settings(name, params, graph, cohort):
    model = trained(name, graph, cohort, **params)
    ctx = context(model, graph)
    assert perturbation_engine(ctx).name == name
    owners, rows = random_pairs(ctx, 20, seed=1)
    assert_close(perturbed_outputs(ctx, owners, rows), _reference_outputs(ctx, owners, rows))


def test_unchanged_rows_give_the_models_outputs(gcn):
    model, graph = gcn
    ctx = context(model, graph)
    nodes = torch.arange(ctx.n_nodes)
    got = perturbed_outputs(ctx, nodes, {m: x for m, x in ctx.features().items()})
    with torch.no_grad():
        want = ctx.output(model(graph))
    assert_close(got, want)


def test_rows_of_an_absent_modality_change_nothing(gcn):
    model, graph = gcn
    ctx = context(model, graph)
    i = next(i for i in range(len(ctx.modalities)) if not bool(ctx.available[:, i].all()))
    m = ctx.modalities[i]
    owners = torch.nonzero(~ctx.available[:, i]).ravel()[:5]
    rows = {m: torch.randn(len(owners), ctx.features()[m].shape[1])}
    with torch.no_grad():
        want = ctx.output(model(graph))[owners]
    assert_close(perturbed_outputs(ctx, owners, rows), want)


@pytest.mark.parametrize("sharing", [None, "silent", 2])
def test_copies_engine_is_exact_for_every_sharing(sharing, gcn):
    model, graph = gcn
    ctx = context(model, graph)
    engine = _CopiesEngine(ctx, sharing)
    assert engine.copies > 1
    owners, rows = random_pairs(ctx, 40, seed=2)
    with torch.no_grad():
        got = engine.outputs(owners, rows)
    assert_close(got, _reference_outputs(ctx, owners, rows))


def test_schedule_keeps_conflicting_owners_apart(graph):
    n = graph[PATIENT].num_nodes
    conflicts = _conflicts(graph, n, 2)
    owners = np.random.default_rng(0).integers(0, n, 200)
    slot = _schedule(owners, lambda u: _colouring(conflicts, u))
    for s in np.unique(slot):
        members = owners[slot == s]
        assert len(set(members)) == len(members), "an owner twice in one copy"
        sub = conflicts[members][:, members]
        assert sub.nnz == 0, "conflicting owners share a copy"
    # silent owners (held-out patients send no messages) all fit in one copy
    silent = np.flatnonzero(np.diff(_adjacency(graph, n).indptr) == 0)
    assert len(silent) > 3
    assert conflicts[silent][:, silent].nnz == 0


def _colouring(conflicts, unique):
    from graphfuse.explain._engines import _greedy_colouring

    return _greedy_colouring(conflicts[unique][:, unique].tocsr())


def test_dependency_radius_measures_hops(graph, cohort):
    for layers in (1, 2):
        model = trained("gcn_fusion", graph, cohort, layers=layers, hidden=8)
        assert dependency_radius(context(model, graph)) == layers
    mlp = trained("late_mlp", graph, cohort)
    assert dependency_radius(context(mlp, graph)) == 0


@pytest.mark.parametrize("name", PATIENT_MODELS)
def test_own_row_gradients_are_each_patients_own(name, graph, cohort):
    model = trained(name, graph, cohort)
    if not getattr(model, "differentiable", True):
        pytest.skip(f"{name} is not differentiable")
    ctx = context(model, graph)
    feats = ctx.features()
    owners = torch.tensor([0, 5, 11, 30, 47])
    rows = {m: x[owners] for m, x in feats.items()}
    _, grads = own_row_gradients(ctx, owners, rows)
    copies = _CopiesEngine(ctx, "silent")
    _, via_copies = copies.gradients(owners, rows)
    for b, p in enumerate(owners.tolist()):
        leaves = {m: x.clone().requires_grad_(True) for m, x in feats.items()}
        value = ctx.output(ctx.forward(leaves))[p]
        want = torch.autograd.grad(value, list(leaves.values()))
        for m, g in zip(leaves, want, strict=True):
            assert torch.allclose(grads[m][b].float(), g[p], atol=1e-5, rtol=1e-4)
            assert torch.allclose(via_copies[m][b].float(), g[p], atol=1e-5, rtol=1e-4)


def test_a_changed_model_falls_back_with_a_warning(gcn, monkeypatch):
    model, graph = gcn
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda data: forward(data) * 1.5)
    ctx = context(model, graph)
    with pytest.warns(RuntimeWarning, match="falling back"):
        engine = perturbation_engine(ctx)
    assert engine.name == "copies"
    owners, rows = random_pairs(ctx, 10, seed=3)
    assert_close(perturbed_outputs(ctx, owners, rows), _reference_outputs(ctx, owners, rows))


def test_bad_rows_are_refused(gcn):
    model, graph = gcn
    ctx = context(model, graph)
    owners = torch.tensor([0, 1])
    with pytest.raises(DataError, match="unknown modality 'nope'"):
        perturbed_outputs(ctx, owners, {"nope": torch.zeros(2, 3)})
    m = ctx.modalities[0]
    with pytest.raises(DataError, match="expected"):
        perturbed_outputs(ctx, owners, {m: torch.zeros(3, 2)})
    with pytest.raises(DataError, match="node positions"):
        perturbed_outputs(ctx, torch.tensor([99]), {})
