"""Contract tests run for every registered model, plus GCN-fusion specifics.

Model-specific tests (MOGONET, attention, missing-modality strategies, scikit-learn
baselines) live beside this file; the cross-product contract (model x task x
missing-modality pattern) is in ``test_contract.py``.
"""

import copy

import numpy as np
import pytest
import torch

from graphfuse.errors import ConfigError
from graphfuse.graphs import feature_key
from graphfuse.models import MODELS, build_model, load_checkpoint, save_checkpoint

from .conftest import graph_for

PATIENT_GRAPH_MODELS = [n for n in MODELS.names() if MODELS.get(n).graph_kind == "patient"]


@pytest.fixture
def graph(request, graph, cohort):
    """The shared patient graph; for a test of a knowledge-graph model (the ``model``
    fixture's parameter) the knowledge graph built on it."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    return graph_for(params["model"], graph, cohort) if "model" in params else graph


@pytest.fixture(params=MODELS.names())
def model(request, graph, built):
    return built(request.param, graph)


def test_forward_shape_and_finite_with_missing_modalities(model, graph):
    avail = graph["patient"].available
    assert (~avail).any(), "fixture must have patients lacking a modality"
    out = model(graph)
    assert out.shape == (graph["patient"].num_nodes, 2)
    assert torch.isfinite(out).all()


def absent_rows_filled(graph, value=1e6):
    """A copy of ``graph`` with ``value`` written into the imaging rows of patients lacking it."""
    j = graph.modalities.index("imaging")
    lacking = ~graph["patient"].available[:, j]
    other = copy.copy(graph)
    x = graph["patient"][feature_key("imaging")].clone()
    x[lacking] = value
    other["patient"][feature_key("imaging")] = x
    return other


def test_missing_modality_contributes_nothing(model, graph):
    """Whatever sits in an unavailable modality's rows cannot change any prediction."""
    with torch.no_grad():
        assert torch.allclose(model(graph), model(absent_rows_filled(graph)))


def test_patient_predicted_from_the_modalities_it_has(model, graph):
    """Hiding a modality of one patient changes that patient's prediction only via what it has."""
    j = graph.modalities.index("imaging")
    have = graph["patient"].available[:, j]
    i = int(torch.nonzero(have & graph["patient"].test_mask)[0])
    with torch.no_grad():
        before = model(graph)[i]
    x = graph["patient"][feature_key("imaging")].clone()
    x[i] += 5.0
    other = copy.copy(graph)
    other["patient"][feature_key("imaging")] = x
    with torch.no_grad():
        after = model(other)
    assert not torch.allclose(before, after[i])
    # a test patient sends no messages: nobody else moved
    rest = torch.ones(len(after), dtype=torch.bool)
    rest[i] = False
    with torch.no_grad():
        assert torch.allclose(model(graph)[rest], after[rest])


def test_gradients_reach_every_encoder(model, graph):
    model.train()
    out = model(graph)
    if not model.differentiable:  # fitted baselines: no parameters, output is not a graph node
        assert not list(model.parameters()) and not out.requires_grad
        return
    loss = torch.nn.functional.cross_entropy(out, graph["patient"].y)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_checkpoint_round_trip(model, graph, tmp_path):
    save_checkpoint(model, tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt")
    assert again.spec() == model.spec()
    with torch.no_grad():
        assert torch.equal(model(graph), again(graph))


@pytest.mark.parametrize("name", ["logistic", "random_forest"])
def test_unsupported_task_refused_at_construction(graph, name):
    with pytest.raises(ConfigError, match=f"model '{name}' does not support task 'survival'"):
        build_model(name, graph, 1, task="survival")


def test_every_model_declares_tasks_and_graph_kind():
    for name in MODELS.names():
        cls = MODELS.get(name)
        assert "classification" in cls.tasks, name
        assert cls.graph_kind in ("patient", "knowledge"), name
        assert ("survival" in cls.tasks) == cls.differentiable, name


@pytest.mark.parametrize("name", PATIENT_GRAPH_MODELS)
def test_knowledge_graph_refused_by_patient_graph_models(graph, name):
    graph["gene"].num_nodes = 5  # a knowledge-graph heterograph has gene (and other) nodes
    with pytest.raises(ConfigError, match=f"model '{name}' reads a 'patient' graph.*'knowledge'"):
        build_model(name, graph, 2)


def test_bad_params_refused(graph):
    with pytest.raises(ValueError, match="hidden"):
        build_model("gcn_fusion", graph, 2, hidden=0)


def test_patient_with_only_some_modalities_uses_mean_of_those(graph):
    model = build_model("gcn_fusion", graph, 2, dropout=0.0).eval()
    with torch.no_grad():
        h, mask = model.embed(graph)
    assert torch.equal(mask, graph["patient"].available)
    assert (h[~mask] == 0).all()
    counts = mask.sum(dim=1)
    assert counts.min() >= 1 and np.unique(counts.numpy()).size > 1


def test_gcn_root_weight_keeps_the_contract(graph):
    torch.manual_seed(0)
    model = build_model("gcn_fusion", graph, 2, root=True).eval()
    assert len(model.roots) == len(graph.modalities)
    with torch.no_grad():
        out = model(graph)
        assert torch.isfinite(out).all() and torch.allclose(out, model(absent_rows_filled(graph)))
