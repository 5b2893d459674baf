"""Attention fusion: weights masked to the modalities a patient has, normalised, used."""

import pytest
import torch

from graphfuse.models import build_model


@pytest.fixture
def attention(graph):
    torch.manual_seed(0)
    return build_model("attention", graph, 2, hidden=16).eval()


def test_weights_are_zero_for_absent_modalities_and_sum_to_one(attention, graph):
    w = attention.attention_weights(graph)
    available = graph["patient"].available
    assert w.shape == available.shape
    assert torch.allclose(w.sum(dim=1), torch.ones(len(w)))
    assert (w[~available] == 0).all()
    assert (w[available] > 0).all()
    assert not w.requires_grad


def test_weights_are_per_patient(attention, graph):
    """Not one global weight vector: patients with the same modalities differ."""
    w = attention.attention_weights(graph)
    full = graph["patient"].available.all(dim=1)
    assert w[full].std(dim=0).max() > 1e-4


def test_prediction_is_the_head_of_the_weighted_embedding(attention, graph):
    with torch.no_grad():
        h, _ = attention.embed(graph)
        w = attention.attention_weights(graph)
        expected = attention.head((w[..., None] * h).sum(dim=1))
        assert torch.allclose(attention(graph), expected, atol=1e-6)


def test_scores_learn(graph):
    """The scoring network and modality biases receive gradient."""
    torch.manual_seed(0)
    model = build_model("attention", graph, 2, hidden=16).train()
    torch.nn.functional.cross_entropy(model(graph), graph["patient"].y).backward()
    assert model.modality_bias.grad.abs().sum() > 0
    assert model.score[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("missing", ["learned", "neighbors"])
def test_stand_ins_take_part_in_the_softmax(graph, missing):
    torch.manual_seed(0)
    model = build_model("attention", graph, 2, hidden=16, missing=missing).eval()
    w = model.attention_weights(graph)
    available = graph["patient"].available
    assert torch.allclose(w.sum(dim=1), torch.ones(len(w)))
    if missing == "learned":  # every absent modality has a stand-in
        assert (w > 0).all()
    else:  # absent modalities completed from neighbours for some patients
        assert (w[~available] > 0).any()
