"""The task registry: each task's outputs, metric directions, scoring and plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphfuse.errors import ConfigError, RegistryError
from graphfuse.registry import Registry
from graphfuse.train import TASKS, classification_metrics, survival_metrics
from graphfuse.train._objective import Objective, task_class

SPLITS = {"train": np.arange(0, 6), "val": np.arange(6, 8), "test": np.arange(8, 12)}


def test_tasks_are_a_registry_of_objectives():
    assert isinstance(TASKS, Registry)
    assert TASKS.names() == ["classification", "survival"]
    assert all(issubclass(TASKS.get(n), Objective) for n in TASKS)
    with pytest.raises(RegistryError, match="already registered"):
        TASKS.register("survival")(type("Other", (TASKS.get("survival"),), {}))
    with pytest.raises(ConfigError, match=r"task: unknown task 'ranking'; valid: \['classif"):
        task_class("ranking")


@pytest.mark.parametrize(
    ("task", "metric", "direction"),
    [
        ("classification", "val_roc_auc", "maximize"),
        ("classification", "val_loss", "minimize"),
        ("classification", "test_f1_macro", "maximize"),
        ("survival", "val_c_index", "maximize"),
        ("survival", "logrank_p", "minimize"),
        ("survival", "val_other_loss", "minimize"),
    ],
)
def test_metric_directions(task, metric, direction):
    assert TASKS.get(task).direction(metric) == direction


def test_task_knowledge():
    cls, surv = TASKS.get("classification"), TASKS.get("survival")
    assert (cls.output, surv.output) == ("probabilities", "risk")
    assert (cls.default_metric, surv.default_metric) == ("val_roc_auc", "val_c_index")
    assert (cls.n_outputs(3), surv.n_outputs(3)) == (3, 1)
    assert cls.monitors == {"val_loss": 1.0, "val_roc_auc": -1.0}
    assert surv.monitors == {"val_loss": 1.0, "val_c_index": -1.0}
    assert (cls.needs_outcome, surv.needs_outcome) == (False, True)


def test_scoring_predictions_and_plots():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 6)
    proba = rng.dirichlet([1, 1], size=12)
    cls = TASKS.get("classification")
    scores = cls.score(proba, y, SPLITS)
    assert scores["test"] == classification_metrics(y[8:], proba[8:])
    patients = pd.Index([f"p{i}" for i in range(12)])
    split_of = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 4, dtype=object)
    frame = cls.predictions(proba, y, split_of, ["ctrl", "ad"], patients, SPLITS)
    assert list(frame.columns) == ["split", "label", "p_ctrl", "p_ad"]
    assert cls.figure(proba, y, SPLITS, ["ctrl", "ad"])[1] == "plots/roc_test.png"

    surv = TASKS.get("survival")
    time_, event = rng.uniform(1, 10, 12), np.array([True, False] * 6)
    risk = rng.normal(size=(12, 1))
    scores = surv.score(risk, y, SPLITS, (time_, event))
    threshold = float(np.median(risk[:6, 0]))
    expected = survival_metrics(time_[8:], event[8:], risk[8:, 0], threshold=threshold)
    assert scores["test"] == expected
    frame = surv.predictions(risk, y, split_of, ["x"], patients, SPLITS, (time_, event))
    assert list(frame.columns) == ["split", "time", "event", "risk", "risk_group"]
    assert surv.figure(risk, y, SPLITS, ["x"], (time_, event))[1] == "plots/km_test.png"
    assert surv.format_metric("logrank_p", 0.01234) == "0.0123"
