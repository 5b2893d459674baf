"""Runs you can tell apart: names from the config, a description, metrics on the model;
and tests that track outside the repository."""

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from graphfuse.config import load_config
from graphfuse.experiment import cross_validate, fit
from graphfuse.experiment._track import run_name
from graphfuse.tracking import RunLogger

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
FAST = ["train.epochs=3", "data.synthetic.n_patients=40"]


def test_names_follow_config_stem_model_and_seed(tmp_path):
    quick = load_config(QUICK, ["seed=2"])
    assert run_name(quick) == "ad_quick-gcn_fusion-s2"
    assert run_name(load_config(ROOT / "configs" / "ad.yaml")).startswith("ad-")
    assert run_name(load_config(overrides={"model.name": "late_mlp"})) == "config-late_mlp-s0"
    assert run_name(quick, "fold1") == "ad_quick-gcn_fusion-s2-fold1"
    named = load_config(QUICK, ["tracking.run_name=baseline"])
    assert run_name(named) == "baseline" and run_name(named, "trial3") == "baseline-trial3"


# mlflow.pyfunc's import (logging the model) warns about its own type hints.
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_fits_are_named_described_and_their_model_carries_test_metrics(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    a = fit(load_config(QUICK, [*FAST, f"tracking.uri={uri}"]))
    bare = [*FAST, f"tracking.uri={uri}", "graph.transductive=true"]  # no MLflow model: faster
    b = fit(load_config(QUICK, [*bare, "seed=1"]))
    c = fit(load_config(QUICK, [*bare, "tracking.run_name=mine"]))
    client = MlflowClient(uri)
    runs = [client.get_run(r.run_id) for r in (a, b, c)]
    names = [run.info.run_name for run in runs]
    assert names == ["ad_quick-gcn_fusion-s0", "ad_quick-gcn_fusion-s1", "mine"]

    note = runs[0].data.tags["mlflow.note.content"]
    auc = a.metrics["test"]["roc_auc"]
    assert "gcn_fusion" in note and "synthetic" in note and "40 patients" in note
    assert all(m in note for m in a.cohort.modalities)
    assert f"roc_auc {auc:.3f}" in note, note

    models = [
        m
        for m in client.search_logged_models([runs[0].info.experiment_id])
        if m.source_run_id == a.run_id
    ]
    assert len(models) == 1
    on_model = {m.key: m.value for m in models[0].metrics or []}
    assert on_model["test_roc_auc"] == pytest.approx(auc)
    assert set(on_model) >= {f"test_{k}" for k in a.metrics["test"]}


def test_cross_validation_folds_are_named_by_fold(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    bare = [*FAST, f"tracking.uri={uri}", "graph.transductive=true", "seed=4"]
    result = cross_validate(load_config(QUICK, bare), folds=2)
    client = MlflowClient(uri)
    parent = client.get_run(result.run_id)
    runs = client.search_runs([parent.info.experiment_id])
    names = {r.info.run_name for r in runs}
    stem = "ad_quick-gcn_fusion-s4"
    assert names == {f"{stem}-cv", f"{stem}-fold0", f"{stem}-fold1"}


def test_tests_track_outside_the_repository(tmp_path):
    here = Path.cwd().resolve()
    assert ROOT not in (here, *here.parents)
    assert str(ROOT) not in os.environ["MLFLOW_TRACKING_URI"]
    logger = RunLogger(f"sqlite:///{tmp_path}/x.db", "anywhere")
    with logger.start():
        logger.log_text("artifact", "a.txt")
    assert str(ROOT) not in logger.artifact_uri
