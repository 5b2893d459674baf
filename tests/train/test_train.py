import numpy as np
import pytest
import torch

from graphfuse.errors import DataError
from graphfuse.models import build_model
from graphfuse.train import classification_metrics, predict_proba, stratified_split, train_model


def test_split_is_stratified_disjoint_and_seeded():
    y = np.array([0] * 60 + [1] * 40)
    s = stratified_split(y, val_fraction=0.2, test_fraction=0.2, seed=1)
    parts = [s["train"], s["val"], s["test"]]
    assert sum(len(p) for p in parts) == 100
    assert len(np.unique(np.concatenate(parts))) == 100
    for p in parts:
        assert y[p].mean() == pytest.approx(0.4, abs=0.05)
    again = stratified_split(y, val_fraction=0.2, test_fraction=0.2, seed=1)
    other = stratified_split(y, val_fraction=0.2, test_fraction=0.2, seed=2)
    assert np.array_equal(s["test"], again["test"])
    assert not np.array_equal(s["test"], other["test"])


def test_split_refuses_tiny_classes():
    with pytest.raises(DataError, match="class 1 has 2 patient"):
        stratified_split(np.array([0] * 10 + [1] * 2), val_fraction=0.2, test_fraction=0.2, seed=0)


def test_metrics_binary_and_multiclass():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]))
    assert m["accuracy"] == 0.75 and m["roc_auc"] == 1.0
    assert m["f1"] == pytest.approx(0.8)
    y3 = np.array([0, 1, 2, 2])
    p3 = np.eye(3)[[0, 1, 2, 1]] * 0.7 + 0.1
    m3 = classification_metrics(y3, p3)
    assert m3["accuracy"] == 0.75 and m3["f1"] == m3["f1_macro"]
    assert 0 < m3["roc_auc"] <= 1
    assert np.isnan(classification_metrics(np.array([1, 1]), np.array([[0.5, 0.5]] * 2))["roc_auc"])


def test_training_learns_and_early_stopping_restores_best(graph):
    torch.manual_seed(0)
    model = build_model("gcn_fusion", graph, 2, hidden=16)
    seen = []
    hist = train_model(
        model, graph, epochs=60, lr=0.01, weight_decay=0.0, patience=5, progress=False,
        on_epoch=seen.append,
    )  # fmt: skip
    assert len(seen) == hist.stopped_epoch == len(hist.epochs)
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    best = min(hist.epochs, key=lambda r: r["val_loss"])
    assert hist.best_epoch == best["epoch"]
    if hist.early_stopped:
        assert hist.stopped_epoch - hist.best_epoch == 5
    # the model holds the best epoch's weights: its validation loss is the best one
    val = graph["patient"].val_mask
    proba = predict_proba(model, graph)
    loss = -np.log(proba[val.numpy(), graph["patient"].y[val].numpy()]).mean()
    assert loss == pytest.approx(best["val_loss"], rel=1e-4)
    assert {"val_roc_auc", "val_accuracy", "val_f1"} <= set(best)
