"""`fit(config)` from Python, as notebooks call it."""

from pathlib import Path

import numpy as np
import pytest

from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.experiment import fit

QUICK = Path(__file__).resolve().parents[1] / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=8"]


def test_same_seed_same_result_other_seed_other():
    a = fit(load_config(QUICK, OFF))
    b = fit(load_config(QUICK, OFF))
    c = fit(load_config(QUICK, [*OFF, "seed=1"]))
    assert a.run_id is None and a.tracking_uri is None
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert np.array_equal(a.proba, b.proba)
    assert a.metrics == b.metrics
    assert not np.array_equal(a.splits["test"], c.splits["test"])


def test_result_contents_and_metrics_frame():
    r = fit(load_config(QUICK, OFF))
    frame = r.metrics_frame()
    assert list(frame.index) == ["train", "val", "test"]
    assert {"accuracy", "f1", "f1_macro", "f1_weighted", "roc_auc"} <= set(frame.columns)
    assert r.proba.shape == (r.cohort.n_patients, 2)
    assert np.allclose(r.proba.sum(axis=1), 1, atol=1e-5)
    assert set(r.timings) >= {"data", "preprocess", "graph", "train"}
    assert r.history.stopped_epoch <= 8


def test_modality_subset_and_transductive_mode():
    r = fit(
        load_config(
            QUICK, [*OFF, "data.modalities=[expression, imaging]", "graph.transductive=true"]
        )
    )
    assert r.data.modalities == ["expression", "imaging"]
    assert r.data.transductive is True
    assert set(r.model.in_dims) == {"expression", "imaging"}


def test_unknown_modality_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.modalities: \['rna'\] not in the cohort"):
        fit(load_config(QUICK, [*OFF, "data.modalities=[rna]"]))


# --------------------------------------------------------------------------- survival

SURVIVAL = [
    "task=survival",
    "data.synthetic.survival=true",
    "data.survival={time: time, event: event}",
    "train.epochs=8",
]


# mlflow.pytorch's import (logging the model) warns about its own type hints.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_survival_fit_tracks_c_index_km_plot_and_risk(tmp_path, monkeypatch):
    import pandas as pd
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    r = fit(load_config(QUICK, [*SURVIVAL, f"tracking.uri={uri}", "train.monitor=val_c_index"]))
    assert r.task == "survival" and r.proba.shape == (r.cohort.n_patients, 1)
    assert np.array_equal(r.risk, r.proba[:, 0]) and r.model.n_classes == 1
    frame = r.metrics_frame()
    assert {"c_index", "logrank_p", "high_risk_fraction", "events"} <= set(frame.columns)
    assert "roc_auc" not in frame.columns
    assert 0 <= frame.loc["test", "c_index"] <= 1
    # risk groups split at the training patients' median risk
    assert frame.loc["train", "high_risk_fraction"] == pytest.approx(0.5, abs=0.02)
    client = MlflowClient(uri)
    run = client.get_run(r.run_id)
    metrics = run.data.metrics
    assert {"test_c_index", "val_c_index", "train_c_index", "test_logrank_p"} <= set(metrics)
    assert metrics["test_c_index"] == pytest.approx(frame.loc["test", "c_index"])
    assert "test_roc_auc" not in metrics and "val_roc_auc" not in metrics
    steps = {m.step for m in client.get_metric_history(r.run_id, "val_c_index")}
    assert steps == set(range(1, r.history.stopped_epoch + 1))  # per epoch, then the final one
    assert run.data.tags["graphfuse.task"] == "survival"
    assert run.data.params["task"] == "survival"
    plots = [a.path for a in client.list_artifacts(r.run_id, "plots")]
    assert plots == ["plots/km_test.png"]
    pred = pd.read_csv(client.download_artifacts(r.run_id, "predictions.csv"), index_col=0)
    assert list(pred.columns) == ["split", "time", "event", "risk", "risk_group"]
    assert np.allclose(pred["risk"].to_numpy(), r.risk, atol=1e-5)
    train_median = np.median(r.risk[r.splits["train"]])
    assert ((pred["risk_group"] == "high") == (pred["risk"] > train_median + 1e-6)).mean() > 0.95


def test_survival_config_errors_name_what_is_missing():
    from graphfuse.errors import DataError

    with pytest.raises(ConfigError, match=r"task: survival needs data\.survival"):
        load_config(QUICK, ["task=survival"])
    with pytest.raises(ConfigError, match=r"data\.survival\.event: Field required"):
        load_config(QUICK, ["task=survival", "data.survival={time: time}"])
    with pytest.raises(ConfigError, match=r"needs data\.synthetic\.survival: true"):
        load_config(QUICK, ["task=survival", "data.survival={time: time, event: event}"])
    with pytest.raises(ConfigError, match="'val_roc_auc' is not a survival metric"):
        load_config(QUICK, [*SURVIVAL, "train.monitor=val_roc_auc"])
    with pytest.raises(ConfigError, match="'val_c_index' is not a classification metric"):
        load_config(QUICK, ["train.monitor=val_c_index"])
    cfg = load_config(QUICK, [*SURVIVAL, "data.survival.time=os_months", "tracking.enabled=false"])
    with pytest.raises(DataError, match=r"data\.survival\.time: column 'os_months' is not in"):
        fit(cfg)


def test_modality_dropout_through_fit_is_seeded(tmp_path):
    on = [*OFF, "train.modality_dropout=0.3"]
    a = fit(load_config(QUICK, on))
    b = fit(load_config(QUICK, on))
    plain = fit(load_config(QUICK, OFF))
    assert np.array_equal(a.proba, b.proba)
    assert not np.array_equal(a.proba, plain.proba)
    assert a.config.to_dict()["train"]["modality_dropout"] == 0.3
    with pytest.raises(ConfigError, match=r"train\.modality_dropout"):
        load_config(QUICK, ["train.modality_dropout=1.0"])
