"""An Attribution handed to shap, PyG and a MuData/AnnData."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import torch

from graphfuse.config import load_config
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import fit
from graphfuse.explain import Attribution, ExplainerOutput, explain

PATIENTS = ["p0", "p1", "p2", "p3"]


def small_attribution(**kw) -> Attribution:
    """Two modalities; p3 lacks ``meth``; one sensitivity-like grouping and scored edges."""
    rng = np.random.default_rng(0)
    expr = pd.DataFrame(rng.normal(size=(4, 3)), index=PATIENTS, columns=["g1", "g2", "g3"])
    meth = pd.DataFrame(rng.normal(size=(4, 2)), index=PATIENTS, columns=["cg1", "cg2"])
    meth.loc["p3"] = np.nan
    pred = pd.DataFrame({"p_CN": [0.2, 0.7, 0.5, 0.9], "p_AD": [0.8, 0.3, 0.5, 0.1]}, PATIENTS)
    pred["target"] = "AD"
    edges = pd.DataFrame({"source": ["p0", "p1", "p9"], "target": ["p1", "p0", "p2"]})
    edges["score"] = [0.9, 0.1, 0.5]
    groups = pd.DataFrame({"expr": [1.0, 2.0, 3.0, 4.0]}, index=PATIENTS)
    fields = dict(
        method="shap",
        scores={"expr": expr, "meth": meth},
        prediction=pred,
        params={"n_permutations": 8},
        seed=3,
        edge_scores={"expr": edges},
        groups={"modalities": groups},
    )
    return Attribution(**(fields | kw))


def small_mudata(patients=PATIENTS, meth_patients=PATIENTS[:3]) -> md.MuData:
    expr = ad.AnnData(
        np.zeros((len(patients), 4), dtype=np.float32),
        obs=pd.DataFrame(index=list(patients)),
        var=pd.DataFrame(index=["g3", "g1", "g2", "g_not_used"]),
    )
    meth = ad.AnnData(
        np.zeros((len(meth_patients), 2), dtype=np.float32),
        obs=pd.DataFrame(index=list(meth_patients)),
        var=pd.DataFrame(index=["cg2", "cg1"]),
    )
    return md.MuData({"expr": expr, "meth": meth})


# ------------------------------------------------------------------------- shap
def test_to_shap_values_base_and_names():
    a = small_attribution()
    e = a.to_shap()
    assert e.values.shape == (4, 5)
    assert e.feature_names == ["expr: g1", "expr: g2", "expr: g3", "meth: cg1", "meth: cg2"]
    assert e.values[3, 3:].tolist() == [0.0, 0.0]  # p3 lacks meth: no contribution
    # base + sum of scores = the explained output (log-odds of AD)
    log_odds = np.log(a.prediction["p_AD"] / a.prediction["p_CN"]).to_numpy()
    np.testing.assert_allclose(e.base_values + e.values.sum(axis=1), log_odds, atol=1e-9)
    one = a.to_shap("meth")
    assert one.feature_names == ["cg1", "cg2"]
    assert one.values.shape == (4, 2)
    assert one.data is None
    with pytest.raises(DataError, match=r"no modality 'rna'.*expr, meth"):
        a.to_shap("rna")


def test_to_shap_from_the_explained_graph_renders_a_beeswarm(gcn):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    model, graph = gcn
    a = explain(model, graph, "saliency", patients=np.arange(12))
    e = a.to_shap(data=graph)
    n = sum(frame.shape[1] for frame in a.scores.values())
    assert e.values.shape == e.data.shape == (12, n)
    # data are the graph's feature values, NaN where the patient lacks the modality
    first = a.modalities[0]
    k = a.scores[first].shape[1]
    lacking = a.scores[first].isna().all(axis=1).to_numpy()
    assert np.isnan(e.data[lacking, :k]).all()
    assert not np.isnan(e.data[~lacking, :k]).any()
    shap.plots.beeswarm(e, max_display=8, show=False)
    fig = plt.gcf()
    assert fig.axes and len(fig.axes[0].collections) > 0
    plt.close("all")


def test_to_shap_refuses_feature_values_that_miss_patients():
    a = small_attribution()
    values = {m: f.drop(index="p2") for m, f in a.scores.items()}
    with pytest.raises(DataError, match=r"lacks 1 patient.*'p2'"):
        a.to_shap(data=values)


def test_to_shap_without_shap_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap raises ImportError
    with pytest.raises(ConfigError, match=r"graphfuse\[shap\]"):
        small_attribution().to_shap()


# -------------------------------------------------------------------------- PyG
def test_to_pyg_node_and_edge_masks():
    from torch_geometric.explain import HeteroExplanation

    a = small_attribution()
    e = a.to_pyg()
    assert isinstance(e, HeteroExplanation)
    store = e["patient"]
    assert store.patient == ["p0", "p1", "p2", "p3", "p9"]  # p9: reached by an edge only
    assert store.node_mask.shape == (5, 5)
    np.testing.assert_allclose(store.node_mask[:4].numpy(), a.table().fillna(0).to_numpy(), 1e-6)
    assert store.node_mask[4].abs().sum() == 0
    rel = e["patient", "expr", "patient"]
    assert rel.edge_index.tolist() == [[0, 1, 4], [1, 0, 2]]
    assert torch.allclose(rel.edge_mask, torch.tensor([0.9, 0.1, 0.5]))
    assert e.validate_masks()


def test_explanation_is_a_deprecated_alias_of_explainer_output():
    import graphfuse.explain as gx

    with pytest.deprecated_call(match="ExplainerOutput"):
        assert gx.Explanation is ExplainerOutput
    with pytest.raises(AttributeError):
        gx.NoSuchName  # noqa: B018


# ------------------------------------------------------------------- write(mdata)
def test_write_round_trips_through_h5mu(tmp_path):
    a = small_attribution()
    mdata = small_mudata(patients=["extra", *PATIENTS])  # an extra patient gets NaN
    a.write(mdata)
    path = tmp_path / "m.h5mu"
    mdata.write(str(path))
    back = md.read_h5mu(str(path))
    expr = back["expr"]
    scores = expr.obsm["graphfuse_shap"]
    assert scores.shape == (5, 3)
    assert list(scores.index) == list(expr.obs_names)
    assert scores.loc["extra"].isna().all()
    pd.testing.assert_frame_equal(
        scores.loc[PATIENTS], a.scores["expr"], check_names=False, check_freq=False
    )
    # importance aligned by feature name, NaN for a var the model did not see
    imp = expr.var["graphfuse_shap_importance"]
    assert imp["g3"] == pytest.approx(a.scores["expr"]["g3"].abs().mean())
    assert np.isnan(imp["g_not_used"])
    meth = back["meth"].obsm["graphfuse_shap"]
    assert list(meth.index) == ["p0", "p1", "p2"]  # p3 lacks meth: not in that modality
    assert back.obsm["graphfuse_shap_modalities"].loc["p2", "expr"] == 3.0
    uns = back.uns["graphfuse_shap"]
    assert uns["method"] == "shap" and uns["seed"] == 3 and bool(uns["signed"])
    assert list(uns["modalities"]) == ["expr", "meth"]


def test_write_refuses_a_mudata_missing_explained_patients():
    with pytest.raises(DataError, match=r"the MuData lacks 1 patient.*'p3'"):
        small_attribution().write(small_mudata(patients=PATIENTS[:3]))
    # p2 has meth scores but the meth modality lacks it
    with pytest.raises(DataError, match=r"modality 'meth' lacks 1 patient.*'p2'"):
        small_attribution().write(small_mudata(meth_patients=["p0", "p1"]))


def test_write_into_an_anndata_and_its_errors():
    a = small_attribution()
    adata = small_mudata()["expr"].copy()
    with pytest.raises(DataError, match=r"name the modality.*expr, meth"):
        a.write(adata)
    a.write(adata, modality="expr", key="att")
    assert adata.obsm["att"].shape == (4, 3)
    assert "att_importance" in adata.var
    assert adata.uns["att"]["modalities"] == ["expr"]
    with pytest.raises(DataError, match="none of the 2 features of modality 'meth'"):
        a.write(adata, modality="meth")
    mdata = small_mudata()
    del mdata.mod["meth"]
    with pytest.raises(DataError, match="no modality 'meth'"):
        a.write(md.MuData(dict(mdata.mod)))


# ---------------------------------------------------------------- FitResult.write
QUICK = Path(__file__).resolve().parents[2] / "configs" / "ad_quick.yaml"
TINY_FIT = [
    "tracking.enabled=false",
    "train.epochs=3",
    "data.synthetic.n_patients=60",
    "data.synthetic.n_genes=60",
]


@pytest.fixture(scope="module")
def tiny_fit():
    return fit(load_config(QUICK, TINY_FIT))


def test_fit_write_round_trips_predictions_splits_and_embedding(tiny_fit, tmp_path):
    r = tiny_fit
    mdata = r.cohort.mdata.copy()
    r.write(mdata)
    mdata.write(str(tmp_path / "fit.h5mu"))
    back = md.read_h5mu(str(tmp_path / "fit.h5mu"))
    ids = [str(p) for p in r.cohort.patients]
    assert list(back.obs_names) == ids
    np.testing.assert_allclose(back.obs["graphfuse_p_AD"].to_numpy(), r.proba[:, 1], atol=1e-6)
    predicted = np.asarray(r.cohort.classes, dtype=object)[r.proba.argmax(1)]
    assert (back.obs["graphfuse_prediction"].astype(str).to_numpy() == predicted).all()
    split = back.obs["graphfuse_split"].astype(str)
    for name, positions in r.splits.items():
        assert (split.iloc[positions] == name).all()
    assert back.obsm["graphfuse_embedding"].shape[0] == len(ids)
    uns = back.uns["graphfuse"]
    assert uns["model"] == "gcn_fusion" and list(uns["classes"]) == ["CN", "AD"]
    assert json.loads(uns["metrics"])["test"].keys() == r.metrics["test"].keys()


def test_fit_write_with_extra_and_missing_patients(tiny_fit):
    r = tiny_fit
    ids = [*map(str, r.cohort.patients), "new1", "new2"]
    bigger = ad.AnnData(np.zeros((len(ids), 1)), obs=pd.DataFrame(index=ids[::-1]))
    r.write(bigger)  # an AnnData with extra patients: NaN for them
    assert bigger.obs.loc[["new1", "new2"], "graphfuse_p_AD"].isna().all()
    assert bigger.obs.loc[str(r.cohort.patients[0]), "graphfuse_p_AD"] == pytest.approx(
        r.proba[0, 1]
    )
    first = str(r.cohort.patients[0])
    fewer = r.cohort.mdata[r.cohort.patients[1:]].copy()
    with pytest.raises(DataError, match=rf"the MuData lacks 1 patient.*'{first}'"):
        r.write(fewer)
    with pytest.raises(DataError, match="MuData or an AnnData"):
        r.write({"expression": None})
