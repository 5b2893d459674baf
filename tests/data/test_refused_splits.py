"""Silent clamping refused: a graph asking for more neighbours than there are training
patients, a published split whose training patients lack a class; a test split without
some class warns and its metrics stay defined where they can be."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.errors import DataError
from graphfuse.experiment import fit
from graphfuse.experiment._prepare import split_cohort
from graphfuse.train import classification_metrics

from .test_load import tables_config

QUICK = Path(__file__).resolve().parents[2] / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=2"]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("graph.k=200", r"modality 'expression': the graph is fitted on \d+ patient\(s\).*graph.k"),
        ("graph.fused.name=snf", None),  # the fused graph's own k is checked too
    ],
)
def test_k_beyond_the_training_patients_is_refused_not_a_complete_graph(override, match):
    overrides = [*OFF, override]
    if match is None:
        overrides.append("graph.fused.k=500")
        match = r"the fused graph: the graph is fitted on \d+ patient\(s\).*graph.fused.k is 500"
    with pytest.raises(DataError, match=match):
        fit(load_config(QUICK, overrides))


@pytest.fixture
def split_labels(files, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(files.root))

    def cohort_with(split: list[str]):
        labels = pd.read_csv(files.labels)
        labels["split"] = split
        labels.to_csv(files.labels, index=False)
        cfg = load_config(tables_config(files, files.root, split_column="split"))
        return load_cohort(cfg.data, seed=0), cfg

    return files, cohort_with


def test_a_published_split_without_training_patients_of_a_class_is_refused(split_labels):
    files, cohort_with = split_labels
    ad = files.y == 1  # AD only in the test split
    cohort, cfg = cohort_with(np.where(ad, "test", "train").tolist())
    with pytest.raises(
        DataError, match=r"class\(es\) \['AD'\] have no training patient \('CN': 20 train / 0"
    ):
        split_cohort(cohort, cfg)


def test_a_published_test_split_with_one_class_warns_that_roc_auc_is_undefined(split_labels):
    files, cohort_with = split_labels
    split = np.array(["train"] * len(files.y), dtype=object)
    split[np.flatnonzero(files.y == 0)[:8]] = "test"  # only CN patients held out
    cohort, cfg = cohort_with(split.tolist())
    with pytest.warns(UserWarning, match=r"\['AD'\] have no test patient .*ROC AUC is undefined"):
        splits, kind = split_cohort(cohort, cfg)
    assert kind == "published" and len(splits["test"]) == 8


def test_multiclass_roc_auc_of_a_test_split_missing_a_class_averages_the_classes_present():
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2] * 10)
    proba = rng.dirichlet([1, 1, 1, 1], size=len(y))  # class 3 never occurs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "only one class" warning from sklearn
        auc = classification_metrics(y, proba)["roc_auc"]
    expected = np.mean([roc_auc_score(y == c, proba[:, c] / proba.sum(axis=1)) for c in range(3)])
    assert auc == pytest.approx(expected)
    assert np.isnan(classification_metrics(np.zeros(5, int), proba[:5])["roc_auc"])
