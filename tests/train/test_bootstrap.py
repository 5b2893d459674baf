"""Bootstrap intervals of test metrics: seeded, around the point estimate, narrower with
more patients, undefined resamples counted; and equal to the metrics of each resample."""

import numpy as np
import pandas as pd
import pytest

from graphfuse.errors import ConfigError, DataError
from graphfuse.train import bootstrap_metrics, classification_metrics, concordance_index
from graphfuse.train._bootstrap import BOOTSTRAPS


def _scores(n: int, k: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patients of ``k`` classes with informative, noisy probabilities."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    proba = np.exp(logits)
    return y, proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3])
def test_interval_contains_the_point_estimate_which_is_the_metric(k):
    y, proba = _scores(106, k)
    classes = ["a", "b", "c"][:k]
    ci = bootstrap_metrics(y, proba, seed=0, classes=classes)
    metrics = classification_metrics(y, proba, classes=classes)
    assert list(ci.index) == list(metrics)
    assert ci["point"].to_dict() == pytest.approx(metrics)
    assert (ci["low"] <= ci["point"]).all() and (ci["point"] <= ci["high"]).all()
    assert (ci["low"] < ci["high"]).all()
    assert (ci["resamples"] == 1000).all() and (ci["skipped"] == 0).all()


def test_same_seed_same_interval_other_seed_other_interval():
    y, proba = _scores(60)
    first = bootstrap_metrics(y, proba, seed=4, n_boot=300)
    pd.testing.assert_frame_equal(first, bootstrap_metrics(y, proba, seed=4, n_boot=300))
    other = bootstrap_metrics(y, proba, seed=5, n_boot=300)
    assert not np.allclose(first[["low", "high"]], other[["low", "high"]])


def test_interval_narrows_with_more_patients():
    widths = {}
    for n in (40, 400):
        y, proba = _scores(n, seed=1)
        ci = bootstrap_metrics(y, proba, seed=0, n_boot=500)
        widths[n] = ci["high"] - ci["low"]
    assert (widths[400] < widths[40] / 2).all()  # about sqrt(10) narrower


def test_resamples_lacking_a_class_are_skipped_for_auc_and_counted():
    y = np.array([1] + [0] * 11)  # one positive: a resample misses it ~ (11/12)^12 = 35 %
    p1 = np.linspace(0.9, 0.1, 12)
    ci = bootstrap_metrics(y, np.c_[1 - p1, p1], seed=0, n_boot=1000)
    auc = ci.loc["roc_auc"]
    assert 250 < auc["skipped"] < 450 and auc["resamples"] + auc["skipped"] == 1000
    assert auc["point"] == 1.0 and auc["low"] == auc["high"] == 1.0  # ranked first whenever drawn
    assert ci.loc["accuracy", "skipped"] == 0


def test_multiclass_macro_auc_needs_every_class_but_per_class_auc_only_its_own():
    y = np.array([0] * 10 + [1] * 10 + [2])  # class 2: one patient, often not drawn
    _, proba = _scores(21, 3)
    ci = bootstrap_metrics(y, proba, seed=0, classes=["x", "y", "z"])
    assert ci.loc["roc_auc", "skipped"] > 200
    assert ci.loc["roc_auc_z", "skipped"] == ci.loc["roc_auc", "skipped"]
    assert ci.loc["roc_auc_x", "skipped"] == 0  # classes x and y are (almost) always drawn


def test_each_resample_scores_as_the_metrics_of_its_patients():
    y, proba = _scores(30, 3, seed=2)
    idx = np.random.default_rng(0).integers(0, 30, size=(20, 30))
    classes = ["a", "b", "c"]
    _, resampled = BOOTSTRAPS.get("classification")(y, proba, idx, classes, None)
    for b in range(20):
        m = classification_metrics(y[idx[b]], proba[idx[b]], classes=classes)
        for name, value in m.items():
            assert resampled[name][b] == pytest.approx(value), name


def test_survival_concordance_of_each_resample_is_harrells():
    rng = np.random.default_rng(3)
    time = rng.exponential(size=50).round(1)  # ties in time, as real follow-up has
    event = rng.random(50) < 0.7
    risk = -time + rng.normal(size=50)
    idx = rng.integers(0, 50, size=(15, 50))
    _, resampled = BOOTSTRAPS.get("survival")(None, risk[:, None], idx, None, (time, event))
    for b in range(15):
        expected = concordance_index(time[idx[b]], event[idx[b]], risk[idx[b]])
        assert resampled["c_index"][b] == pytest.approx(expected)
    ci = bootstrap_metrics(None, risk, task="survival", seed=0, outcome=(time, event))
    row = ci.loc["c_index"]
    assert row["point"] == pytest.approx(concordance_index(time, event, risk))
    assert row["low"] < row["point"] < row["high"]


def test_bad_arguments_are_named():
    y, proba = _scores(10)
    with pytest.raises(ConfigError, match=r"valid: .*classification.*survival"):
        bootstrap_metrics(y, proba, task="regression", seed=0)
    with pytest.raises(ConfigError, match="level"):
        bootstrap_metrics(y, proba, seed=0, level=95)
    with pytest.raises(DataError, match="9 labels for 10"):
        bootstrap_metrics(y[:9], proba, seed=0)
    with pytest.raises(DataError, match="time, event"):
        bootstrap_metrics(None, proba[:, :1], task="survival", seed=0)
