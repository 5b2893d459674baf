"""A fit's test intervals and multiclass reports: the interval table, its MLflow metrics,
the printed ``0.852 [0.78, 0.91]`` and a 3-class fit's per-class metrics and confusion
matrix artifacts."""

import io

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from rich.console import Console

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.experiment import fit, fit_intervals

from .test_cli import QUICK

OFF = ["tracking.enabled=false", "train.epochs=4"]


@pytest.fixture(scope="module")
def three_class():
    """The quick cohort with AD patients split into AD and MCI (3 classes)."""
    config = load_config(QUICK, ["train.epochs=4"])
    cohort = load_cohort(config.data, seed=config.seed)
    labels = cohort.obs[cohort.target].astype(str).to_numpy()
    ad = np.flatnonzero(labels == "AD")
    labels[ad[::2]] = "MCI"
    cohort.obs[cohort.target] = pd.Categorical(labels, categories=["CN", "MCI", "AD"])
    return config, cohort


def test_fit_result_has_test_intervals_around_its_test_metrics():
    result = fit(load_config(QUICK, OFF))
    ci = result.test_ci
    assert ci is result.test_ci  # computed once
    test = result.metrics["test"]
    assert set(ci.index) == set(test)
    assert ci["point"].to_dict() == pytest.approx(test)
    assert (ci["low"] <= ci["point"]).all() and (ci["point"] <= ci["high"]).all()
    pd.testing.assert_frame_equal(fit_intervals(result), ci)  # seeded by the run's seed
    out = io.StringIO()
    result.print_summary(Console(file=out, width=200))
    text = out.getvalue()
    auc = ci.loc["roc_auc"]
    assert f"{auc['point']:.3f} [{auc['low']:.2f}, {auc['high']:.2f}]" in text
    assert "bootstrap 95% interval over the 16 test patients" in text


def test_tracked_three_class_fit_logs_per_class_metrics_intervals_and_confusion_matrix(
    three_class,
):
    config, cohort = three_class
    result = fit(config, cohort=cohort)
    assert result.cohort.classes == ["CN", "MCI", "AD"]
    test = result.metrics["test"]
    assert {"roc_auc_CN", "roc_auc_MCI", "roc_auc_AD", "f1_CN", "f1_MCI", "f1_AD"} <= set(test)
    client = MlflowClient(result.tracking_uri)
    metrics = client.get_run(result.run_id).data.metrics
    ci = result.test_ci
    assert metrics["test_roc_auc_ci_low"] == pytest.approx(ci.loc["roc_auc", "low"])
    assert metrics["test_roc_auc_ci_high"] == pytest.approx(ci.loc["roc_auc", "high"])
    assert "test_roc_auc_MCI" in metrics and "test_accuracy_ci_high" in metrics
    root = {a.path for a in client.list_artifacts(result.run_id)}
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {"confusion_matrix.csv", "test_intervals.csv"} <= root
    assert "plots/confusion_matrix.png" in plots
    path = client.download_artifacts(result.run_id, "confusion_matrix.csv")
    table = pd.read_csv(path, index_col=0)
    assert list(table.index) == ["CN", "MCI", "AD"] == list(table.columns)
    assert table.to_numpy().sum() == len(result.splits["test"])
    y, pred = result.cohort.y, result.proba.argmax(axis=1)
    test_idx = result.splits["test"]
    assert table.loc["MCI", "MCI"] == int(((y == 1) & (pred == 1))[test_idx].sum())


def test_survival_fit_has_a_concordance_interval():
    config = load_config(
        QUICK,
        [
            *OFF,
            "task=survival",
            "data.synthetic.survival=true",
            "data.survival={time: time, event: event}",
        ],
    )
    result = fit(config)
    assert list(result.test_ci.index) == ["c_index"]
    row = result.test_ci.loc["c_index"]
    assert row["point"] == pytest.approx(result.metrics["test"]["c_index"])
    assert row["low"] <= row["point"] <= row["high"]
