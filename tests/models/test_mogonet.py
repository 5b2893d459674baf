"""MOGONET: VCDN fusion, uniform stand-in for absent modalities, per-modality losses."""

import pytest
import torch

from graphfuse.models import build_model
from graphfuse.models._mogonet import propagation_matrix
from graphfuse.train import train_model


@pytest.fixture
def mogonet(graph):
    torch.manual_seed(0)
    return build_model("mogonet", graph, 2, hidden=[32, 16])


def test_layers_follow_hidden_and_vcdn_sees_the_outer_product(mogonet, graph):
    assert [c.out_channels for c in mogonet.encoders["expression"]] == [32, 16]
    n_views = len(graph.modalities)
    assert mogonet.vcdn[0].in_features == 2**n_views
    default = build_model("mogonet", graph, 2)
    assert [c.out_channels for c in default.encoders["imaging"]] == [400, 400, 200]


def test_absent_modality_enters_the_vcdn_as_uniform(mogonet, graph):
    """A patient lacking imaging is untouched by the imaging classifier; others are not."""
    j = graph.modalities.index("imaging")
    lacking = ~graph["patient"].available[:, j]
    mogonet.eval()
    with torch.no_grad():
        before = mogonet(graph)
        mogonet.classifiers["imaging"].bias.add_(torch.tensor([3.0, -3.0]))
        after = mogonet(graph)
    assert torch.equal(before[lacking], after[lacking])
    assert not torch.allclose(before[~lacking], after[~lacking])


def test_uniform_vector_is_the_fusion_input_of_an_absent_modality(graph):
    """Uniform probabilities of absent views: the VCDN input equals the outer product
    built with 1/C in their place (checked against a hand-made product)."""
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8]).eval()
    seen = {}
    model.vcdn.register_forward_pre_hook(lambda mod, args: seen.setdefault("x", args[0]))
    with torch.no_grad():
        logits, have = model.view_logits(graph)
        model(graph)
    probs = [
        torch.where(have[:, j : j + 1], torch.softmax(z, 1), 0.5)
        for j, z in enumerate(logits.values())
    ]
    expected = probs[0]
    for p in probs[1:]:
        expected = torch.einsum("ni,nj->nij", expected, p).flatten(1)
    assert torch.allclose(seen["x"], expected)


def test_auxiliary_loss_reaches_every_per_modality_classifier(mogonet, graph):
    store = graph["patient"]
    mogonet.train()
    mogonet(graph)
    aux = mogonet.auxiliary_loss(store.y, store.train_mask)
    assert aux.item() > 0
    aux.backward()
    for m in graph.modalities:
        assert mogonet.classifiers[m].weight.grad.abs().sum() > 0, m
        assert mogonet.encoders[m][0].weight.grad.abs().sum() > 0, m
    # it is the per-modality losses only: the fusion network gets nothing from it
    assert all(p.grad is None for p in mogonet.vcdn.parameters())
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        mogonet.auxiliary_loss(store.y, store.train_mask)  # consumed


def test_auxiliary_loss_uses_only_masked_patients_having_the_modality(graph):
    store = graph["patient"]
    j = graph.modalities.index("imaging")
    lacking = store.train_mask & ~store.available[:, j]
    assert lacking.any()
    torch.manual_seed(0)
    mogonet = build_model("mogonet", graph, 2, hidden=[8], dropout=0.0).train()
    mogonet(graph)
    base = mogonet.auxiliary_loss(store.y, store.train_mask)
    y = store.y.clone()
    y[~store.train_mask] = 1 - y[~store.train_mask]  # labels outside the mask do not count
    mogonet(graph)
    assert torch.equal(mogonet.auxiliary_loss(y, store.train_mask), base)
    # patients lacking imaging give its classifier nothing to learn from
    mogonet(graph)
    mogonet.auxiliary_loss(store.y, lacking).backward()
    assert mogonet.classifiers["imaging"].weight.grad is None
    assert mogonet.classifiers["expression"].weight.grad.abs().sum() > 0


def test_trainer_adds_the_auxiliary_loss(graph, monkeypatch):
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8])
    calls = []
    original = model.auxiliary_loss

    def spy(y, mask):
        calls.append(mask.clone())
        return original(y, mask)

    monkeypatch.setattr(model, "auxiliary_loss", spy)
    history = train_model(
        model, graph, epochs=3, lr=1e-2, weight_decay=0.0, patience=5, progress=False
    )
    assert len(calls) == history.stopped_epoch == 3
    assert all(torch.equal(m, graph["patient"].train_mask) for m in calls)


def test_survival_output_is_one_risk_score_without_auxiliary_loss(graph):
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 1, task="survival", hidden=[8]).train()
    out = model(graph)
    assert out.shape == (graph["patient"].num_nodes, 1)
    aux = model.auxiliary_loss(graph["patient"].y, graph["patient"].train_mask)
    assert aux.item() == 0.0


def test_edge_weights_matter_and_receive_gradient(mogonet, graph):
    """Edge-masking explainers scale ``edge_weight``: the output must depend on it."""
    et = ("patient", "similar_expression", "patient")
    weight = graph[et].edge_weight.clone().requires_grad_(True)
    graph[et].edge_weight = weight
    mogonet.eval()
    mogonet(graph).sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_propagation_rows_are_averages_with_a_self_loop(graph):
    edges = graph[("patient", "similar_expression", "patient")]
    n = graph["patient"].num_nodes
    a = propagation_matrix(edges.edge_index, edges.edge_weight, n).to_dense()
    assert torch.allclose(a.sum(dim=1), torch.ones(n))
    assert (a.diagonal() > 0).all()
    src, dst = edges.edge_index
    assert (a[dst, src] > 0).all()
