"""The explainer benchmark over seeds: controls (model-free |t|, logistic coefficients,
consensus, the null model), the cohort's declared reference, stability, the verdict, CLI."""

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.cli import main
from graphfuse.cli._benchmark import parse_seeds
from graphfuse.config import ReferenceConfig, load_config
from graphfuse.data import GeneSets
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import (
    benchmark_seeds,
    coefficient_ranking,
    consensus_ranking,
    fit,
    model_free_ranking,
    permuted_cohort,
)
from graphfuse.experiment._benchmark_reference import _reference, reference_ranking
from graphfuse.explain import planted_truth

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
EASY = [
    "tracking.enabled=false",
    "data.synthetic.n_patients=60",
    "data.synthetic.effect_size=2.5",
    "data.synthetic.n_disease_pathways=3",
    "train.epochs=20",
    "benchmark={top_k: [10, 20]}",
]


@pytest.fixture(scope="module")
def fitted():
    return fit(load_config(QUICK, EASY))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds")
    cfg = load_config(QUICK, EASY)
    result = benchmark_seeds(
        cfg,
        seeds=[0, 1, 2],
        methods=["saliency", "sensitivity"],
        collections=["hallmark"],
        n_permutations=200,
        out=out,
    )
    return result, out


def test_model_free_ranking_is_the_training_t_statistic(fitted):
    ranking = model_free_ranking(fitted.data)
    genes = planted_truth(fitted.cohort)["genes"]
    # the planted genes carry the signal: they lead the |t| ranking
    assert len(set(ranking.index[:20]) & set(genes)) >= 10
    assert (ranking.diff().dropna() <= 0).all() and (ranking >= 0).all()
    # training patients only: changing a test patient's values leaves it unchanged
    data = fitted.data.clone()
    store = data["patient"]
    test = store.test_mask.nonzero().ravel()
    store.x_expression[test] = store.x_expression[test] * 100 + 7
    assert model_free_ranking(data).equals(ranking)


def test_coefficient_ranking_reads_the_logistic_baseline(fitted):
    cfg = load_config(QUICK, [*EASY, "model={name: logistic}"])
    logistic = fit(cfg, cohort=fitted.cohort, splits=fitted.splits)
    ranking = coefficient_ranking(logistic.model, logistic.data)
    assert set(ranking.index) == set(model_free_ranking(fitted.data).index)
    # the top gene's score is the largest |coefficient| of an omics feature with a gene
    weights = logistic.model.coef_.abs().amax(dim=0).numpy()
    start, best = 0, 0.0
    for m in logistic.model.modalities:
        n = logistic.model.in_dims[m]
        if m in ("expression", "methylation"):
            best = max(best, float(weights[start : start + n].max()))
        start += n
    assert (ranking >= 0).all() and ranking.iloc[0] == pytest.approx(best, rel=1e-9)
    with pytest.raises(DataError, match="fitted logistic"):
        coefficient_ranking(fitted.model, fitted.data)


def test_permuted_cohort_shuffles_labels_only(fitted):
    cohort = fitted.cohort
    null = permuted_cohort(cohort, seed=3)
    assert null.n_patients == cohort.n_patients
    assert sorted(null.y.tolist()) == sorted(cohort.y.tolist())
    assert (null.y != cohort.y).any()
    assert np.array_equal(null.matrix("expression"), cohort.matrix("expression"))
    assert not null.truth  # no planted truth in a permuted world
    assert permuted_cohort(cohort, seed=3).y.tolist() == null.y.tolist()  # seeded


def test_consensus_ranking_is_the_mean_rank():
    a = pd.Series({"A": 3.0, "B": 2.0, "C": 1.0})
    b = pd.Series({"A": 1.0, "B": 3.0, "C": 2.0})
    out = consensus_ranking({"a": a, "b": b})
    assert list(out.index) == ["B", "A", "C"]  # mean ranks 1.5, 2, 2.5
    assert out["B"] == -1.5


def test_declared_reference_sets_and_ranking(tmp_path):
    gmt = tmp_path / "ref.gmt"
    gmt.write_text("SET_A\tdesc\tG1\tG2\tG3\nSET_B\tdesc\tG4\tG5\n")
    notes: list[str] = []

    class _Cohort:
        truth: ClassVar[dict] = {}

    ref = _reference(_Cohort(), notes, ReferenceConfig(gmt=str(gmt), sets=["SET_A"]))
    assert ref.genes.genes == ["G1", "G2", "G3"] and list(ref.pathways) == ["SET_A"]
    assert ref.matches(GeneSets({"SET_A": ["G1"], "SET_B": ["G4"]})) == ["SET_A"]
    with pytest.raises(DataError, match=r"no set\(s\) \['SET_C'\]"):
        _reference(_Cohort(), notes, ReferenceConfig(gmt=str(gmt), sets=["SET_C"]))
    assert _reference(_Cohort(), notes, None).genes is None
    assert "declares no benchmark.reference" in notes[-1]
    table = tmp_path / "deg.tsv"
    table.write_text("gene\tt\nG1\t-5\nG2\t2\nG1\t1\nG3\tx\n")
    with pytest.raises(DataError, match=r"column 't', row 5: 'x' is not a number"):
        reference_ranking(
            ReferenceConfig(ranking={"path": str(table), "gene": "gene", "score": "t"})
        )
    table.write_text("gene\tt\nG1\t-5\nG2\t2\nG1\t1\n")
    ranking, _ = reference_ranking(
        ReferenceConfig(ranking={"path": str(table), "gene": "gene", "score": "t"})
    )
    assert ranking.to_dict() == {"G1": 5.0, "G2": 2.0}  # |t|, largest per gene


def test_reference_config_refuses_ambiguous_sections():
    with pytest.raises(ValueError, match="give one of builtin, collection, gmt"):
        ReferenceConfig(builtin="ad", collection="hallmark", sets=["X"])
    with pytest.raises(ValueError, match="needs sets"):
        ReferenceConfig(collection="hallmark")
    with pytest.raises(ValueError, match="distinct positive"):
        load_config(QUICK, ["benchmark={top_k: [0, 5]}"])


def test_seeds_protocol_tables_controls_and_null(seeds):
    result, out = seeds
    names = ["saliency", "sensitivity", "consensus", "t-test", "logistic"]
    names += ["null:saliency", "null:sensitivity"]
    assert result.summary["ranking"].tolist() == names
    per = result.per_seed
    assert sorted(per["seed"].unique()) == [0, 1, 2] and sorted(per["k"].unique()) == [10, 20]
    assert len(per) == 3 * len(names) * 2
    # the planted genes: the real model's explanations and the t-test find them, the null not
    s = result.summary.set_index("ranking")
    col = "-log10 ref_p@20_mean"
    assert s.loc["saliency", col] > 3 and s.loc["t-test", col] > 3
    assert s.loc["null:saliency", col] < s.loc["saliency", col]
    assert s.loc["saliency", "test_auc_mean"] > s.loc["null:saliency", "test_auc_mean"]
    sets = result.reference_sets
    assert {"seed", "ranking", "k", "collection", "set", "rank", "of", "p", "fdr"} <= set(sets)
    real = sets[(sets["ranking"] == "saliency") & (sets["k"] == 20)]
    assert real.groupby("seed")["rank"].min().eq(1).all()  # a planted pathway ranks first
    assert (sets["rank"] <= sets["of"]).all()
    stab = result.stability.set_index("ranking")
    assert stab["pairs"].eq(3).all()
    assert stab["jaccard@20_mean"].between(0, 1).all()
    assert stab["kendall_tau_mean"].between(-1, 1).all()
    assert any("null (permuted labels)" in v for v in result.verdict)
    assert any("t-test ranking" in v for v in result.verdict)
    files = {p.name for p in out.iterdir()}
    assert {"report.md", "per_seed.csv", "summary.csv", "stability.csv", "models.csv"} <= files
    assert {"reference_dots.png", "cost_recovery.png", "stability.png"} <= files
    report = (out / "report.md").read_text()
    assert "## Verdict" in report and "null:saliency" in report


def test_parse_seeds_and_cli(tmp_path):
    assert parse_seeds("0 1 2") == [0, 1, 2] and parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ConfigError, match="runs backwards"):
        parse_seeds("4-1")
    runner = CliRunner()
    args = ["benchmark", "explainers", "--config", str(QUICK), "--seeds", "0", "1"]
    args += ["--method", "saliency", "--collection", "hallmark", "--permutations", "50"]
    args += ["--no-null", "--no-controls", "--out", str(tmp_path / "o")]
    for item in EASY:
        args += ["--set", item]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "explainers over seeds [0, 1]" in res.output
    assert pd.read_csv(tmp_path / "o" / "summary.csv")["ranking"].tolist() == ["saliency"]
    res = runner.invoke(main, ["benchmark", "explainers", "--run", "abc", "--seeds", "0"])
    assert res.exit_code == 2 and "give --config, not --run" in res.output
    res = runner.invoke(main, ["benchmark", "explainers", "-c", str(QUICK), "--workers", "2"])
    assert res.exit_code == 2 and "give --seeds too" in res.output


def test_ad_reference_skips_cleanly_or_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path))

    class _Cohort:
        truth: ClassVar[dict] = {}

    with pytest.raises(DataError, match="AD reference"):
        _reference(_Cohort(), [], ReferenceConfig(builtin="ad"))


def test_chance_jaccard_of_random_lists():
    from graphfuse.experiment._benchmark_summary import _chance_jaccard

    assert _chance_jaccard(10, 10) == pytest.approx(1.0)
    # two random 1-gene lists of 4 genes: the same gene with probability 1/4
    assert _chance_jaccard(1, 4) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    sims = [
        len(set(a) & set(b)) / len(set(a) | set(b))
        for a, b in (
            (rng.choice(200, 50, replace=False), rng.choice(200, 50, replace=False))
            for _ in range(4000)
        )
    ]
    assert _chance_jaccard(50, 200) == pytest.approx(np.mean(sims), abs=0.005)
