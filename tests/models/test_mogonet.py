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


def _vcdn_input(model, graph):
    seen = {}
    handle = model.vcdn.register_forward_pre_hook(lambda mod, args: seen.setdefault("x", args[0]))
    model(graph)
    handle.remove()
    return seen["x"]


def test_sigmoid_view_probabilities_as_mogonets_code(graph):
    """``view_probability: sigmoid``: the outer product of per-class sigmoids, 0.5 for an
    absent modality."""
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8], view_probability="sigmoid").eval()
    with torch.no_grad():
        logits, have = model.view_logits(graph)
        x = _vcdn_input(model, graph)
    probs = [
        torch.where(have[:, j : j + 1], torch.sigmoid(z), 0.5)
        for j, z in enumerate(logits.values())
    ]
    expected = probs[0]
    for p in probs[1:]:
        expected = torch.einsum("ni,nj->nij", expected, p).flatten(1)
    assert torch.allclose(x, expected)
    assert not torch.allclose(x.sum(dim=1), torch.ones(len(x)))  # not a probability vector


@pytest.mark.parametrize("fusion_gradient", [True, False])
def test_fusion_gradient_false_keeps_the_fused_loss_off_the_encoders(graph, fusion_gradient):
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8], fusion_gradient=fusion_gradient)
    store = graph["patient"]
    model.train()
    out = model(graph)
    torch.nn.functional.cross_entropy(out[store.train_mask], store.y[store.train_mask]).backward()
    assert model.vcdn[0].weight.grad.abs().sum() > 0
    grad = model.encoders["expression"][0].weight.grad
    if fusion_gradient:
        assert grad.abs().sum() > 0
    else:
        assert grad is None
        # the per-modality losses still train the encoders
        model.auxiliary_loss(store.y, store.train_mask).backward()
        assert model.encoders["expression"][0].weight.grad.abs().sum() > 0


def test_trainer_gives_the_vcdn_its_own_learning_rate(graph):
    """``param_groups``: with a VCDN learning rate ~0 the VCDN stays put while the
    encoders move at ``lr``."""
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8], vcdn_lr_ratio=1e-6)
    groups = model.param_groups(0.01)
    assert [g["lr"] for g in groups] == [0.01, pytest.approx(1e-8)]
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))
    vcdn = [q.detach().clone() for q in model.vcdn.parameters()]
    enc = model.encoders["expression"][0].weight.detach().clone()
    train_model(model, graph, epochs=5, lr=1e-2, weight_decay=0.0, patience=10, progress=False)
    for before, after in zip(vcdn, model.vcdn.parameters(), strict=True):
        assert torch.allclose(before, after, atol=1e-6)
    assert (model.encoders["expression"][0].weight - enc).abs().max() > 1e-3


def test_pretrain_fits_the_views_and_leaves_the_vcdn_alone(graph):
    store = graph["patient"]
    torch.manual_seed(0)
    model = build_model(
        "mogonet", graph, 2, hidden=[16], dropout=0.0, pretrain_epochs=30, pretrain_lr=1e-2
    )
    vcdn = [q.detach().clone() for q in model.vcdn.parameters()]

    def view_loss():
        with torch.no_grad():
            return model._view_losses(*model.view_logits(graph), store.y, store.train_mask)

    before = view_loss()
    assert model.pretrain(graph, store.train_mask) == 30
    assert view_loss() < 0.8 * before
    for a, b in zip(vcdn, model.vcdn.parameters(), strict=True):
        assert torch.equal(a, b)
    untouched = build_model("mogonet", graph, 2, hidden=[16])
    assert untouched.pretrain(graph, store.train_mask) == 0


def test_trainer_runs_pretrain_first_on_training_patients(graph, monkeypatch):
    torch.manual_seed(0)
    model = build_model("mogonet", graph, 2, hidden=[8], pretrain_epochs=2)
    order = []
    original_pretrain, original_forward = model.pretrain, model.forward

    def pretrain(data, mask, *, weight_decay):
        order.append(("pretrain", mask.clone(), weight_decay))
        return original_pretrain(data, mask, weight_decay=weight_decay)

    def forward(data):
        order.append(("forward",))
        return original_forward(data)

    monkeypatch.setattr(model, "pretrain", pretrain)
    monkeypatch.setattr(model, "forward", forward)
    train_model(model, graph, epochs=2, lr=1e-2, weight_decay=0.1, patience=5, progress=False)
    assert order[0][0] == "pretrain" and [o[0] for o in order].count("pretrain") == 1
    assert torch.equal(order[0][1], graph["patient"].train_mask)
    assert order[0][2] == 0.1
    assert len(order) > 1 and all(o[0] == "forward" for o in order[1:])
