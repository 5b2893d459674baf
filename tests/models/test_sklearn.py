"""scikit-learn baselines: fitted on training patients only, exact torch evaluation,
checkpoints, and the trainer's direct-fit path."""

import copy

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegressionCV

from graphfuse.graphs import feature_key
from graphfuse.models import build_model, load_checkpoint, save_checkpoint
from graphfuse.train import train_model

SMALL = {"logistic": {"Cs": 4}, "random_forest": {"n_trees": 40, "seed": 3}}


def fitted(name, graph, n_classes=2):
    torch.manual_seed(0)
    model = build_model(name, graph, n_classes, **SMALL[name])
    model.fit_direct(graph)
    return model


def states_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", SMALL)
def test_fit_sees_training_patients_only(graph, name):
    store = graph["patient"]
    model = fitted(name, graph)
    held_out = torch.nonzero(~store.train_mask).flatten()
    other = copy.copy(graph)
    y = store.y.clone()
    y[held_out] = 1 - y[held_out]
    other["patient"].y = y
    for m in graph.modalities:
        x = store[feature_key(m)].clone()
        x[held_out] = x[held_out] * -3.0 + 1.0
        other["patient"][feature_key(m)] = x
    assert states_equal(model, fitted(name, other))
    # ... while a training patient's label does change it (the check can fail)
    i = int(torch.nonzero(store.train_mask)[0])
    y = store.y.clone()
    y[i] = 1 - y[i]
    other = copy.copy(graph)
    other["patient"].y = y
    assert not states_equal(model, fitted(name, other))


def test_absent_blocks_are_filled_with_the_training_mean_and_flagged(graph):
    model = fitted("logistic", graph)
    store = graph["patient"]
    x = model.design_matrix(graph)
    j = graph.modalities.index("imaging")
    lacking = ~store.available[:, j]
    start = sum(model.in_dims[m] for m in graph.modalities[:j])
    block = slice(start, start + model.in_dims["imaging"])
    train_have = store.train_mask & ~lacking
    mean = store[feature_key("imaging")][train_have].double().mean(dim=0)
    assert torch.allclose(x[lacking][:, block], mean.expand(int(lacking.sum()), -1))
    flags = x[:, -len(graph.modalities) :]
    assert torch.equal(flags.bool(), store.available)


def test_forward_equals_the_estimators_predict_proba(graph):
    store = graph["patient"]
    train = store.train_mask
    y = store.y[train].numpy()
    forest = fitted("random_forest", graph)
    x = forest.design_matrix(graph).numpy()
    reference = RandomForestClassifier(n_estimators=40, random_state=3).fit(
        x[train].astype(np.float32), y
    )
    got = torch.exp(forest(graph)).double().numpy()
    assert np.allclose(got, reference.predict_proba(x), atol=1e-6)
    logistic = fitted("logistic", graph)
    reference = LogisticRegressionCV(
        Cs=4,
        cv=5,
        l1_ratios=(0.0,),
        scoring="neg_log_loss",
        max_iter=1000,
        solver="liblinear",
        use_legacy_attributes=False,
    ).fit(x[train], y)
    got = torch.exp(logistic(graph)).double().numpy()
    assert np.allclose(got, reference.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_multiclass(graph, name):
    other = copy.copy(graph)
    y = torch.arange(graph["patient"].num_nodes) % 3
    other["patient"].y = y
    torch.manual_seed(0)
    params = {"Cs": [0.01, 0.1]} if name == "logistic" else SMALL[name]
    model = build_model(name, other, 3, **params)
    model.fit_direct(other)
    logp = model(other)
    assert logp.shape == (len(y), 3) and torch.isfinite(logp).all()
    assert torch.allclose(logp.exp().sum(dim=1), torch.ones(len(y)), atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_unfitted_model_says_so(graph, name):
    model = build_model(name, graph, 2)
    with pytest.raises(RuntimeError, match="not fitted: call fit_direct"):
        model(graph)


@pytest.mark.parametrize("name", SMALL)
def test_checkpoint_round_trip_keeps_the_fit(graph, name, tmp_path):
    model = fitted(name, graph)
    save_checkpoint(model, tmp_path)
    again = load_checkpoint(tmp_path)
    assert states_equal(model, again)
    with torch.no_grad():
        assert torch.equal(model(graph), again(graph))


def test_random_forest_seed_from_torch_when_not_given(graph):
    torch.manual_seed(5)
    a = build_model("random_forest", graph, 2, n_trees=5)
    a.fit_direct(graph)
    torch.manual_seed(5)
    b = build_model("random_forest", graph, 2, n_trees=5)
    b.fit_direct(graph)
    assert states_equal(a, b)
    torch.manual_seed(6)
    c = build_model("random_forest", graph, 2, n_trees=5)
    c.fit_direct(graph)
    assert int(c.seed_) != int(a.seed_)


@pytest.mark.parametrize("name", SMALL)
def test_trainer_fits_directly_and_records_one_epoch(graph, name):
    torch.manual_seed(0)
    model = build_model(name, graph, 2, **SMALL[name])
    records = []
    history = train_model(
        model,
        graph,
        epochs=50,
        lr=1e-2,
        weight_decay=0.0,
        patience=5,
        progress=False,
        on_epoch=records.append,
    )
    assert history.best_epoch == history.stopped_epoch == 1 and not history.early_stopped
    assert history.epochs == records and len(records) == 1
    assert {"train_loss", "val_loss", "val_roc_auc", "val_accuracy"} <= set(records[0])
    assert np.isfinite(records[0]["val_loss"])
    assert model.fitted and not model.training
