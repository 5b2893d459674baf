"""The explainer benchmark: report folder, background, planted recovery, CLI, errors."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.benchmark import ad_reference, benchmark_explainers
from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.data import data_root, load_gene_sets
from graphfuse.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
EASY = [
    "tracking.enabled=false",
    "data.synthetic.n_patients=60",
    "data.synthetic.effect_size=2.5",
    "data.synthetic.n_disease_pathways=3",
    "train.epochs=25",
]
CHEAP = {"shap": {"n_permutations": 4}, "masking": {"epochs": 20, "restarts": 1}}
PERMUTATIONS = 200


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cfg = load_config(QUICK, EASY)
    result = benchmark_explainers(
        cfg, top_k=20, n_permutations=PERMUTATIONS, out=out, params=CHEAP, seed=1
    )
    return result, out


def test_report_folder_has_tables_figures_and_report(bench):
    result, out = bench
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "summary.csv", "enrichment.csv", "preranked.csv", "reference.csv"} <= names
    assert {"agreement.csv", "recovery.csv", "background.csv", "settings.json"} <= names
    assert {"dotplot.png", "overlap.png", "cost_recovery.png"} <= names
    assert all((out / n).stat().st_size > 1000 for n in names if n.endswith(".png"))
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["explainer"]) == ["saliency", "shap", "masking", "sensitivity"]
    for col in ("seconds", "sig_synthetic", "perm_p_synthetic", "ref_gene_overlap"):
        assert col in summary.columns
    assert (summary["seconds"] > 0).all()
    assert summary["mean_jaccard"].between(0, 1).all()
    enrich = pd.read_csv(out / "enrichment.csv")
    for col in ("explainer", "set", "overlap", "p", "fdr", "empirical_p", "background_size"):
        assert col in enrich.columns
    assert (enrich["n_permutations"] == PERMUTATIONS).all() and (enrich["seed"] == 1).all()
    assert (enrich["empirical_p"] >= 1 / (PERMUTATIONS + 1) - 1e-9).all()  # +1 correction
    assert (enrich["fdr"] >= enrich["p"]).all()
    report = (out / "report.md").read_text()
    for text in ("Background:", "Recovery of the planted pathways", "![cost vs recovery]"):
        assert text in report
    # the synthetic genes are in no real collection: the report says what replaced them
    assert "made-up names" in report and result.collections["go_bp"].startswith("synthetic")


def test_background_is_the_genes_the_model_saw(bench):
    result, out = bench
    attribution = result.attributions["saliency"]
    seen = {
        gene
        for m, mapping in attribution.feature_genes.items()
        for feature, gene in mapping.items()
        if feature in attribution.scores[m].columns
    }
    assert result.background["size"] == len(seen) == len(result.background["genes"])
    assert set(pd.read_csv(out / "background.csv")["gene"]) == seen
    assert set(result.enrichment["background_size"]) == {len(seen)}
    assert set(result.preranked["background_size"]) == {len(seen)}
    assert "omics features after preprocessing" in result.background["label"]
    assert set(result.enrichment["list_size"]) == {20}


def test_planted_pathways_recovered_better_than_chance(bench):
    result, _ = bench
    rec = result.recovery
    assert set(rec["test"]) == {"ora", "permutation", "preranked"}
    assert (rec["n_planted"] == 3).all()
    assert (rec["recall"] == rec["true_positives"] / rec["n_planted"]).all()
    ora = rec[rec["test"] == "ora"]
    better = ora[(ora["recall"] > 0) & (ora["precision"] > ora["chance"])]
    assert len(better) >= 1, ora
    # the gene-level reference is the planted genes; the top-k holds many of them
    genes = result.reference[result.reference["level"] == "genes"]
    assert (genes["reference"] == "planted_genes").all()
    assert genes["permutation_p"].min() < 0.05


@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_cli_benchmark_logs_a_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/store.db"
    out = tmp_path / "report"
    args = ["benchmark", "explainers", "--config", str(QUICK)]
    args += ["--set", f"tracking.uri={uri}", "--set", "train.epochs=10"]
    args += ["--method", "saliency,sensitivity", "--permutations", "100", "--top-k", "15"]
    args += ["--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "saliency" in res.output and "sensitivity" in res.output
    assert (out / "report.md").is_file()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("graphfuse-quick")
    runs = client.search_runs([exp.experiment_id])
    bench = [r for r in runs if r.data.tags.get("graphfuse.kind") == "benchmark_explainers"]
    assert len(bench) == 1 and len(runs) == 2  # the fit's run and the benchmark's
    run = bench[0]
    assert run.data.tags["graphfuse.model_run_id"] in {r.info.run_id for r in runs}
    fitted = client.get_run(run.data.tags["graphfuse.model_run_id"]).info.run_name
    assert fitted == "ad_quick-gcn_fusion-s0-benchmark"
    assert run.info.run_name == f"{fitted}-explainers"
    assert "benchmark_saliency_seconds" in run.data.metrics
    files = {a.path for a in client.list_artifacts(run.info.run_id, "benchmark")}
    assert "benchmark/report.md" in files and "benchmark/dotplot.png" in files

    # --run: the tracked model is explained again and the benchmark logged into its run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    fit_run = run.data.tags["graphfuse.model_run_id"]
    again = benchmark_explainers(
        None, run_id=fit_run, methods=["saliency"], top_k=15, n_permutations=50, out=out / "again"
    )
    assert again.run_id == again.model_run_id == fit_run
    assert again.background["size"] == result_size(out)
    files = {a.path for a in client.list_artifacts(fit_run, "benchmark")}
    assert "benchmark/report.md" in files
    assert "benchmark_saliency_seconds" in client.get_run(fit_run).data.metrics


def result_size(out: Path) -> int:
    return len(pd.read_csv(out / "background.csv"))


def test_unknown_collection_or_method_is_a_clear_error():
    cfg = load_config(QUICK, EASY)
    with pytest.raises(ConfigError, match=r"unknown gene-set collection.*go_bp"):
        benchmark_explainers(cfg, collections=["go_bq"])
    with pytest.raises(ConfigError, match=r"unknown explainer.*saliency"):
        benchmark_explainers(cfg, methods=["salience"])
    res = CliRunner().invoke(main, ["benchmark", "explainers", "--method", "shap"])
    assert res.exit_code == 2 and "--config" in res.output


@pytest.mark.skipif(
    not (data_root() / "genesets" / "ad_reference.md").is_file(),
    reason="the AD reference is not in the data root ($GRAPHFUSE_DATA or ../shared/data)",
)
def test_ad_reference_names_genes_and_pathways():
    genes, pathways = ad_reference()
    (members,) = [genes[n] for n in genes.names]
    assert len(members) == 262 and "APP" in members and "MAPT" in members
    assert pathways["GO:0034205"].startswith("Amyloid")
    assert "R-HSA-977225" in pathways and "HALLMARK_COMPLEMENT" in pathways
    go = load_gene_sets("go_bp")
    matched = [n for n in go.names if any(f"({i})" in n for i in pathways if i.startswith("GO"))]
    assert len(matched) >= 40
