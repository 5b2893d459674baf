"""Survival maths against lifelines and brute force; a survival model learns the planted risk."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index as lifelines_cindex

from graphfuse.data import Preprocessor, make_synthetic_cohort
from graphfuse.errors import ConfigError
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.models import build_model
from graphfuse.train import (
    concordance_index,
    cox_loss,
    km_figure,
    logrank_p,
    objective_for,
    predict_risk,
    stratified_split,
    survival_metrics,
    train_model,
)


def _cox_data(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    hazard = np.exp(x @ np.array([1.0, -0.5, 0.25]))
    event_time = rng.exponential(1.0 / hazard)
    censor = rng.exponential(1.5, n)
    return x, np.minimum(event_time, censor), (event_time <= censor).astype(int)


def _breslow_reference(risk, time, event) -> float:
    """The Breslow negative log partial likelihood per event, one event at a time."""
    total = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]
        total += risk[i] - np.log(np.exp(risk[at_risk]).sum())
    return -total / event.sum()


def _loss(risk, time, event) -> float:
    return float(cox_loss(torch.tensor(risk), torch.tensor(time), torch.tensor(event)))


def test_cox_loss_is_lifelines_partial_likelihood_at_its_fit():
    x, time, event = _cox_data()
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(time=time, event=event)
    cph = CoxPHFitter().fit(frame, "time", "event")
    risk = x @ cph.params_.to_numpy()
    # no tied times: Breslow = Efron = lifelines' partial likelihood
    assert -_loss(risk, time, event) * event.sum() == pytest.approx(cph.log_likelihood_, rel=1e-9)
    # and lifelines' coefficients minimise our loss: any step away increases it
    for step in np.eye(3) * 0.05:
        assert _loss(x @ (cph.params_.to_numpy() + step), time, event) > _loss(risk, time, event)


def test_cox_loss_breslow_ties_shift_invariance_and_no_events():
    x, time, event = _cox_data(60, seed=1)
    tied = np.round(time, 1)  # many ties
    assert len(np.unique(tied)) < len(tied) - 10
    risk = x[:, 0] - x[:, 1]
    assert _loss(risk, tied, event) == pytest.approx(_breslow_reference(risk, tied, event))
    assert _loss(risk + 3.0, tied, event) == pytest.approx(_loss(risk, tied, event))
    order = np.random.default_rng(0).permutation(len(risk))
    assert _loss(risk[order], tied[order], event[order]) == pytest.approx(_loss(risk, tied, event))
    assert np.isnan(_loss(risk, tied, np.zeros_like(event)))
    # gradient flows to the risk scores
    r = torch.tensor(risk, requires_grad=True)
    cox_loss(r, torch.tensor(tied), torch.tensor(event)).backward()
    assert torch.isfinite(r.grad).all() and r.grad.abs().sum() > 0


def test_concordance_index_brute_force_and_lifelines():
    x, time, event = _cox_data(50, seed=2)
    time = np.round(time, 1)
    risk = np.round(x[:, 0], 1)  # tied risks count one half
    good = ties = pairs = 0.0
    for i, j in itertools.permutations(range(len(time)), 2):
        # comparable: i's event came first, or at j's censoring time (j outlived it)
        if event[i] and (time[i] < time[j] or (time[i] == time[j] and not event[j])):
            pairs += 1
            good += risk[i] > risk[j]
            ties += risk[i] == risk[j]
    assert concordance_index(time, event, risk) == pytest.approx((good + 0.5 * ties) / pairs)
    assert concordance_index(time, event, risk) == pytest.approx(
        lifelines_cindex(time, -risk, event)
    )
    assert concordance_index(time, event, -risk) == pytest.approx(
        1 - concordance_index(time, event, risk), abs=0.02
    )
    assert np.isnan(concordance_index(time, np.zeros_like(event), risk))


def test_logrank_and_metrics_use_the_given_threshold():
    x, time, event = _cox_data(70, seed=3)
    risk = x @ np.array([1.0, -0.5, 0.25])
    high = risk > 0.2
    ref = logrank_test(time[high], time[~high], event[high], event[~high]).p_value
    assert logrank_p(time, event, high) == pytest.approx(ref)
    m = survival_metrics(time, event, risk, threshold=0.2)
    assert m["logrank_p"] == pytest.approx(ref)
    assert m["high_risk_fraction"] == pytest.approx(high.mean())
    assert m["events"] == event.sum() and m["c_index"] > 0.6
    assert np.isnan(survival_metrics(time, event, risk, threshold=100.0)["logrank_p"])


def test_km_figure_draws_both_groups():
    x, time, event = _cox_data(40, seed=4)
    fig = km_figure(time, event, x[:, 0] > 0)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("high risk") for lbl in labels)
    assert any(lbl.startswith("low risk") for lbl in labels)
    assert "log-rank p" in ax.get_title()


@pytest.fixture(scope="module")
def survival_graph():
    cohort = make_synthetic_cohort(
        200,
        n_genes=120,
        n_pathways=12,
        n_regions=12,
        n_disease_pathways=2,
        effect_size=2.0,
        survival=True,
        seed=4,
    )
    splits = stratified_split(cohort.y, val_fraction=0.2, test_fraction=0.25, seed=0)
    matrices = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    data = build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=6))
    data["patient"].time = torch.tensor(cohort.obs["time"].to_numpy(), dtype=torch.float32)
    data["patient"].event = torch.tensor(cohort.obs["event"].to_numpy(), dtype=torch.bool)
    return data, cohort, splits


def test_survival_model_learns_the_planted_risk(survival_graph):
    data, cohort, splits = survival_graph
    torch.manual_seed(0)
    model = build_model("gcn_fusion", data, 1, task="survival", hidden=16)
    hist = train_model(
        model, data, epochs=60, lr=0.01, weight_decay=1e-3, patience=20, progress=False,
        task="survival",
    )  # fmt: skip
    losses = [r["train_loss"] for r in hist.epochs]
    assert np.mean(losses[-5:]) < losses[0] - 0.2
    assert {"val_loss", "val_c_index"} <= set(hist.epochs[0])
    best = min(hist.epochs, key=lambda r: r["val_loss"])
    assert hist.best_epoch == best["epoch"]
    # the model holds the best epoch's weights: its validation loss is the best one
    val = data["patient"].val_mask
    out = torch.tensor(predict_risk(model, data))
    val_loss = cox_loss(out[val], data["patient"].time[val], data["patient"].event[val])
    assert float(val_loss) == pytest.approx(best["val_loss"], rel=1e-4)
    risk = predict_risk(model, data)
    test = splits["test"]
    time, event = cohort.obs["time"].to_numpy(), cohort.obs["event"].to_numpy()
    assert concordance_index(time[test], event[test], risk[test]) > 0.68
    truth = cohort.truth["survival_risk"]
    assert concordance_index(time[test], event[test], truth[test]) > 0.75  # the planted signal


def test_objective_checks_targets_and_monitor(survival_graph, graph):
    with pytest.raises(ConfigError, match=r"lacks \['time', 'event'\]"):
        objective_for("survival", graph)
    with pytest.raises(ConfigError, match="'val_roc_auc' is not a survival metric"):
        objective_for("survival", survival_graph[0]).check_monitor("val_roc_auc")
    with pytest.raises(ConfigError, match="'val_c_index' is not a classification metric"):
        objective_for("classification", graph).check_monitor("val_c_index")
    with pytest.raises(ConfigError, match="unknown task 'regression'"):
        objective_for("regression", graph)


def test_synthetic_survival_leaves_the_other_tables_alone():
    kw = dict(n_genes=90, n_pathways=10, n_regions=10, n_disease_pathways=2, seed=5)
    plain = make_synthetic_cohort(300, **kw)
    surv = make_synthetic_cohort(300, survival=True, censoring=0.5, **kw)
    assert plain.fingerprint() == surv.fingerprint()
    assert "time" not in plain.obs and {"time", "event"} <= set(surv.obs)
    time, event = surv.obs["time"].to_numpy(), surv.obs["event"].to_numpy()
    assert (time > 0).all() and set(np.unique(event)) == {0, 1}
    light = make_synthetic_cohort(300, survival=True, censoring=0.1, **kw)
    assert light.obs["event"].mean() > surv.obs["event"].mean() + 0.1
    none = make_synthetic_cohort(300, survival=True, censoring=0.0, **kw)
    assert none.obs["event"].all()
    # the outcome follows the planted risk, and AD patients (shifted pathways) fare worse
    assert concordance_index(time, event, surv.truth["survival_risk"]) > 0.65
    assert concordance_index(time, event, surv.y) > 0.55
    null = make_synthetic_cohort(300, survival=True, effect_size=0.0, **kw)
    assert np.allclose(null.truth["survival_risk"], 0.0)
    with pytest.raises(ValueError, match="censoring"):
        make_synthetic_cohort(50, survival=True, censoring=1.0, **kw)
