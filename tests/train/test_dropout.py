"""Training-time modality dropout: what is hidden, from whom, reproducibly; eval unaffected."""

from __future__ import annotations

import pytest
import torch

from graphfuse.models import FusionModel, build_model
from graphfuse.train import drop_modalities, train_model


def test_hides_only_training_patients_and_never_everything(graph):
    store = graph["patient"]
    before = store.available.clone()
    out = drop_modalities(graph, 0.9, torch.Generator().manual_seed(0))
    kept = out["patient"].available
    assert torch.equal(store.available, before)  # the original graph is untouched
    assert out["patient"].x_expression is store.x_expression  # a shallow copy
    train = store.train_mask
    assert torch.equal(kept[~train], before[~train])  # val/test keep their true mask
    assert not (kept & ~before).any()  # nothing absent is made present
    assert kept.any(dim=1).all()  # every patient keeps a modality
    assert (kept[train].sum() < before[train].sum() * 0.6).item()  # p = 0.9 hides most


def test_rate_and_seed():
    from torch_geometric.data import HeteroData

    g = HeteroData()
    g["patient"].available = torch.ones(4000, 4, dtype=torch.bool)
    g["patient"].train_mask = torch.ones(4000, dtype=torch.bool)
    a = drop_modalities(g, 0.3, torch.Generator().manual_seed(1))["patient"].available
    b = drop_modalities(g, 0.3, torch.Generator().manual_seed(1))["patient"].available
    c = drop_modalities(g, 0.3, torch.Generator().manual_seed(2))["patient"].available
    assert torch.equal(a, b) and not torch.equal(a, c)
    hidden = 1 - a.float().mean().item()
    assert hidden == pytest.approx(0.3, abs=0.02)  # few patients lose all four at p = 0.3
    none = drop_modalities(g, 0.0, torch.Generator().manual_seed(1))["patient"].available
    assert none.all()


class _Spy(FusionModel):
    """Wraps a model and records the availability masks it is given, by mode."""

    def __init__(self, model):
        super().__init__(model.in_dims, model.n_classes)
        self.model = model
        self.seen = {True: [], False: []}

    def forward(self, data):
        self.seen[self.training].append(data["patient"].available.clone())
        return self.model(data)


def _train(graph, p, seed, spy=False):
    torch.manual_seed(0)
    model = build_model("gcn_fusion", graph, 2, hidden=8)
    if spy:
        model = _Spy(model)
    hist = train_model(
        model, graph, epochs=6, lr=0.01, weight_decay=0.0, patience=6, progress=False,
        modality_dropout=p, seed=seed,
    )  # fmt: skip
    return model, hist


def test_training_sees_hidden_modalities_evaluation_the_true_mask(graph):
    spy, _ = _train(graph, 0.5, seed=0, spy=True)
    true = graph["patient"].available
    train = graph["patient"].train_mask
    assert len(spy.seen[True]) == 6
    assert all(torch.equal(m, true) for m in spy.seen[False])  # validation: true mask
    assert all((m[train].sum() < true[train].sum()).item() for m in spy.seen[True])
    assert all(torch.equal(m[~train], true[~train]) for m in spy.seen[True])
    assert not torch.equal(spy.seen[True][0], spy.seen[True][1])  # a new draw each epoch


def test_dropout_training_is_reproducible_and_changes_the_fit(graph):
    _, a = _train(graph, 0.4, seed=3)
    _, b = _train(graph, 0.4, seed=3)
    _, c = _train(graph, 0.4, seed=4)
    _, plain = _train(graph, 0.0, seed=3)
    losses = [[r["train_loss"] for r in h.epochs] for h in (a, b, c, plain)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2] and losses[0] != losses[3]
