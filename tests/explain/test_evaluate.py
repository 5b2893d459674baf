"""Truth, faithfulness and stability metrics of attributions (graphfuse.explain)."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score

from graphfuse.errors import DataError
from graphfuse.experiment import annotate_graph
from graphfuse.explain import (
    Attribution,
    agreement,
    consensus_ranking,
    explain,
    faithfulness,
    planted_truth,
    rank_stability,
    score_attribution,
    truth_scores,
)
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.models import FusionModel

from .conftest import trained


# --------------------------------------------------------------------------- helpers
def make_attribution(graph, score, *, method="hand", patients=None, seed=None) -> Attribution:
    """An attribution of ``graph``'s patients with ``score(modality, n, f) -> array``;
    rows of patients lacking a modality are NaN, as explainers leave them."""
    ids = np.asarray(graph.patients, dtype=object)
    pos = np.arange(len(ids)) if patients is None else np.asarray(patients)
    index = pd.Index(ids[pos], name="patient")
    scores = {}
    for i, m in enumerate(graph.modalities):
        names = list(graph.feature_names[m])
        values = np.asarray(score(m, len(pos), len(names)), dtype=float).copy()
        values[~graph["patient"].available[pos, i].numpy()] = np.nan
        scores[m] = pd.DataFrame(values, index=index, columns=names)
    prediction = pd.DataFrame({"p_CN": 0.5, "p_AD": 0.5, "target": "AD"}, index=index)
    return Attribution(
        method=method,
        scores=scores,
        prediction=prediction,
        seed=seed,
        feature_genes=dict(graph.feature_genes),
    )


def series_attribution(values: dict[str, float], *, genes=None, seed=None) -> Attribution:
    """A one-patient attribution over one modality with the given feature scores."""
    frame = pd.DataFrame([values], index=pd.Index(["P0"], name="patient"))
    prediction = pd.DataFrame({"p_a": [0.5], "p_b": [0.5], "target": ["b"]}, index=frame.index)
    return Attribution(
        method="hand",
        scores={"expression": frame},
        prediction=prediction,
        seed=seed,
        feature_genes={"expression": genes or {f: f for f in values}},
    )


class OneFeature(FusionModel):
    """Two-class model whose logit difference is ``3 * x_expression[:, feature]``."""

    registry_name = "one_feature_test"

    def __init__(self, in_dims: dict[str, int], feature: int) -> None:
        super().__init__(in_dims, 2)
        self.feature = feature

    def forward(self, data):
        z = 3.0 * torch.nan_to_num(data["patient"]["x_expression"][:, self.feature])
        return torch.stack([-z / 2, z / 2], dim=1)


@pytest.fixture
def annotated(graph, cohort):
    annotate_graph(graph, cohort)
    return graph


@pytest.fixture(scope="module")
def gcn_graph(cohort, splits, matrices):
    """A trained GCN and its annotated graph, shared by this module's tests (read only)."""
    graph = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=4))
    return trained("gcn_fusion", graph, cohort), graph


@pytest.fixture
def one_feature(annotated):
    model = OneFeature({m: len(annotated.feature_names[m]) for m in annotated.modalities}, 3)
    return model, annotated


def hot(modality, feature, value):
    """A score function: ``value`` on one feature, small noise elsewhere."""

    def score(m, n, f):
        rng = np.random.default_rng(len(m) * 100 + f)
        out = rng.uniform(0.0, 0.1, (n, f))
        if m == modality:
            out[:, feature] = value
        return out

    return score


# --------------------------------------------------------------------------- truth
def test_truth_scores_hand_built_case():
    table = truth_scores(["a", "b", "c", "d"], {"a", "c", "zzz"}, k=(1, 2, 3))
    assert table.loc["precision@1", "value"] == 1.0
    assert table.loc["precision@2", "value"] == 0.5
    assert table.loc["recall@3", "value"] == 1.0
    assert table.loc["auprc", "value"] == pytest.approx((1 + 2 / 3) / 2)
    # "zzz" is not among the ranked items: it does not count
    assert (table["n_true"] == 2).all() and (table["n_items"] == 4).all()
    assert table.loc["precision@2", "random"] == 0.5  # prevalence
    assert table.loc["recall@3", "random"] == 0.75  # k / n
    assert table.loc["precision@1", "lift"] == 2.0
    assert list(table.columns) == ["k", "value", "random", "lift", "n_items", "n_true"]


@pytest.mark.parametrize("trial", range(20))
def test_auprc_matches_sklearn_with_and_without_ties(trial):
    rng = np.random.default_rng(trial)
    n = int(rng.integers(3, 60))
    rel = rng.random(n) < 0.3
    rel[rng.integers(n)] = True
    items = [f"x{i}" for i in range(n)]
    truth = {i for i, r in zip(items, rel, strict=True) if r}
    scores = rng.integers(0, 6, n).astype(float) if trial % 2 else rng.normal(size=n)
    table = truth_scores(pd.Series(scores, index=items), truth, k=5)
    assert table.loc["auprc", "value"] == pytest.approx(average_precision_score(rel, scores))
    ordered = [items[i] for i in np.argsort(-rng.normal(size=n))]
    ranks = np.empty(n)
    ranks[[items.index(i) for i in ordered]] = np.arange(n, 0, -1)
    table = truth_scores(ordered, truth)
    assert table.loc["auprc", "value"] == pytest.approx(average_precision_score(rel, ranks))


def test_ties_at_the_cut_count_their_expected_share():
    ranking = pd.Series({"a": 2.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 0.0})
    table = truth_scores(ranking, {"b", "e"}, k=(1, 2, 4))
    assert table.loc["precision@1", "value"] == 0.0
    assert table.loc["precision@2", "value"] == pytest.approx(1 / 3 / 2)  # 1 of 3 tied, 1 slot
    assert table.loc["precision@4", "value"] == pytest.approx(1 / 4)


def test_perfect_ranking_scores_one_and_reversed_scores_below_random():
    items = list(range(100))
    truth = set(range(10))
    perfect = truth_scores(items, truth, k=(5, 10, 50))
    assert perfect.loc["precision@10", "value"] == 1.0
    assert perfect.loc["recall@10", "value"] == 1.0
    assert perfect.loc["auprc", "value"] == 1.0
    assert perfect.loc["auprc", "lift"] > 5
    reverse = truth_scores(items[::-1], truth, k=(5, 10, 50))
    assert reverse.loc["precision@50", "value"] == 0.0
    assert reverse.loc["auprc", "value"] < reverse.loc["auprc", "random"] / 2
    assert reverse.loc["auprc", "lift"] < 0.5


def test_random_expectation_matches_simulation():
    n, r = 25, 4
    table = truth_scores(list(range(n)), set(range(r)), k=(5, 10))
    rng = np.random.default_rng(0)
    rel = np.zeros(n, dtype=bool)
    rel[:r] = True
    sims = np.array([rel[rng.permutation(n)] for _ in range(20000)])
    hits = np.cumsum(sims, axis=1)
    ap = (sims * hits / np.arange(1, n + 1)).sum(axis=1) / r
    assert table.loc["auprc", "random"] == pytest.approx(ap.mean(), abs=0.005)
    assert table.loc["auprc", "random"] > r / n  # above the prevalence for small n
    assert table.loc["precision@5", "random"] == pytest.approx(hits[:, 4].mean() / 5, abs=0.005)
    assert table.loc["recall@10", "random"] == pytest.approx(hits[:, 9].mean() / r, abs=0.005)


def test_permutation_p_values_are_seeded_and_meaningful():
    items = list(range(60))
    truth = set(range(6))
    perfect = truth_scores(items, truth, k=10, n_permutations=200, seed=1)
    assert perfect.loc["auprc", "p_value"] == pytest.approx(1 / 201)
    shuffled = list(np.random.default_rng(3).permutation(60))
    a = truth_scores(shuffled, truth, k=10, n_permutations=200, seed=1)
    b = truth_scores(shuffled, truth, k=10, n_permutations=200, seed=1)
    pd.testing.assert_frame_equal(a, b)
    reverse = truth_scores(items[::-1], truth, k=10, n_permutations=200, seed=1)
    assert (reverse["p_value"] > 0.9).all()
    # under the null (random rankings) the p-values are about uniform
    rng = np.random.default_rng(5)
    null = [
        truth_scores(list(rng.permutation(60)), truth, n_permutations=100, seed=i).loc[
            "auprc", "p_value"
        ]
        for i in range(60)
    ]
    assert 0.35 < np.mean(null) < 0.65
    assert np.mean(np.asarray(null) < 0.1) < 0.25


def test_universe_adds_unranked_items_at_the_bottom():
    table = truth_scores(["a", "b"], {"b", "z"}, universe=["a", "b", "y", "z"], k=2)
    assert table.loc["auprc", "n_items"] == 4 and table.loc["auprc", "n_true"] == 2
    assert table.loc["recall@2", "value"] == 0.5
    # b at rank 2 (precision 1/2); z tied with y at ranks 3-4: precision 2/4 at that group
    assert table.loc["auprc", "value"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)


def test_truth_scores_refuses_bad_input():
    with pytest.raises(DataError, match="more than once"):
        truth_scores(["a", "a", "b"], {"a"})
    with pytest.raises(DataError, match="none of the 1 true items"):
        truth_scores(["a", "b"], {"c"})
    with pytest.raises(DataError, match="empty"):
        truth_scores([], {"c"})


def test_planted_truth_lists_every_level(cohort):
    truth = planted_truth(cohort)
    features = set(truth["features"])
    planted_genes = set(cohort.truth["genes"])
    assert set(truth["genes"]) == planted_genes
    assert truth["pathways"] == cohort.truth["pathways"]
    assert {("methylation", p) for p in cohort.truth["probes"]} <= features
    assert {("expression", g) for g in planted_genes} <= features
    assert ("imaging", "left_hippocampus") in features
    assert ("imaging", "left_precuneus") not in features
    assert ("clinical", "age") in features and ("clinical", "sex") not in features
    assert all(m in cohort.modalities for m, _ in features)
    with pytest.raises(DataError, match="no planted truth"):
        planted_truth(types.SimpleNamespace(truth={}))


def test_oracle_attribution_scores_perfectly_and_noise_near_random(annotated, cohort):
    planted = set(planted_truth(cohort)["features"])

    def oracle(m, n, f):
        names = annotated.feature_names[m]
        return np.tile([1.0 if (m, x) in planted else 0.0 for x in names], (n, 1))

    table = score_attribution(make_attribution(annotated, oracle), cohort, k=(5, 10))
    assert list(table.columns[:6]) == ["level", "metric", "k", "value", "random", "lift"]
    auprc = table[table["metric"] == "auprc"].set_index("level")
    assert set(auprc.index) == {"features", "genes", "pathways"}
    assert auprc.loc["features", "value"] == 1.0
    assert auprc.loc["genes", "value"] == 1.0
    assert auprc.loc["pathways", "lift"] > 1.5
    top5 = table[(table["metric"] == "precision@5") & (table["level"] != "pathways")]
    assert (top5["value"] == 1.0).all()  # 2 planted of 12 pathways cannot fill a top 5

    rng = np.random.default_rng(0)
    noise = make_attribution(annotated, lambda m, n, f: rng.normal(size=(n, f)))
    table = score_attribution(noise, cohort, k=10, by_modality=True, n_permutations=50)
    auprc = table[table["metric"] == "auprc"].set_index("level")
    assert {"features:imaging", "features:clinical"} <= set(auprc.index)
    assert auprc.loc["features", "lift"] < 1.6
    assert (auprc["p_value"] > 0.01).all()


def test_saliency_on_a_trained_gcn_beats_random_against_planted_truth(gcn_graph, cohort):
    model, graph = gcn_graph
    attribution = explain(model, graph, "saliency")
    table = score_attribution(attribution, cohort, k=(10, 20))
    auprc = table[table["metric"] == "auprc"].set_index("level")
    assert auprc.loc["features", "lift"] > 1.2
    assert auprc.loc["genes", "lift"] > 1.2


# --------------------------------------------------------------------------- faithfulness
def test_ranking_the_used_feature_first_is_far_more_faithful_than_random(one_feature):
    model, graph = one_feature
    good = make_attribution(graph, hot("expression", 3, 1.0))
    result = faithfulness(good, model, graph, steps=10, k=(1, 5), seed=0)
    s = result.summary
    spread = result.full_output - result.baseline_output
    assert spread > 0.2  # the predicted class loses its evidence at the baseline
    assert s.loc["attribution", "deletion_auc"] < s.loc["random", "deletion_auc"] - 0.3 * spread
    assert s.loc["attribution", "insertion_auc"] > s.loc["random", "insertion_auc"] + 0.3 * spread
    fid = result.fidelity.set_index(["ranking", "k"])
    assert fid.loc[("attribution", 1), "fidelity_plus"] == pytest.approx(spread, rel=1e-5)
    assert fid.loc[("attribution", 1), "fidelity_minus"] == pytest.approx(0.0, abs=1e-6)
    assert fid.loc[("random", 1), "fidelity_plus"] < 0.1 * spread
    assert fid.loc[("random", 1), "fidelity_minus"] > 0.8 * spread

    # the curve of the good ranking drops to the baseline at the first step, exactly
    pp = result.per_patient
    dele = pp[(pp["ranking"] == "attribution") & (pp["curve"] == "deletion")]
    ends = dele.pivot(index="patient", columns="step", values="output")
    after = ends.iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(after, np.broadcast_to(ends.iloc[:, [-1]].to_numpy(), after.shape))

    # ranking the used feature last is worse than random
    bad = make_attribution(graph, hot("expression", 3, 0.0))
    worse = faithfulness(bad, model, graph, steps=10, k=1, seed=0).summary
    assert worse.loc["attribution", "deletion_auc"] > worse.loc["random", "deletion_auc"]


def test_faithfulness_ends_and_baseline_are_computed_by_hand(one_feature):
    model, graph = one_feature
    result = faithfulness(make_attribution(graph, hot("expression", 3, 1.0)), model, graph, steps=4)
    x = torch.nan_to_num(graph["patient"].x_expression[:, 3])
    z = 3.0 * x
    pred_ad = z > 0
    p_full = torch.where(pred_ad, torch.sigmoid(z), torch.sigmoid(-z))
    mu = x[graph["patient"].train_mask].mean()
    p_base = torch.where(pred_ad, torch.sigmoid(3.0 * mu), torch.sigmoid(-3.0 * mu))
    assert result.full_output == pytest.approx(float(p_full.mean()), rel=1e-5)
    assert result.baseline_output == pytest.approx(float(p_base.mean()), rel=1e-5)
    curves = result.curves.set_index(["ranking", "curve", "step"])
    for ranking in ("attribution", "random"):
        assert curves.loc[(ranking, "deletion", 0.0), "output"] == pytest.approx(result.full_output)
        assert curves.loc[(ranking, "insertion", 1.0), "output"] == pytest.approx(
            result.full_output
        )
        assert curves.loc[(ranking, "deletion", 1.0), "output"] == pytest.approx(
            result.baseline_output
        )
    assert result.output == "probability of the predicted class"
    # every patient perturbs exactly the features of the modalities it has
    available = graph["patient"].available.numpy()
    sizes = np.array([len(graph.feature_names[m]) for m in graph.modalities])
    last = result.per_patient[result.per_patient["step"] == 1.0]
    expect = dict(zip(graph.patients, available @ sizes, strict=True))
    assert (last["n_perturbed"].to_numpy() == last["patient"].map(expect).to_numpy()).all()


def test_faithfulness_counts_log_odds_and_explained_target(one_feature):
    model, graph = one_feature
    att = make_attribution(graph, hot("expression", 3, 1.0), patients=np.arange(10))
    pred = faithfulness(att, model, graph, steps=[0, 1, 2, 50], output="log_odds")
    expl = faithfulness(
        att, model, graph, steps=[0, 1, 2, 50], output="log_odds", target="explained"
    )
    assert list(pred.curves["step"].unique()) == [0, 1, 2, 50]
    assert pred.per_patient["patient"].nunique() == 10
    a = pred.per_patient.set_index(["patient", "ranking", "curve", "step"])["output"]
    b = expl.per_patient.set_index(["patient", "ranking", "curve", "step"])["output"]
    # log-odds of the explained class (AD) are +-those of the predicted class
    np.testing.assert_allclose(np.abs(a.to_numpy()), np.abs(b.to_numpy()), rtol=1e-6)
    assert (a.xs((0, "deletion"), level=("step", "curve")) >= 0).all()  # the prediction's
    assert expl.output == "log-odds of the explained class"


def test_faithfulness_agrees_for_saliency_on_a_trained_gcn(gcn_graph):
    model, graph = gcn_graph
    attribution = explain(model, graph, "saliency", patients=np.arange(12))
    result = faithfulness(
        attribution, model, graph, steps=5, k=5, n_random=2, output="log_odds", seed=0
    )
    s = result.summary
    # own features carry part of the output only: the neighbours' stay as they are
    spread = result.full_output - result.baseline_output
    assert spread > 0
    assert s.loc["attribution", "deletion_auc"] < s.loc["random", "deletion_auc"] - 0.15 * spread
    assert s.loc["attribution", "insertion_auc"] > s.loc["random", "insertion_auc"] + 0.15 * spread
    fid = result.fidelity.set_index("ranking")
    assert fid.loc["attribution", "fidelity_plus"] > 5 * fid.loc["random", "fidelity_plus"]
    assert fid.loc["attribution", "fidelity_minus"] < fid.loc["random", "fidelity_minus"]
    assert "FaithfulnessResult(method='saliency'" in repr(result)


def test_faithfulness_of_a_one_output_model_uses_that_output(annotated):
    class Risk(OneFeature):
        def forward(self, data):
            return super().forward(data)[:, 1:] * 2.0  # 3 * x, one column

    model = Risk({m: len(annotated.feature_names[m]) for m in annotated.modalities}, 3)
    att = make_attribution(annotated, hot("expression", 3, 1.0), patients=np.arange(6))
    result = faithfulness(att, model, annotated, steps=2, k=1)
    assert result.output == "risk score"
    x = torch.nan_to_num(annotated["patient"].x_expression[:6, 3])
    assert result.full_output == pytest.approx(float(3.0 * x.mean()), abs=1e-5)


def test_faithfulness_refuses_bad_input(one_feature):
    model, graph = one_feature
    att = make_attribution(graph, hot("expression", 3, 1.0), patients=np.arange(4))
    with pytest.raises(DataError, match="steps"):
        faithfulness(att, model, graph, steps=[0.5])
    with pytest.raises(DataError, match="fractions"):
        faithfulness(att, model, graph, steps=[0.0, 1.5])
    stranger = make_attribution(graph, hot("expression", 3, 1.0), patients=np.arange(2))
    stranger.prediction.index = stranger.scores["expression"].index = pd.Index(["X1", "X2"])
    with pytest.raises(DataError, match="not in the graph"):
        faithfulness(stranger, model, graph)
    att.scores["imaging"] = att.scores["imaging"].iloc[:, 1:]
    with pytest.raises(DataError, match="modality 'imaging': no scores"):
        faithfulness(att, model, graph)


# --------------------------------------------------------------------------- stability
def test_identical_runs_are_perfectly_stable():
    values = {f"g{i}": float(v) for i, v in enumerate(np.random.default_rng(0).random(30))}
    runs = [series_attribution(values, seed=s) for s in range(3)]
    table = rank_stability(runs, k=5)
    assert list(table["run_a"]) == ["seed=0", "seed=0", "seed=1"]
    assert len(table) == 3
    for col in ("spearman", "kendall", "kendall_top", "jaccard", "overlap"):
        np.testing.assert_allclose(table[col], 1.0, err_msg=col)
    reversed_ = series_attribution({g: -v for g, v in values.items()})  # same |score|
    assert rank_stability([runs[0], reversed_], k=5)["kendall"].iloc[0] == pytest.approx(1.0)


def test_rank_stability_detects_disagreement():
    a = series_attribution({f"g{i}": float(i) for i in range(20)})
    b = series_attribution({f"g{i}": float(20 - i) for i in range(20)})
    row = rank_stability({"a": a, "b": b}, k=5).iloc[0]
    assert row["spearman"] == pytest.approx(-1.0) and row["kendall"] == pytest.approx(-1.0)
    assert row["jaccard"] == 0.0 and row["overlap"] == 0.0
    with pytest.raises(DataError, match="at least two"):
        rank_stability([a])


def test_agreement_is_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(1)
    names = [f"g{i}" for i in range(25)]
    atts = {
        m: series_attribution(dict(zip(names, rng.random(25), strict=True)))
        for m in ("saliency", "shap", "masking")
    }
    table = agreement(atts, k=8)
    assert len(table) == 9
    for col in ("kendall", "spearman", "jaccard", "kendall_top"):
        matrix = table.pivot(index="method_a", columns="method_b", values=col)
        np.testing.assert_allclose(matrix.to_numpy(), matrix.T.to_numpy())
        np.testing.assert_allclose(np.diag(matrix.to_numpy()), 1.0)
    sal_shap = table[(table.method_a == "saliency") & (table.method_b == "shap")].iloc[0]
    top_a = set(atts["saliency"].feature_importance().index[:8])
    top_b = set(atts["shap"].feature_importance().index[:8])
    assert sal_shap["jaccard"] == pytest.approx(len(top_a & top_b) / len(top_a | top_b))


def test_agreement_at_gene_level_aggregates_probes():
    genes = {"p1": "A", "p2": "A", "p3": "B", "p4": "C"}
    a = series_attribution({"p1": 5.0, "p2": 0.0, "p3": 2.0, "p4": 1.0}, genes=genes)
    b = series_attribution({"p1": 0.0, "p2": 5.0, "p3": 2.0, "p4": 1.0}, genes=genes)
    features = agreement({"a": a, "b": b}, k=2).set_index(["method_a", "method_b"])
    assert features.loc[("a", "b"), "kendall"] < 0
    genes = agreement({"a": a, "b": b}, k=2, level="gene")
    np.testing.assert_allclose(genes["kendall"], 1.0)
    with pytest.raises(DataError, match="gene_sets"):
        agreement({"a": a}, level="pathway")


def test_consensus_of_identical_rankings_is_that_ranking(annotated):
    att = make_attribution(annotated, lambda m, n, f: np.random.default_rng(f).random((n, f)))
    expected = list(att.feature_importance().index)
    for method in ("mean_rank", "borda"):
        consensus = consensus_ranking([att, att, att], method=method)
        assert list(consensus.index) == expected
        assert consensus.iloc[0] == pytest.approx(1.0 if method == "mean_rank" else 3 * 201)
    assert list(consensus_ranking({"x": att, "y": att}, level="gene").index) == att.gene_ranking()


def test_consensus_mean_rank_and_borda_by_hand():
    a = series_attribution({"w": 4.0, "x": 3.0, "y": 2.0, "z": 1.0})
    b = series_attribution({"w": 1.0, "x": 4.0, "y": 3.0, "z": 2.0})
    mean = consensus_ranking([a, b])
    # mean ranks: w 2.5, x 1.5, y 2.5, z 3.5 -> x first; w before y (first attribution's order)
    assert list(mean.index.get_level_values("feature")) == ["x", "w", "y", "z"]
    assert mean.iloc[0] == pytest.approx(1 - 0.5 / 3)
    borda = consensus_ranking([a, b], method="borda", k=1)  # only the winners vote
    assert borda.to_dict() == {("expression", "w"): 1.0, ("expression", "x"): 1.0} | {
        ("expression", "y"): 0.0,
        ("expression", "z"): 0.0,
    }
    assert truth_scores(mean, {("expression", "x")}).loc["auprc", "value"] == 1.0
