"""``train.refit``: refit on training + validation patients for the selection fit's best epoch."""

from pathlib import Path

import numpy as np
import pytest

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.experiment import fit, prepare
from graphfuse.experiment._fit import seed_everything
from graphfuse.graphs import PATIENT
from graphfuse.models import build_model
from graphfuse.train import predict_proba, train_model

QUICK = Path(__file__).resolve().parents[1] / "configs" / "ad_quick.yaml"
#: patience 3 so the selection fit stops early and best_epoch < epochs
OFF = ["tracking.enabled=false", "train.epochs=40", "train.patience=3"]
REFIT = [*OFF, "train.refit=true"]
MODELS = {
    "gcn_fusion": [],
    "early_mlp": ["model={name: early_mlp, hidden: 16}"],
    "logistic": ["model={name: logistic, Cs: 4, cv: 3}"],
}


def _by_hand(config, *, refit: bool, epochs: int | None = None) -> np.ndarray:
    """The fit's steps written out: seed, prepare, build, train, predict."""
    seed_everything(config.seed)
    prepared = prepare(config, refit=refit)
    data = prepared.data
    model = build_model(
        config.model.name, data, len(prepared.cohort.classes), **config.model.params
    )
    train_model(
        model,
        data,
        epochs=epochs if refit else config.train.epochs,
        lr=config.train.lr,
        weight_decay=config.train.weight_decay,
        patience=None if refit else config.train.patience,
        monitor=config.train.monitor,
        progress=False,
        seed=config.seed,
    )
    return predict_proba(model, data)


@pytest.mark.parametrize("name", list(MODELS))
def test_refit_trains_best_epoch_on_train_and_val(name):
    config = load_config(QUICK, [*REFIT, *MODELS[name]])
    r = fit(config)
    best = r.history.best_epoch
    direct = name == "logistic"
    assert best == 1 if direct else 1 <= best < r.history.stopped_epoch  # stopped early
    assert r.refit_history is not None
    assert r.refit_history.stopped_epoch == len(r.refit_history.epochs) == best
    assert all(set(e) == {"epoch", "train_loss"} for e in r.refit_history.epochs)  # no validation
    store = r.data[PATIENT]
    union = np.sort(np.concatenate([r.splits["train"], r.splits["val"]]))
    assert np.array_equal(np.flatnonzero(store.train_mask.numpy()), union)
    assert not store.val_mask.any()
    assert np.array_equal(np.flatnonzero(store.test_mask.numpy()), r.splits["test"])
    if direct:  # imputation means fitted on training + validation patients
        assert r.model.fill_.numel() > 0
    # the refit is exactly: same seed, data prepared for the refit, best_epoch epochs
    assert np.array_equal(r.proba, _by_hand(config, refit=True, epochs=best))
    selection = fit(load_config(QUICK, [*OFF, *MODELS[name]]))
    assert not np.array_equal(r.proba, selection.proba)  # a different, refitted model


@pytest.mark.parametrize("name", ["gcn_fusion", "logistic"])
def test_refit_off_is_the_unchanged_fit(name):
    config = load_config(QUICK, [*OFF, *MODELS[name]])
    assert config.train.refit is False
    r = fit(config)
    assert r.refit_history is None
    assert np.array_equal(r.proba, _by_hand(config, refit=False))
    assert r.data[PATIENT].val_mask.sum() == len(r.splits["val"]) > 0


def test_validation_metrics_and_history_are_the_selection_fits():
    off = fit(load_config(QUICK, OFF))
    on = fit(load_config(QUICK, REFIT))
    assert on.metrics["val"] == off.metrics["val"]
    assert on.metrics["train"] == off.metrics["train"]
    assert on.history.epochs == off.history.epochs
    assert on.history.best_epoch == off.history.best_epoch
    assert np.array_equal(on.splits["test"], off.splits["test"])
    assert not np.array_equal(on.proba[on.splits["test"]], off.proba[off.splits["test"]])


def test_test_labels_never_reach_the_refit():
    config = load_config(QUICK, REFIT)
    cohort = load_cohort(config.data, seed=config.seed)
    first = fit(config, cohort=cohort)
    test = first.splits["test"]
    flipped = load_cohort(config.data, seed=config.seed)
    labels = flipped.obs[flipped.target].copy()
    classes = list(flipped.classes)
    swap = {classes[0]: classes[1], classes[1]: classes[0]}
    labels.iloc[test] = [swap[v] for v in labels.iloc[test]]
    flipped.obs[flipped.target] = labels
    assert not np.array_equal(flipped.y[test], cohort.y[test])
    second = fit(config, cohort=flipped, splits=first.splits)
    assert np.array_equal(second.proba, first.proba)  # identical predictions
    assert second.metrics["test"] != first.metrics["test"]  # scored against the new labels


def test_refit_without_validation_needs_no_early_stopping():
    config = load_config(QUICK, OFF)
    prepared = prepare(config, refit=True)
    model = build_model("gcn_fusion", prepared.data, 2, hidden=8)
    with pytest.raises(ValueError, match="no validation patients"):
        train_model(model, prepared.data, epochs=3, lr=0.01, weight_decay=0.0, patience=5)
    history = train_model(
        model, prepared.data, epochs=3, lr=0.01, weight_decay=0.0, patience=None, progress=False
    )
    assert history.best_epoch == history.stopped_epoch == 3


# mlflow.pytorch's import (logging the model) warns about its own type hints.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_refit_is_tracked(tmp_path, monkeypatch):
    import mlflow
    import torch

    from graphfuse.models import load_checkpoint

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = load_config(QUICK, [*REFIT, "tracking.enabled=true", f"tracking.uri={uri}"])
    r = fit(config)
    run = mlflow.MlflowClient(tracking_uri=uri).get_run(r.run_id)
    assert run.data.tags["graphfuse.refit"] == "true"
    assert run.data.params["train.refit"] == "True"
    logged = run.data.metrics
    assert logged["refit_epochs"] == r.history.best_epoch == r.refit_history.stopped_epoch
    assert logged["best_epoch"] == r.history.best_epoch
    assert logged["test_roc_auc"] == pytest.approx(r.metrics["test"]["roc_auc"])
    assert logged["val_roc_auc"] == pytest.approx(r.metrics["val"]["roc_auc"])
    folder = mlflow.artifacts.download_artifacts(
        run_id=r.run_id, artifact_path="checkpoint", tracking_uri=uri, dst_path=str(tmp_path)
    )
    model = load_checkpoint(folder)  # the refitted model
    with torch.no_grad():
        assert np.allclose(predict_proba(model, r.data), r.proba, atol=1e-6)
