"""``train.selection: cv`` and ``train.ensemble``: epochs chosen by inner cross-validation
inside the training patients, every fitted thing fitted inside each inner fold, and the final
predictor built from the folds' models, a refit, or both."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphfuse.config import ExperimentConfig, load_config
from graphfuse.data import Cohort, load_cohort
from graphfuse.errors import ConfigError
from graphfuse.experiment import EnsemblePipeline, fit, load_pipeline, prepare, split_cohort
from graphfuse.experiment._inner import inner_folds
from graphfuse.graphs import PATIENT, feature_key
from graphfuse.train import task_class

QUICK = Path(__file__).resolve().parents[1] / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=25", "train.patience=3"]
CV = [*OFF, "train.selection=cv", "train.inner_folds=3"]


def _cv(*extra: str):
    return fit(load_config(QUICK, [*CV, *extra]))


@pytest.fixture(scope="module")
def both():
    """One ``folds+refit`` fit: every member is kept, so each check reads the same run."""
    return _cv("train.ensemble=folds+refit")


def test_inner_folds_partition_the_training_patients_stratified():
    y = np.array([0, 1] * 20)
    pool = np.arange(30)  # the last 10 are test patients: never in a fold
    parts = inner_folds(y, pool, folds=3, seed=0)
    held = np.concatenate([val for _, val in parts])
    assert sorted(held.tolist()) == list(range(30))
    for train, val in parts:
        assert not set(train) & set(val)
        assert sorted([*train, *val]) == list(range(30))
        assert abs(y[val].mean() - 0.5) < 0.1  # stratified
    again = inner_folds(y, pool, folds=3, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(parts, again, strict=True))
    assert not np.array_equal(parts[0][1], inner_folds(y, pool, folds=3, seed=1)[0][1])


def test_too_few_patients_per_class_for_the_folds_names_the_class():
    y = np.array([0] * 10 + [1] * 2)
    with pytest.raises(Exception, match=r"3 stratified folds need at least 3 .* has 2"):
        inner_folds(y, np.arange(12), folds=3, seed=0)


def test_each_inner_fold_fits_on_its_own_training_patients_only(both):
    inner, test = both.inner, both.splits["test"]
    pool = both.splits["train"]
    assert not both.splits["val"].size  # no validation set is carved with inner CV
    assert len(inner.members) == 3
    held = []
    for member in inner.members:
        s = member.prepared.splits
        store = member.data[PATIENT]
        assert np.array_equal(np.flatnonzero(store.train_mask.numpy()), s["train"])
        assert np.array_equal(np.flatnonzero(store.val_mask.numpy()), s["val"])
        assert np.array_equal(s["test"], test)
        assert sorted([*s["train"], *s["val"]]) == pool.tolist()
        held.extend(s["val"].tolist())
        # the fold's scaling was fitted on the fold's training patients: mean 0 there only
        m = member.data.modalities[0]
        x = store[feature_key(m)].numpy()
        has = store.available.numpy()[:, 0]
        rows = np.intersect1d(s["train"], np.flatnonzero(has))
        assert np.allclose(x[rows].mean(axis=0), 0, atol=1e-4)
        assert not np.allclose(x[np.intersect1d(pool, np.flatnonzero(has))].mean(axis=0), 0)
    assert sorted(held) == pool.tolist()  # each training patient held out once


def test_the_chosen_epochs_are_the_median_of_the_folds_best_epochs(both):
    best = both.inner.scores["best_epoch"]
    assert both.inner.epochs == max(1, round(float(np.median(best))))
    assert (both.inner.scores["best_epoch"] <= both.inner.scores["stopped_epoch"]).all()
    refit = both.members[-1]
    assert refit.name == "refit"
    assert refit.history.stopped_epoch == len(refit.history.epochs) == both.inner.epochs
    assert all(set(e) == {"epoch", "train_loss"} for e in refit.history.epochs)  # no validation
    store = refit.data[PATIENT]
    assert np.array_equal(np.flatnonzero(store.train_mask.numpy()), both.splits["train"])
    assert not store.val_mask.any()


def test_validation_metrics_are_the_out_of_fold_predictions(both):
    inner, pool = both.inner, both.splits["train"]
    oof = np.full_like(inner.oof, np.nan)
    for member in inner.members:
        val = member.prepared.splits["val"]
        oof[val] = member.proba[val]
    np.testing.assert_array_equal(np.isnan(oof), np.isnan(inner.oof))
    np.testing.assert_allclose(oof[pool], inner.oof[pool])
    assert np.isnan(inner.oof[both.splits["test"]]).all()  # test patients are never scored here
    expected = task_class("classification").score(oof, both.cohort.y, {"val": pool})["val"]
    assert both.metrics["val"] == pytest.approx(expected)
    summary = inner.summary()
    assert summary.loc["mean", "val_roc_auc"] == pytest.approx(inner.scores["val_roc_auc"].mean())


def test_the_ensemble_is_the_mean_of_its_members(both):
    assert [m.name for m in both.members] == ["fold0", "fold1", "fold2", "refit"]
    np.testing.assert_allclose(both.proba, np.mean([m.proba for m in both.members], axis=0))
    assert both.model is both.members[-1].model  # the refit stands for the ensemble
    y, test = both.cohort.y, both.splits["test"]
    expected = task_class("classification").score(both.proba, y, {"test": test})["test"]
    assert both.metrics["test"] == pytest.approx(expected)


def test_folds_only_and_refit_only_finals(both):
    folds = _cv("train.ensemble=folds")
    assert [m.name for m in folds.members] == ["fold0", "fold1", "fold2"]
    for a, b in zip(folds.members, both.members[:3], strict=True):  # the same inner folds
        np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_allclose(folds.proba, np.mean([m.proba for m in both.members[:3]], axis=0))
    refit = _cv()  # the default final predictor of selection: cv
    assert refit.config.train.ensemble == "refit" and refit.members == []
    np.testing.assert_array_equal(refit.proba, both.members[-1].proba)


def test_test_patients_never_reach_the_selection():
    """Leakage: scrambling the test patients' labels and features changes nothing the inner
    folds measured or chose, nor the training patients' out-of-fold predictions."""
    config = load_config(QUICK, [*CV, "train.ensemble=folds"])
    cohort = load_cohort(config.data, seed=config.seed)
    splits, _ = split_cohort(cohort, config)
    base = fit(config, cohort=cohort, splits=splits)
    test = splits["test"]
    rng = np.random.default_rng(0)
    mdata = cohort.mdata.copy()
    labels = mdata.obs[cohort.target].to_numpy().copy()
    labels[test] = labels[test][::-1]
    assert (labels[test] != cohort.obs[cohort.target].to_numpy()[test]).any()
    mdata.obs[cohort.target] = pd.Categorical(labels, categories=cohort.classes)  # same codes
    ids = cohort.patients[test]
    for name, mod in mdata.mod.items():
        x = np.asarray(mod.X, dtype=float).copy()
        rows = np.flatnonzero(mod.obs_names.isin(ids))
        x[rows] = x[rng.permutation(rows)]  # other test patients' values: valid, not theirs
        mdata.mod[name].X = x
    changed = Cohort(mdata, target=cohort.target)
    assert np.array_equal(changed.y[splits["train"]], cohort.y[splits["train"]])
    scrambled = fit(config, cohort=changed, splits=splits)
    pool = base.splits["train"]
    assert scrambled.inner.epochs == base.inner.epochs
    cols = ["best_epoch", "stopped_epoch"]
    cols += [c for c in base.inner.scores.columns if c.startswith("val_")]
    np.testing.assert_allclose(scrambled.inner.scores[cols], base.inner.scores[cols], rtol=1e-5)
    np.testing.assert_allclose(scrambled.inner.oof[pool], base.inner.oof[pool], rtol=1e-5)
    assert scrambled.metrics["val"] == pytest.approx(base.metrics["val"], rel=1e-5)
    assert scrambled.metrics["test"] != base.metrics["test"]  # the scrambling did reach the test


def test_callbacks_see_the_folds():
    records, folds = [], []
    fit(
        load_config(QUICK, CV),
        on_epoch=records.append,
        on_fold=lambda k, row: folds.append((k, row)),
    )
    assert [k for k, _ in folds] == [0, 1, 2]
    assert {r["fold"] for r in records} == {0, 1, 2}
    first = [r["epoch"] for r in records if r["fold"] == 1]
    assert first[0] == 1  # epochs restart in each fold
    assert all("val_roc_auc" in row and "best_epoch" in row for _, row in folds)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.ensemble=folds"], "only selection: cv fits"),
        (["train.selection=cv", "train.ensemble=none"], "fits no final model by itself"),
        (["train.refit=true", "train.ensemble=none"], "refit: true asks for a refitted model"),
        (["train.selection=cv", "train.inner_folds=1"], "inner_folds"),
    ],
)
def test_inconsistent_selection_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(QUICK, overrides)


def test_defaults_keep_the_holdout_protocol():
    config = load_config(QUICK, OFF)
    assert (config.train.selection, config.train.ensemble, config.train.refit) == (
        "holdout",
        "none",
        False,
    )
    assert load_config(QUICK, ["train.refit=true"]).train.ensemble == "refit"
    # a config's own round trip (config.yaml of a run) keeps the resolved choice
    cv = load_config(QUICK, [*CV, "train.ensemble=folds"])
    again = ExperimentConfig.model_validate(cv.to_dict())
    assert (again.train.selection, again.train.ensemble, again.train.refit) == (
        "cv",
        "folds",
        False,
    )


def test_a_tracked_cv_fit_logs_the_inner_folds(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    r = fit(load_config(QUICK, [*CV, "tracking.enabled=true", f"tracking.uri={uri}"]))
    client = MlflowClient(uri)
    run = client.get_run(r.run_id)
    m = run.data.metrics
    assert m["selected_epochs"] == r.inner.epochs
    assert m["inner_val_roc_auc_mean"] == pytest.approx(r.inner.scores["val_roc_auc"].mean())
    assert m["inner_val_roc_auc_sd"] == pytest.approx(r.inner.scores["val_roc_auc"].std())
    per_fold = client.get_metric_history(r.run_id, "inner_val_roc_auc")
    assert sorted(x.step for x in per_fold) == [0, 1, 2]
    assert m["val_roc_auc"] == pytest.approx(r.metrics["val"]["roc_auc"])
    assert run.data.tags["graphfuse.selection"] == "cv3"
    assert run.data.tags["graphfuse.ensemble"] == "refit"
    names = {a.path for a in client.list_artifacts(r.run_id)}
    assert {"inner_cv.csv", "inner_history.csv", "pipeline"} <= names
    refit = client.get_metric_history(r.run_id, "refit_train_loss")
    assert len(refit) == r.inner.epochs


def test_prepare_of_the_cv_fit_holds_every_training_patient():
    config = load_config(QUICK, CV)
    holdout = prepare(load_config(QUICK, OFF))
    final = prepare(config, refit=True)
    union = np.sort(np.concatenate([holdout.splits["train"], holdout.splits["val"]]))
    assert np.array_equal(final.splits["train"], union)
    assert np.array_equal(final.splits["test"], holdout.splits["test"])  # the same test set


def test_a_tracked_ensemble_run_predicts_its_test_patients_as_the_fit_scored_them(tmp_path):
    from tests.test_pipeline import subset

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    config = load_config(
        QUICK,
        [*CV, "train.ensemble=folds+refit", "tracking.enabled=true", f"tracking.uri={uri}"],
    )
    r = fit(config)
    pipe = load_pipeline(r.run_id, tracking_uri=uri)
    assert isinstance(pipe, EnsemblePipeline)
    assert pipe.names == ["fold0", "fold1", "fold2", "refit"]
    test = r.splits["test"]
    frame = pipe.predict(subset(r.cohort, r.cohort.patients[test]))
    columns = [f"p_{c}" for c in r.cohort.classes]
    np.testing.assert_allclose(frame[columns].to_numpy(), r.proba[test], atol=1e-5)
    assert (frame["members"] == 4).all()
    in_memory = r.pipeline().predict(subset(r.cohort, r.cohort.patients[test]))
    np.testing.assert_allclose(in_memory[columns].to_numpy(), frame[columns].to_numpy())
    from mlflow.tracking import MlflowClient

    members = {a.path for a in MlflowClient(uri).list_artifacts(r.run_id, "members")}
    assert members == {f"members/{n}" for n in pipe.names}


def test_explaining_an_ensemble_run_explains_the_averaged_output(tmp_path):
    from graphfuse.experiment import explain_run
    from graphfuse.explain import explain_members

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    config = load_config(
        QUICK, [*CV, "train.ensemble=folds", "tracking.enabled=true", f"tracking.uri={uri}"]
    )
    r = fit(config)
    out = explain_run(r.run_id, ["saliency"], tracking_uri=uri, patients="test", log=False)
    got = out.attributions["saliency"]
    test = r.splits["test"]
    expected = explain_members([(m.model, m.data) for m in r.members], ["saliency"], patients=test)[
        "saliency"
    ]
    assert got.params["ensemble"]["members"] == ["fold0", "fold1", "fold2"]
    for modality, frame in expected.scores.items():
        pd.testing.assert_frame_equal(got.scores[modality], frame, rtol=1e-5)
    # the members read different features (each fold selected its own): the union is kept
    single = explain_members([(r.members[0].model, r.members[0].data)], ["saliency"], patients=test)
    assert got.scores.keys() == single["saliency"].scores.keys()
