"""Cross-validation: folds cover every patient once, validation never comes from the test fold."""

import re

import numpy as np
import pytest

from graphfuse.config import load_config
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import cross_validate, fit
from graphfuse.train import stratified_folds

from .test_cli import QUICK


def test_folds_partition_patients_and_carve_validation_from_training():
    y = np.array([0] * 30 + [1] * 20)
    folds = stratified_folds(y, folds=5, val_fraction=0.2, seed=3)
    tests = np.concatenate([f["test"] for f in folds])
    assert sorted(tests.tolist()) == list(range(50))
    for f in folds:
        assert not set(f["val"]) & set(f["test"]) and not set(f["train"]) & set(f["test"])
        assert not set(f["train"]) & set(f["val"])
        assert len(f["train"]) + len(f["val"]) + len(f["test"]) == 50
        assert y[f["test"]].mean() == pytest.approx(0.4)  # stratified
    again = stratified_folds(y, folds=5, val_fraction=0.2, seed=3)
    assert all(np.array_equal(a["val"], b["val"]) for a, b in zip(folds, again, strict=True))
    other = stratified_folds(y, folds=5, val_fraction=0.2, seed=4)
    assert not all(np.array_equal(a["test"], b["test"]) for a, b in zip(folds, other, strict=True))


def test_folds_refuse_too_few_patients_per_class():
    with pytest.raises(DataError, match="class 1 has 2 patient"):
        stratified_folds(np.array([0] * 10 + [1] * 2), folds=3, val_fraction=0.2, seed=0)


def test_cross_validate_reports_every_fold_and_mean_sd():
    cfg = load_config(QUICK, ["tracking.enabled=false", "train.epochs=5"])
    result = cross_validate(cfg, folds=3, seeds=[0, 1])
    assert len(result.folds) == 6
    assert set(result.folds["fold"]) == {0, 1, 2} and set(result.folds["seed"]) == {0, 1}
    auc = result.folds["test_roc_auc"]
    assert result.summary.loc["test_roc_auc", "mean"] == pytest.approx(auc.mean())
    assert result.summary.loc["test_roc_auc", "std"] == pytest.approx(auc.std())
    assert result.run_id is None


def test_fit_takes_a_given_split_and_checks_it():
    cfg = load_config(QUICK, ["tracking.enabled=false", "train.epochs=3"])
    split = {"train": np.arange(0, 50), "val": np.arange(50, 65), "test": np.arange(65, 80)}
    result = fit(cfg, splits=split)
    assert result.split == "given"
    assert np.array_equal(result.splits["test"], split["test"])
    with pytest.raises(DataError, match="overlap"):
        fit(cfg, splits=split | {"val": np.arange(40, 65)})


def test_published_split_is_not_cross_validated(monkeypatch):
    import graphfuse.experiment._cv as experiment
    from graphfuse.data import make_synthetic_cohort

    cohort = make_synthetic_cohort(40, n_genes=50, n_pathways=5, n_regions=5, seed=0)
    cohort.obs["split"] = ["train"] * 30 + ["test"] * 10
    monkeypatch.setattr(experiment, "load_cohort", lambda *a, **k: cohort)
    cfg = load_config(QUICK, ["tracking.enabled=false"])
    with pytest.raises(ConfigError, match="published train/test split"):
        cross_validate(cfg, folds=3)


def test_a_fold_run_is_explained_on_its_own_fold_split():
    from mlflow.tracking import MlflowClient

    from graphfuse.experiment import explain_run

    cfg = load_config(QUICK, ["train.epochs=2", "seed=3"])
    result = cross_validate(cfg, folds=2, seeds=[4])  # a fold's seed is not the config's
    client = MlflowClient()
    parent = client.get_run(result.run_id)
    (fold,) = client.search_runs(
        [parent.info.experiment_id],
        f"tags.mlflow.parentRunId = '{result.run_id}' and tags.`graphfuse.cv_fold` = '1'",
    )
    explained = explain_run(fold.info.run_id, ["saliency"], log=False)
    cohort_y = explained.prepared.cohort.y
    split = stratified_folds(cohort_y, folds=2, val_fraction=cfg.train.val_fraction, seed=4)[1]
    assert np.array_equal(explained.prepared.splits["test"], split["test"])
    assert explained.attributions["saliency"].scores  # explained, not a shape error


def test_repeats_run_consecutive_seeds_and_summarise_over_repeats():
    cfg = load_config(QUICK, ["tracking.enabled=false", "train.epochs=3", "seed=2"])
    result = cross_validate(cfg, folds=2, repeats=3)
    assert len(result.folds) == 3 * 2
    assert sorted(set(result.folds["seed"])) == [2, 3, 4]
    per_seed = result.folds.groupby("seed")["test_roc_auc"].mean()
    rep = result.repeat_summary.loc["test_roc_auc"]
    assert rep["mean"] == pytest.approx(per_seed.mean())
    assert rep["std"] == pytest.approx(per_seed.std())
    # the fold-level sd is over all 6 rows, not over the 3 repeat means
    assert result.summary.loc["test_roc_auc", "std"] == pytest.approx(
        result.folds["test_roc_auc"].std()
    )
    assert rep["std"] != pytest.approx(result.summary.loc["test_roc_auc", "std"])


def test_repeats_and_seeds_together_are_refused():
    cfg = load_config(QUICK, ["tracking.enabled=false"])
    with pytest.raises(ConfigError, match="not both"):
        cross_validate(cfg, folds=2, seeds=[0, 1], repeats=2)
    with pytest.raises(ConfigError, match="at least 1"):
        cross_validate(cfg, folds=2, repeats=0)


def test_cli_cv_repeats_prints_the_repeat_summary_and_logs_it(tmp_path):
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from graphfuse.cli import main

    uri = f"sqlite:///{tmp_path}/cv.db"
    args = ["cv", "-c", str(QUICK), "-k", "2", "--set", "train.epochs=2", "--tracking-uri", uri]
    out = CliRunner().invoke(main, [*args, "--repeats", "2"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "2 repeats" in out.output
    assert re.search(r"mean\s+repeats\s+\d\.\d{3}", out.output)
    assert re.search(r"sd\s+repeats\s+\d\.\d{3}", out.output)
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("graphfuse-quick").experiment_id],
        "tags.`graphfuse.cv_seeds` = '0,1'",
    )
    metrics = parent.data.metrics
    assert {"cv_test_roc_auc_repeat_mean", "cv_test_roc_auc_repeat_sd"} <= set(metrics)
    both = CliRunner().invoke(main, [*args, "--repeats", "2", "--seed", "3"])
    assert both.exit_code == 2 and "not both" in both.output and "Traceback" not in both.output
