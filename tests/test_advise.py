"""``advise`` and ``graphfuse advise``: the cost model, the budget, the graph rules, errors.

No training: the cost model is fitted to small made-up tables or read from the shipped
``_advice.json`` (written by ``benchmarks/explainer_cost.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.cli import main
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import advise, choose_graph, fit_cost_model
from graphfuse.experiment._advice import cost_models, load_advice_data


def _table(coef: dict[str, float], noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for n in (50, 200, 1000):
        for f in (100, 1000, 16000):
            for m in (1, 3):
                log = (
                    coef["a"]
                    + coef["b"] * np.log(n)
                    + coef["c"] * np.log(f)
                    + coef["d"] * np.log(m)
                    + noise * rng.normal()
                )
                rows.append(
                    {
                        "explainer": "x",
                        "patients": n,
                        "features": f,
                        "modalities": m,
                        "seconds": float(np.exp(log)),
                    }
                )
    return pd.DataFrame(rows)


def test_fit_recovers_a_power_law_and_reports_its_error():
    model = fit_cost_model(_table({"a": -9.0, "b": 1.0, "c": 0.8, "d": 0.3}))["x"]
    assert model["patients"] == pytest.approx(1.0, abs=1e-6)
    assert model["features"] == pytest.approx(0.8, abs=1e-6)
    assert model["modalities"] == pytest.approx(0.3, abs=1e-6)
    assert model["loo_median_relative_error"] < 1e-6
    noisy = fit_cost_model(_table({"a": -9.0, "b": 1.0, "c": 0.8, "d": 0.3}, noise=0.3))["x"]
    assert 0.02 < noisy["loo_median_relative_error"] < 1.0
    assert noisy["ranges"]["features"] == [100, 16000]


def test_fitted_slopes_are_never_negative():
    # seconds falling with features (timing noise) must not make bigger cohorts cheaper
    model = fit_cost_model(_table({"a": -2.0, "b": 0.5, "c": -0.2, "d": 0.0}, noise=0.05))["x"]
    assert model["features"] == pytest.approx(0.0, abs=1e-9)
    assert model["patients"] > 0.4


def test_fit_refuses_a_bad_table():
    table = _table({"a": 0.0, "b": 1.0, "c": 1.0, "d": 0.0})
    with pytest.raises(DataError, match="missing column"):
        fit_cost_model(table.drop(columns="features"))
    with pytest.raises(DataError, match="at least 5"):
        fit_cost_model(table.head(3))
    table.loc[0, "seconds"] = 0.0
    with pytest.raises(DataError, match="≤ 0"):
        fit_cost_model(table)


def test_shipped_cost_model_is_monotone_in_patients_and_features():
    models = cost_models()
    assert {"saliency", "sensitivity", "masking", "shap"} <= set(models)
    for model in models.values():
        assert model.n >= 5 and 0 <= model.loo_median_relative_error < 10
        for n, f in ((50, 100), (200, 1000), (1000, 16000)):
            assert model.predict(2 * n, f) >= model.predict(n, f)
            assert model.predict(n, 2 * f) >= model.predict(n, f)
    # the measured ordering at genome-wide width: shap is the wall, saliency the floor
    wide = {name: m.predict(124, 15530) for name, m in models.items()}
    assert wide["saliency"] < wide["sensitivity"] < wide["shap"]


def test_budget_filters_explainers():
    free = advise(600, 3000, modalities=3)
    assert free.budget is None
    assert set(free.recommended) == {e.name for e in free.explainers}
    seconds = {e.name: e.seconds for e in free.explainers}
    assert [e.seconds for e in free.explainers] == sorted(seconds.values())
    between = (seconds["saliency"] + seconds["shap"]) / 2
    mid = advise(600, 3000, modalities=3, budget=between)
    assert "saliency" in mid.recommended and "shap" not in mid.recommended
    assert all((e.seconds <= between) == e.fits for e in mid.explainers)
    none = advise(600, 3000, modalities=3, budget=seconds["saliency"] / 2)
    assert none.recommended == []


def test_advice_carries_recovery_and_sources():
    data = load_advice_data()
    a = advise(351, 600, modalities=3)
    assert a.recovery_source == data["recovery"]["source"]
    cohorts = data["recovery"]["cohorts"]
    assert list(a.recovery_metrics) == list(cohorts) and cohorts
    first = next(iter(cohorts))
    shap = next(e for e in a.explainers if e.name == "shap")
    assert shap.recovery[first] == cohorts[first]["explainers"]["shap"]
    assert a.cost_source.startswith("benchmarks/explainer_cost.py")
    assert advise(10**6, 100).explainers[0].extrapolated == ["patients"]


@pytest.mark.parametrize(
    ("patients", "modalities", "expected"),
    [
        (600, 1, {"name": "knn", "k": 10}),
        (100, 1, {"name": "knn", "k": 5}),
        (40, 1, {"name": "knn", "k": 3}),
        (600, 3, {"name": "knn", "k": 10, "fused": {"name": "snf", "k": 10}}),
        (30_000, 2, {"name": "knn", "k": 10}),
        (100_000, 1, {"name": "knn", "k": 10, "index": "approximate"}),
    ],
)
def test_graph_choice_rules(patients, modalities, expected):
    graph, reasons = choose_graph(patients, modalities)
    assert graph == expected
    assert len(reasons) >= 1 + ("index" in graph) + (modalities > 1)


def test_cli_prints_table_and_json():
    runner = CliRunner()
    result = runner.invoke(main, ["advise", "-n", "600", "-f", "3000", "-m", "3", "-b", "60"])
    assert result.exit_code == 0, result.output
    assert "graph: " in result.output and "snf" in result.output
    assert "recommended: " in result.output and "saliency" in result.output
    result = runner.invoke(main, ["advise", "--patients", "600", "--features", "3000", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["graph"] == {"name": "knn", "k": 10}
    assert out["recommended"] == [e["name"] for e in out["explainers"]]
    assert advise(600, 3000).to_dict() == out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "0", "-f", "100"], "patients must be an integer ≥ 2, got 0"),
        (["-n", "100", "-f", "100", "-b", "-5"], "budget must be > 0 seconds, got -5.0"),
        (["-n", "100", "-f", "2", "-m", "3"], "modalities (3) cannot exceed features (2)"),
    ],
)
def test_cli_bad_input_is_one_line(args, message):
    result = CliRunner().invoke(main, ["advise", *args])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: advise: {message}"


def test_bad_python_arguments():
    with pytest.raises(ConfigError, match="features must be an integer"):
        advise(100, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="budget must be a number"):
        advise(100, 100, budget="1 min")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="budget must be > 0"):
        advise(100, 100, budget=float("nan"))
