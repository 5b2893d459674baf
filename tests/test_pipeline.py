"""The fitted pipeline: saved without pickle, it scores the run's own test patients as the
fit did, and new patients one at a time as in a batch, for every model and graph kind."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from graphfuse.config import load_config
from graphfuse.data import Cohort, NewPatients, make_synthetic_cohort
from graphfuse.errors import DataError
from graphfuse.experiment import Pipeline, fit

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
OFF = ["tracking.enabled=false", "train.epochs=6"]

#: (id, overrides): every model family and every graph kind.
CASES = [
    ("gcn_fusion-knn", []),
    ("gcn_fusion-knn-euclidean-neighbors", ["graph.metric=euclidean", "model.missing=neighbors"]),
    ("attention-threshold", ["model.name=attention", "graph.name=threshold"]),
    (
        "mogonet-knn-snf",
        ["model.name=mogonet", "model.hidden=[16, 8]", "graph.fused={name: snf, k: 5, local_k: 8}"],
    ),
    (
        "hetero-knowledge",
        ["model.name=hetero", "graph.knowledge={gene_sets: {pathway: synthetic}, top_genes: 10}"],
    ),
    ("early_mlp", ["model.name=early_mlp"]),
    ("late_mlp-learned", ["model.name=late_mlp"]),
    ("logistic", ["model={name: logistic, Cs: 3}"]),
    ("random_forest", ["model={name: random_forest}"]),
    (
        "gcn_fusion-survival",
        [
            "task=survival",
            "data.synthetic.survival=true",
            "data.survival={time: time, event: event}",
        ],
    ),
    ("gcn_fusion-refit", ["train.refit=true"]),
]


def subset(cohort: Cohort, ids) -> NewPatients:
    """Some patients of a cohort, as new patients (labels kept)."""
    ids = pd.Index([str(i) for i in ids])
    tables = {}
    for m in cohort.modalities:
        adata = cohort.modality(m)
        keep = adata.obs_names.isin(ids)
        if keep.any():
            tables[m] = adata[keep].copy()
    obs = cohort.obs.loc[ids].copy()
    return NewPatients.from_tables(tables, obs=obs, source="test patients")


@pytest.fixture(scope="module")
def quick_fit():
    return fit(load_config(QUICK, OFF))


@pytest.mark.parametrize("overrides", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_saved_pipeline_reproduces_the_fit_on_its_test_patients(overrides, tmp_path):
    result = fit(load_config(QUICK, [*OFF, *overrides]))
    folder = result.pipeline().save(tmp_path / "pipeline")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "pipeline.json"]
    pipe = Pipeline.load(folder)
    test = result.cohort.patients[result.splits["test"]]
    frame = pipe.predict(subset(result.cohort, test))
    assert list(frame.index) == [str(p) for p in test]
    expected = result.proba[result.splits["test"]]
    if result.task == "survival":
        got = frame[["risk"]].to_numpy()
    else:
        got = frame[[f"p_{c}" for c in result.cohort.classes]].to_numpy()
        assert (frame["prediction"] == np.asarray(result.cohort.classes)[expected.argmax(1)]).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # the training patients' graph only: no held-out patient was saved
    assert pipe.n_train == len(result.splits["train"]) + (
        len(result.splits["val"]) if result.config.train.refit else 0
    )


def test_one_patient_at_a_time_equals_the_batch(quick_fit):
    pipe = quick_fit.pipeline()
    new = make_synthetic_cohort(
        80, n_genes=200, n_pathways=20, n_regions=20, effect_size=1.5, seed=0,
        new_patients={"n": 12, "seed": 3},
    )  # fmt: skip
    batch = pipe.predict(new)
    alone = pd.concat([pipe.predict(subset(new, [p])) for p in new.patients])
    pd.testing.assert_frame_equal(alone, batch, check_exact=False, rtol=0, atol=1e-6)
    cols = [c for c in batch.columns if c.startswith("p_")]
    assert np.abs(alone[cols].to_numpy() - batch[cols].to_numpy()).max() < 1e-6
    assert (batch["label"] == new.obs["label"].astype(str).to_numpy()).all()


def test_missing_modalities_at_prediction_time(quick_fit):
    pipe = quick_fit.pipeline()
    cohort = quick_fit.cohort
    ids = cohort.patients[quick_fit.splits["test"]][:6]
    new = subset(cohort, ids)
    only_expression = NewPatients.from_tables(
        {"expression": new.tables["expression"]}, source="expression only"
    )
    frame = pipe.predict(only_expression)
    assert (frame["modalities"] == "expression").all()
    assert (frame["neighbours_imaging"] == 0).all() and (frame["neighbours_expression"] == 5).all()
    assert np.allclose(frame[["p_CN", "p_AD"]].sum(axis=1), 1)


def test_new_patients_of_the_same_biology_score_like_the_test_split():
    cfg = load_config(QUICK, ["tracking.enabled=false", "data.synthetic.n_patients=200"])
    result = fit(cfg)
    new = make_synthetic_cohort(
        200, n_genes=200, n_pathways=20, n_regions=20, effect_size=1.5, seed=0,
        new_patients={"n": 150, "seed": 11},
    )  # fmt: skip
    assert new.availability["imaging"].mean() < 1 and new.availability["methylation"].mean() < 1
    frame = result.pipeline().predict(new)
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(frame["label"] == "AD", frame["p_AD"])
    assert auc > result.metrics["test"]["roc_auc"] - 0.1 and auc > 0.8


# --------------------------------------------------------------------------- refusals


def _tables(cohort: Cohort, ids) -> dict[str, pd.DataFrame]:
    out = {}
    for m in cohort.modalities:
        adata = cohort.modality(m)
        keep = adata.obs_names.isin(ids)
        x = adata.X[keep]
        out[m] = pd.DataFrame(x, index=adata.obs_names[keep], columns=adata.var_names)
    return out


def test_bad_new_data_is_refused_naming_what(quick_fit):
    pipe = quick_fit.pipeline()
    cohort = quick_fit.cohort
    ids = cohort.patients[quick_fit.splits["test"]][:4]
    tables = _tables(cohort, ids)
    with pytest.raises(DataError, match="modality 'rna' was not among the modalities"):
        pipe.predict({**tables, "rna": tables["expression"]})
    lacking = {**tables, "expression": tables["expression"].drop(columns=["G00003", "G00007"])}
    with pytest.raises(DataError, match=r"modality 'expression': 2 feature\(s\) the model needs"):
        pipe.predict(lacking)
    with pytest.warns(UserWarning, match="imputing 2 missing feature"):
        frame = pipe.predict(lacking, allow_missing_features=True)
    assert (frame["imputed_features"] == 2).all()
    dup = {"expression": pd.concat([tables["expression"], tables["expression"].iloc[:1]])}
    with pytest.raises(DataError, match="duplicated patient ids"):
        pipe.predict(dup)
    text = tables["imaging"].astype(object)
    text.iloc[1, 2] = "n/a?"
    with pytest.raises(DataError, match=r"modality 'imaging', feature .*, patient .*not a number"):
        pipe.predict({**tables, "imaging": text})
    inf = tables["expression"].copy()
    inf.iloc[0, 0] = np.inf
    with pytest.raises(DataError, match=r"patient .*: value is infinite"):
        pipe.predict({**tables, "expression": inf})
    with pytest.warns(UserWarning, match="ignoring 1 feature"):
        pipe.predict({**tables, "imaging": tables["imaging"].assign(extra=1.0)})
    with pytest.warns(UserWarning, match="preprocessed like the training tables"):
        pipe.predict({**tables, "expression": np.exp(tables["expression"]) * 1000})
    with pytest.raises(DataError, match="expected a Cohort"):
        pipe.predict(42)


@pytest.mark.filterwarnings("ignore:.*a category not seen among training patients:UserWarning")
def test_clinical_categories_are_matched_by_label_and_unknown_ones_refused(tmp_path):
    cohort = make_synthetic_cohort(80, n_genes=100, n_pathways=10, n_regions=10, seed=0)
    clinical = cohort.modality("clinical").copy()
    raw = pd.DataFrame(clinical.X, index=clinical.obs_names, columns=clinical.var_names)
    raw["site"] = np.where(np.arange(len(raw)) % 3 == 0, "Oslo", "Lyon")
    raw.loc[raw.index[1], "site"] = "Pisa"
    from graphfuse.data import encode_clinical

    encoded = encode_clinical(raw, types={"sex": "binary"})
    mods = {m: cohort.modality(m) for m in ("expression",)}
    mods["clinical"] = encoded
    obs = cohort.obs
    two = Cohort.from_modalities(
        mods, obs, kinds={"expression": "omics", "clinical": "clinical"}, target="label"
    )
    result = fit(
        load_config(QUICK, [*OFF, "data.modalities=null"]), cohort=two
    )  # fmt: skip
    pipe = result.pipeline()
    test = two.patients[result.splits["test"]]
    expected = result.proba[result.splits["test"]]
    # the same patients given as raw values: categories are matched by their labels
    tables = {
        "expression": pd.DataFrame(
            two.modality("expression")[test].X,
            index=test,
            columns=two.modality("expression").var_names,
        ),
        "clinical": raw.loc[test],
    }
    got = pipe.predict(tables)[["p_CN", "p_AD"]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    bad = raw.loc[test].copy()
    bad.iloc[0, bad.columns.get_loc("site")] = "Bern"
    with pytest.raises(DataError, match=r"feature 'site', patient .*'Bern' is not one of"):
        pipe.predict({**tables, "clinical": bad})


def test_a_patient_with_none_of_the_trained_modalities_is_refused(quick_fit):
    pipe = quick_fit.pipeline()
    frame = pd.DataFrame({"x": [1.0]}, index=["p1"])
    expression = pd.DataFrame(
        np.zeros((1, len(quick_fit.data.feature_names["expression"]))), index=["p2"],
        columns=quick_fit.cohort.modality("expression").var_names[:len(quick_fit.data.feature_names["expression"])],
    )  # fmt: skip
    with pytest.raises(DataError, match="have none of the trained modalities"):
        pipe.predict(
            NewPatients(
                pd.Index(["p1", "p2"]),
                {"expression": ad.AnnData(expression.to_numpy(np.float32),
                                          obs=pd.DataFrame(index=["p2"]),
                                          var=pd.DataFrame(index=expression.columns))},
            )
        )  # fmt: skip
    del frame


def test_transductive_runs_have_no_pipeline():
    result = fit(load_config(QUICK, [*OFF, "graph.transductive=true"]))
    with pytest.raises(DataError, match="fitted transductively"):
        result.pipeline()


def test_embed_explain_and_write_into_mudata(quick_fit, tmp_path):
    pipe = quick_fit.pipeline()
    ids = quick_fit.cohort.patients[quick_fit.splits["test"]][:5]
    new = subset(quick_fit.cohort, ids)
    emb = pipe.embed(new)
    assert emb.shape == (5, 16) and list(emb.index) == list(ids)
    attribution = pipe.explain(new, "saliency")
    assert list(attribution.patients) == list(ids)
    import mudata as md

    mdata = md.MuData({m: a.copy() for m, a in new.tables.items()})
    frame = pipe.predict(mdata, write=True)
    assert (
        mdata.obs["graphfuse_prediction"].to_numpy()
        == frame.loc[mdata.obs_names, "prediction"].to_numpy()
    ).all()
    assert mdata.obsm["graphfuse_embedding"].shape == (5, 16)
    assert {"graphfuse_p_CN", "graphfuse_p_AD"} <= set(mdata.obs.columns)
    assert mdata.uns["graphfuse"]["model"] == "gcn_fusion"
    mdata.write(str(tmp_path / "scored.h5mu"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = pipe.predict(str(tmp_path / "scored.h5mu"))
    np.testing.assert_allclose(again["p_AD"].to_numpy(), frame["p_AD"].to_numpy(), atol=1e-6)


def test_saved_json_holds_the_fitted_state(quick_fit, tmp_path):
    folder = quick_fit.pipeline().save(tmp_path / "p")
    doc = json.loads((folder / "pipeline.json").read_text())
    assert doc["format"] == "graphfuse-pipeline" and doc["classes"] == ["CN", "AD"]
    assert doc["fingerprint"] == quick_fit.fingerprint
    assert set(doc["preprocessing"]["modalities"]) == set(quick_fit.cohort.modalities)
    assert doc["model"]["name"] == "gcn_fusion" and doc["config"]["graph"]["name"] == "knn"
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        assert any(k.startswith("model/") for k in npz.files)
        assert any(k.startswith("pre/expression/") for k in npz.files)


@pytest.mark.parametrize(
    "overrides",
    [[], ["model.missing=neighbors"], ["model.name=attention"]],
    ids=["gcn_fusion", "neighbors", "attention"],
)
def test_cached_training_encoders_score_as_the_full_forward_pass(overrides):
    from graphfuse.train import task_class

    result = fit(load_config(QUICK, [*OFF, *overrides]))
    pipe = result.pipeline()
    new = make_synthetic_cohort(
        80, n_genes=200, n_pathways=20, n_regions=20, effect_size=1.5, seed=0,
        new_patients={"n": 10, "seed": 4},
    )  # fmt: skip
    fast = pipe.predict(new)[["p_CN", "p_AD"]].to_numpy()
    assert pipe._cache, "the propagation model should be scored from cached encoder states"
    scored = pipe.attach(new)
    full = task_class("classification").predict(pipe.model, scored.data)[pipe.n_train :]
    np.testing.assert_allclose(fast, full, rtol=0, atol=1e-6)


def test_explaining_new_patients_reports_methods_and_batches(quick_fit):
    from graphfuse.experiment import explain_new

    ids = quick_fit.cohort.patients[quick_fit.splits["test"]][:6]
    steps = []
    out = explain_new(
        quick_fit.pipeline(),
        subset(quick_fit.cohort, ids),
        ["saliency", "sensitivity"],
        progress=lambda *step: steps.append(step),
    )
    assert list(out) == ["saliency", "sensitivity"]
    assert [s for s in steps if s[0] == "explain"] == [
        ("explain", 0, 2, {"method": "saliency"}),
        ("explain", 1, 2, {"method": "sensitivity"}),
        ("explain", 2, 2, {}),
    ]
    batches = [s for s in steps if s[0] == "patients"]
    assert batches and batches[-1][1] == batches[-1][2]  # sensitivity's batches, to the end
    assert {s[3]["method"] for s in batches} == {"sensitivity"}
