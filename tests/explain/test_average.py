"""``average_attributions`` / ``explain_members``: an ensemble's attribution is the weighted
average of its members', over the union of their features (a feature a member lacks: 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graphfuse.errors import DataError
from graphfuse.explain import Attribution, average_attributions, explain_members, member_weights
from graphfuse.explain import run as run_explainers
from graphfuse.models import build_model
from graphfuse.train import train_model

IDS = pd.Index(["p1", "p2", "p3"], name="patient")


def attribution(scores, proba, *, ids=IDS, edges=None, method="gradient", seconds=1.0, seed=0):
    prediction = pd.DataFrame({"p_CN": 1 - np.asarray(proba), "p_AD": proba}, index=ids)
    prediction["target"] = "AD"
    frames = {m: pd.DataFrame(v, index=ids) for m, v in scores.items()}
    return Attribution(
        method,
        frames,
        prediction,
        params={"kind": "gradient"},
        seed=seed,
        seconds=seconds,
        edge_scores=edges or {},
        feature_genes={"rna": {f: f.upper() for f in frames.get("rna", pd.DataFrame()).columns}},
    )


def test_the_average_runs_over_the_union_of_features_with_zero_for_a_missing_one():
    nan = np.nan
    # p2 lacks rna (NaN rows in both members); only member a reads "img"
    a = attribution(
        {"rna": {"g1": [1.0, nan, 3.0], "g2": [2.0, nan, -2.0]}, "img": {"r1": [4.0, 4.0, 4.0]}},
        [0.2, 0.4, 0.6],
        seconds=1.5,
    )
    b = attribution({"rna": {"g2": [6.0, nan, 2.0], "g3": [-1.0, nan, 1.0]}}, [0.4, 0.8, 0.2])
    out = average_attributions([a, b], [1, 3], names=["fold_0", "refit"])
    w_a, w_b = 0.25, 0.75
    expected_rna = pd.DataFrame(
        {
            "g1": [w_a * 1.0, nan, w_a * 3.0],
            "g2": [w_a * 2.0 + w_b * 6.0, nan, w_a * -2.0 + w_b * 2.0],
            "g3": [w_b * -1.0, nan, w_b * 1.0],
        },
        index=IDS,
    )
    pd.testing.assert_frame_equal(out.scores["rna"], expected_rna, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(
        out.scores["img"], pd.DataFrame({"r1": [w_a * 4.0] * 3}, index=IDS), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(out.prediction["p_AD"], [0.35, 0.7, 0.3], rtol=0, atol=1e-12)
    assert (out.prediction["target"] == "AD").all()
    assert out.method == "gradient" and out.seconds == pytest.approx(2.5) and out.seed == 0
    assert out.params["kind"] == "gradient"
    assert out.params["ensemble"]["members"] == ["fold_0", "refit"]
    assert out.params["ensemble"]["weights"] == [w_a, w_b]
    assert out.feature_genes["rna"] == {"g1": "G1", "g2": "G2", "g3": "G3"}
    # the averaged table ranks genes like any attribution
    assert out.gene_ranking()[0] == "G2"


def test_patients_are_aligned_by_id_and_other_patients_are_refused():
    a = attribution({"rna": {"g1": [1.0, 2.0, 3.0]}}, [0.1, 0.2, 0.3])
    shuffled = pd.Index(["p3", "p1", "p2"], name="patient")
    b = attribution({"rna": {"g1": [30.0, 10.0, 20.0]}}, [0.3, 0.1, 0.2], ids=shuffled)
    out = average_attributions([a, b])
    assert list(out.patients) == list(IDS)
    np.testing.assert_allclose(out.scores["rna"]["g1"], [5.5, 11.0, 16.5])
    other = attribution(
        {"rna": {"g1": [1.0, 2.0, 3.0]}},
        [0.1, 0.2, 0.3],
        ids=pd.Index(["p1", "p2", "p9"], name="patient"),
    )
    with pytest.raises(DataError, match=r"member 'member_1' explained other patients.*p9"):
        average_attributions([a, other])


def test_members_that_cannot_be_averaged_are_refused_naming_why():
    a = attribution({"rna": {"g1": [1.0, 2.0, 3.0]}}, [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="method 'shap' differs"):
        average_attributions([a, attribution({"rna": {"g1": [1.0] * 3}}, [0.1] * 3, method="shap")])
    b = attribution({"rna": {"g1": [1.0, 2.0, 3.0]}}, [0.1, 0.2, 0.3])
    b.prediction.loc["p2", "target"] = "CN"
    with pytest.raises(DataError, match=r"different target classes for patients \['p2'\]"):
        average_attributions([a, b])
    with pytest.raises(DataError, match="2 names for 1 members"):
        average_attributions([a], names=["x", "y"])
    with pytest.raises(DataError, match="unique"):
        average_attributions([a, a], names=["x", "x"])
    with pytest.raises(DataError, match="at least one"):
        average_attributions([])
    for bad in ([1.0], [-1.0, 2.0], [0.0, 0.0], [np.nan, 1.0]):
        with pytest.raises(DataError, match="weight"):
            member_weights(bad, 2)


def test_edge_scores_are_averaged_only_where_every_member_scored_the_same_edges():
    edges = pd.DataFrame({"source": ["p1", "p2"], "target": ["p2", "p3"], "score": [1.0, 2.0]})
    flipped = edges.iloc[::-1].assign(score=[6.0, 3.0])  # same edges, other order
    a = attribution({"rna": {"g1": [1.0] * 3}}, [0.1] * 3, edges={"rna": edges})
    b = attribution({"rna": {"g1": [1.0] * 3}}, [0.1] * 3, edges={"rna": flipped})
    out = average_attributions([a, b])
    assert out.edge_scores["rna"]["score"].tolist() == [2.0, 4.0]
    assert out.params["ensemble"]["edge_scores"].startswith("averaged")
    other = edges.assign(target=["p3", "p3"])
    c = attribution({"rna": {"g1": [1.0] * 3}}, [0.1] * 3, edges={"rna": other})
    out = average_attributions([a, c])
    assert out.edge_scores == {}
    assert out.params["ensemble"]["edge_scores"].startswith("dropped")


def test_explain_members_is_the_average_of_each_members_run(gcn, cohort):
    one, graph = gcn
    torch.manual_seed(1)
    two = build_model("gcn_fusion", graph, len(cohort.classes), hidden=8)
    train_model(two, graph, epochs=20, lr=1e-2, weight_decay=1e-3, patience=20, progress=False)
    patients = [0, 3, 5]
    out = explain_members(
        [(one, graph), (two, graph)],
        ["gradient", "sensitivity"],
        patients=patients,
        weights=[2, 1],
        params={"sensitivity": {"groups": "modalities"}},
    )
    assert list(out) == ["gradient", "sensitivity"]
    for method, averaged in out.items():
        params = {method: {"groups": "modalities"}} if method == "sensitivity" else None
        alone = [
            run_explainers(m, graph, [method], patients=patients, params=params)[method]
            for m in (one, two)
        ]
        for modality, frame in averaged.scores.items():
            expected = 2 / 3 * alone[0].scores[modality] + 1 / 3 * alone[1].scores[modality]
            pd.testing.assert_frame_equal(frame, expected, rtol=0, atol=1e-12)
        assert averaged.params["ensemble"]["members"] == ["member_0", "member_1"]
    groups = out["sensitivity"].groups["modalities"]
    assert groups.shape == (3, len(cohort.modalities))
    # one position list per member
    per_member = explain_members([(one, graph), (two, graph)], ["gradient"], patients=[[0], [0]])
    assert len(per_member["gradient"].patients) == 1
    with pytest.raises(DataError, match="3 position lists for 2 members"):
        explain_members([(one, graph), (two, graph)], ["gradient"], patients=[[0], [0], [1]])
