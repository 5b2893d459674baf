"""Fold ensembles: an ``EnsemblePipeline`` of fitted pipelines predicts and explains the
average of its members, saves without pickle, and loads through ``load_pipeline`` (folder or
run artifact), ``predict_run`` and ``graphfuse predict`` like a single pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.data import Cohort, NewPatients, make_synthetic_cohort
from graphfuse.errors import DataError
from graphfuse.experiment import (
    EnsemblePipeline,
    Pipeline,
    explain_new,
    fit,
    load_pipeline,
    predict_run,
    read_new_data,
    wide_table,
)

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
#: members select their own 60 most variable genes: their feature sets differ
OFF = [
    "tracking.enabled=false",
    "train.epochs=6",
    "data.preprocess.omics={expression: {select: {method: variance, n: 60}}}",
]
NEW = """\
seed: 0
data:
  source: synthetic
  synthetic:
    n_patients: 80
    n_genes: 200
    n_pathways: 20
    n_regions: 20
    effect_size: 1.5
    new_patients: {n: 10, seed: 5}
"""
P = ["p_CN", "p_AD"]


def union_mean(attributions, modality: str) -> pd.DataFrame:
    """By hand: the members' mean over the union of their features (first member's order,
    then the others'), a feature a member lacks counting 0 where the patient has the
    modality."""
    frames = [a.scores[modality] for a in attributions]
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    parts = []
    for frame in frames:
        full = frame.reindex(columns=columns)
        has = frame.notna().any(axis=1)
        full.loc[has] = full.loc[has].fillna(0.0)
        parts.append(full)
    return sum(parts) / len(parts)


@pytest.fixture(scope="module")
def members() -> tuple[Pipeline, Pipeline]:
    """Two folds of one cohort: other training/validation patients, other seeds."""
    first = fit(load_config(QUICK, OFF))
    pool = np.concatenate([first.splits["train"], first.splits["val"]])
    np.random.default_rng(1).shuffle(pool)
    n_val = len(first.splits["val"])
    splits = {"train": pool[n_val:], "val": pool[:n_val], "test": first.splits["test"]}
    second = fit(load_config(QUICK, [*OFF, "seed=1"]), cohort=first.cohort, splits=splits)
    return first.pipeline(), second.pipeline()


@pytest.fixture(scope="module")
def new():
    return make_synthetic_cohort(
        80, n_genes=200, n_pathways=20, n_regions=20, effect_size=1.5, seed=0,
        new_patients={"n": 10, "seed": 3},
    )  # fmt: skip


def test_averaged_predictions_are_the_mean_of_the_members(members, new):
    a, b = members
    ensemble = EnsemblePipeline([a, b], ["fold_0", "fold_1"])
    frame = ensemble.predict(new)
    fa, fb = a.predict(new), b.predict(new)
    assert not np.allclose(fa[P], fb[P])  # two different members
    mean = (fa[P].to_numpy(np.float64) + fb[P].to_numpy(np.float64)) / 2  # averaged in float64
    np.testing.assert_array_equal(frame[P].to_numpy(), mean)
    assert (frame["prediction"] == np.where(frame["p_AD"] > frame["p_CN"], "AD", "CN")).all()
    assert (frame["members"] == 2).all()
    for col in ("label", "modalities", "neighbours_expression"):
        assert (frame[col] == fa[col]).all()
    assert ensemble.task == "classification" and ensemble.classes == ["CN", "AD"]
    assert ensemble.modalities == a.modalities and ensemble.config is a.config
    assert ensemble.info["fingerprint"] == a.info["fingerprint"]  # one cohort, two folds
    weighted = EnsemblePipeline([a, b], weights=[1, 3]).predict(new)
    expected = 0.25 * fa[P].to_numpy(np.float64) + 0.75 * fb[P].to_numpy(np.float64)
    np.testing.assert_allclose(weighted[P].to_numpy(), expected, rtol=0, atol=1e-12)


def test_input_features_are_the_union_of_the_members(members):
    a, b = members
    ensemble = EnsemblePipeline([a, b])
    union = ensemble.input_features()["expression"]
    ours, theirs = set(a.input_features()["expression"]), set(b.input_features()["expression"])
    assert ours != theirs and set(union) == ours | theirs and len(union) == len(set(union))


def test_save_and_load_round_trip_gives_identical_predictions(members, new, tmp_path):
    ensemble = EnsemblePipeline(list(members), ["fold_0", "refit"], [2, 1])
    folder = ensemble.save(tmp_path / "ensemble")
    assert sorted(p.name for p in folder.iterdir()) == ["ensemble.json", "members"]
    for name in ("fold_0", "refit"):
        files = sorted(p.name for p in (folder / "members" / name).iterdir())
        assert files == ["arrays.npz", "pipeline.json"]
    assert not [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".pt", ".pth")]
    document = json.loads((folder / "ensemble.json").read_text())
    assert document["format"] == "graphfuse-ensemble" and document["weights"] == [2.0, 1.0]
    loaded = EnsemblePipeline.load(folder)
    assert (
        loaded.names == ["fold_0", "refit"] and loaded.info["weights"] == ensemble.info["weights"]
    )
    expected = ensemble.predict(new)
    pd.testing.assert_frame_equal(loaded.predict(new), expected, check_exact=True)
    pd.testing.assert_frame_equal(load_pipeline(folder).predict(new), expected, check_exact=True)


def test_load_pipeline_reads_either_kind_from_a_folder_or_a_run(members, new, tmp_path):
    from mlflow.tracking import MlflowClient

    a, b = members
    single = load_pipeline(a.save(tmp_path / "single"))
    assert type(single) is Pipeline
    ensemble = EnsemblePipeline([a, b])
    folder = ensemble.save(tmp_path / "ensemble")
    assert type(load_pipeline(folder)) is EnsemblePipeline
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("ensembles", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(experiment).info.run_id
    client.log_artifacts(run_id, str(folder), "pipeline")
    loaded = load_pipeline(run_id, tracking_uri=uri)
    assert type(loaded) is EnsemblePipeline and loaded.run_id == run_id
    assert loaded.info["load_seconds"] >= 0
    pd.testing.assert_frame_equal(loaded.predict(new), ensemble.predict(new), check_exact=True)
    with pytest.raises(DataError, match=r"ensemble\.json"):
        load_pipeline(tmp_path)  # a folder of neither kind


def test_averaged_attribution_is_the_mean_of_the_members_over_the_union(members, new):
    a, b = members
    ensemble = EnsemblePipeline([a, b], ["fold_0", "fold_1"])
    out = ensemble.explain(new, "gradient")
    alone = [a.explain(new, "gradient"), b.explain(new, "gradient")]
    assert out.method == "gradient" and list(out.patients) == list(alone[0].patients)
    assert out.params["ensemble"]["members"] == ["fold_0", "fold_1"]
    for m in a.modalities:
        pd.testing.assert_frame_equal(out.scores[m], union_mean(alone, m), rtol=0, atol=1e-12)
    expression = [set(x.scores["expression"].columns) for x in alone]
    assert expression[0] != expression[1]
    assert set(out.scores["expression"].columns) == expression[0] | expression[1]
    np.testing.assert_allclose(
        out.prediction["p_AD"].to_numpy(), ensemble.predict(new)["p_AD"].to_numpy(), atol=1e-6
    )


def test_mismatched_members_are_refused_with_a_clear_message(members):
    a, b = members
    fewer = fit(
        load_config(QUICK, [*OFF, "data.modalities=[expression, imaging]", "train.epochs=2"])
    )
    with pytest.raises(DataError, match=r"member 'member_1' has modalities .*must share"):
        EnsemblePipeline([a, fewer.pipeline()])
    with pytest.raises(DataError, match="unique"):
        EnsemblePipeline([a, b], ["x", "x"])
    with pytest.raises(DataError, match="not folder names"):
        EnsemblePipeline([a, b], ["fold/0", "fold_1"])
    with pytest.raises(DataError, match="3 weights for 2"):
        EnsemblePipeline([a, b], weights=[1, 1, 1])
    with pytest.raises(DataError, match="at least one member"):
        EnsemblePipeline([])
    with pytest.raises(DataError, match="info gives classes"):
        EnsemblePipeline([a, b], info={"classes": ["AD", "CN"]})
    with pytest.raises(DataError, match="no single patient embedding"):
        EnsemblePipeline([a, b]).embed(None)


def test_predict_and_explain_a_saved_ensemble_through_the_cli(members, tmp_path):
    folder = EnsemblePipeline(list(members)).save(tmp_path / "ensemble")
    (tmp_path / "new.yaml").write_text(NEW)
    runner = CliRunner()
    out = tmp_path / "pred.csv"
    args = ["predict", "--run", str(folder), "--data", str(tmp_path / "new.yaml")]
    res = runner.invoke(main, [*args, "--out", str(out), "--no-track"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    written = pd.read_csv(out, index_col=0)
    direct = load_pipeline(folder).predict(read_new_data(tmp_path / "new.yaml"))
    np.testing.assert_allclose(written["p_AD"].to_numpy(), direct["p_AD"].to_numpy(), atol=1e-9)
    assert (written["members"] == 2).all()
    tracked = predict_run(folder, tmp_path / "new.yaml", out=tmp_path / "pred.h5mu")
    assert tracked.run_id is not None and "roc_auc" in tracked.metrics
    import mudata as md

    mdata = md.read_h5mu(str(tmp_path / "pred.h5mu"))
    assert list(mdata.uns["graphfuse"]["members"]) == ["member_0", "member_1"]
    assert "graphfuse_embedding" not in mdata.obsm
    res = runner.invoke(
        main,
        ["explain", "--run", str(folder), "--data", str(tmp_path / "new.yaml"), "-m",
         "gradient", "--out", str(tmp_path / "explained")],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    saved = tmp_path / "explained" / "gradient" / "attribution.json"
    assert json.loads(saved.read_text())["params"]["ensemble"]["members"] == [
        "member_0",
        "member_1",
    ]
    again = explain_new(folder, tmp_path / "new.yaml", ["gradient"])["gradient"]
    assert len(again.patients) == 10


def test_three_classes_explain_each_patient_for_the_class_the_ensemble_predicts():
    base = make_synthetic_cohort(60, n_genes=60, n_pathways=6, n_regions=6, effect_size=2.0, seed=0)
    mdata = base.mdata.copy()
    labels = mdata.obs["label"].astype(str).to_numpy().astype(object)
    labels[np.flatnonzero(labels == "AD")[::2]] = "AD2"
    mdata.obs["subtype"] = pd.Categorical(labels, categories=["CN", "AD", "AD2"])
    cohort = Cohort(mdata, target="subtype")
    quick = ["tracking.enabled=false", "train.epochs=30"]
    fits = [fit(load_config(QUICK, [*quick, f"seed={s}"]), cohort=cohort) for s in (0, 1)]
    ensemble = EnsemblePipeline([f.pipeline() for f in fits])
    new = NewPatients.from_cohort(cohort)  # every patient, scored as new
    predicted = ensemble.predict(new)["prediction"]
    assert predicted.nunique() >= 2  # the patients are explained in several groups
    out = ensemble.explain(new, "gradient")
    assert list(out.patients) == list(predicted.index)
    assert (out.prediction["target"] == predicted).all()
    for cls in predicted.unique():
        rows = predicted.index[predicted == cls]
        alone = [f.pipeline().explain(new, "gradient", target=cls) for f in fits]
        for m in cohort.modalities:
            expected = union_mean(alone, m).loc[rows]
            pd.testing.assert_frame_equal(out.scores[m].loc[rows], expected, rtol=0, atol=1e-12)
    assert out.params["target"] == "each patient's class predicted by the ensemble"


def test_survival_members_average_their_risk_and_split_at_the_ensembles_median():
    survival = [
        "task=survival",
        "data.synthetic.survival=true",
        "data.survival={time: time, event: event}",
        "tracking.enabled=false",
        "train.epochs=4",
    ]
    first = fit(load_config(QUICK, survival))
    fits = [first, fit(load_config(QUICK, [*survival, "seed=1"]), cohort=first.cohort)]
    a, b = (f.pipeline() for f in fits)
    new = NewPatients.from_cohort(fits[0].cohort)
    fa, fb = a.predict(new), b.predict(new)
    plain = EnsemblePipeline([a, b])
    frame = plain.predict(new)
    mean = (fa["risk"].to_numpy(np.float64) + fb["risk"].to_numpy(np.float64)) / 2
    np.testing.assert_array_equal(frame["risk"].to_numpy(), mean)
    assert "risk_group" not in frame.columns  # no median of the ensemble's own: no groups
    median = float(np.median(mean))
    split = EnsemblePipeline([a, b], info={"risk_median": median}).predict(new)
    assert (split["risk_group"] == np.where(mean > median, "high", "low")).all()
    out = plain.explain(new, "gradient")
    assert out.output == "risk score" and "risk" in out.prediction.columns


def test_the_mlflow_model_code_loads_and_signs_an_ensemble(members, new, tmp_path):
    from types import SimpleNamespace

    from graphfuse.experiment._pyfunc import GraphfuseModel, signature

    ensemble = EnsemblePipeline(list(members))
    folder = ensemble.save(tmp_path / "pipeline")
    names = signature(ensemble).inputs.input_names()
    union = ensemble.input_features()["expression"]
    assert {f"expression/{f}" for f in union} <= set(names)
    tables = {}
    for m in new.modalities:
        adata = new.modality(m)
        tables[m] = pd.DataFrame(adata.X, index=adata.obs_names, columns=adata.var_names)
    model = GraphfuseModel()
    model.load_context(SimpleNamespace(artifacts={"pipeline": str(folder)}))
    assert isinstance(model.pipeline, EnsemblePipeline)
    out = model.predict(None, wide_table(tables)).set_index("patient")
    direct = ensemble.predict(tables)
    np.testing.assert_allclose(out.loc[direct.index, P].to_numpy(), direct[P].to_numpy())
