"""End to end: `graphfuse fit --config configs/ad_quick.yaml` into a temporary MLflow store."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"


def graphfuse(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "graphfuse", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/store.db"}
    proc = graphfuse("fit", "--config", str(QUICK), "--set", "seed=3", cwd=cwd, env=env)
    return proc, cwd, env["MLFLOW_TRACKING_URI"]


def test_fit_logs_run_with_metrics_and_artifacts(fitted):
    proc, cwd, uri = fitted
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("graphfuse-quick")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_id in proc.stdout  # the summary names the run
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    for split in ("train", "val", "test"):
        for name in ("accuracy", "f1", "f1_macro", "f1_weighted", "roc_auc"):
            assert 0.0 <= m[f"{split}_{name}"] <= 1.0
    assert 1 <= m["best_epoch"] <= m["epochs_run"] <= 30
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert len(history) == m["epochs_run"]
    assert run.data.params["seed"] == "3" and run.data.params["graph.k"] == "5"
    tags = run.data.tags
    assert len(tags["graphfuse.data_fingerprint"]) == 64
    assert tags["version.torch"] and tags["graphfuse.graph_mode"] == "inductive"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "plots", "checkpoint", "history.csv", "predictions.csv"} <= artifacts
    assert "preprocess.json" in artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/roc_test.png" in plots
    local = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(cwd)))
    assert yaml.safe_load(local.read_text())["seed"] == 3
    models = client.search_logged_models([exp.experiment_id])
    assert any(lm.source_run_id == run.info.run_id for lm in models)


def test_bad_config_is_one_paragraph_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochz: 3\n")
    proc = graphfuse("fit", "--config", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "train.epochz" in proc.stderr and "epochs" in proc.stderr


def test_help_and_dry_run(tmp_path):
    top = graphfuse("--help", cwd=tmp_path)
    assert top.returncode == 0 and "fit" in top.stdout
    sub = graphfuse("fit", "--help", cwd=tmp_path)
    assert sub.returncode == 0 and "--config" in sub.stdout and "--set" in sub.stdout
    dry = graphfuse("fit", "-c", str(QUICK), "--set", "graph.k=7", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert yaml.safe_load(dry.stdout)["graph"]["k"] == 7
    assert not (tmp_path / "mlflow.db").exists()


def _run_id(uri: str) -> str:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("graphfuse-quick")
    return client.search_runs([exp.experiment_id])[0].info.run_id


def test_explain_logs_attributions_plots_and_truth_into_the_run(fitted):
    proc, cwd, uri = fitted
    assert proc.returncode == 0, proc.stderr
    run_id = _run_id(uri)
    out = graphfuse(
        "explain",
        "--run",
        run_id,
        "-m",
        "saliency,masking",
        "-p",
        "masking.epochs=10",
        "-p",
        "masking.restarts=1",
        "--tracking-uri",
        uri,
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    assert "planted truth" in out.stdout and "saliency" in out.stdout
    client = MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(run_id, "explanations")}
    assert {"explanations/saliency", "explanations/masking", "explanations/truth.csv"} <= names
    assert "explanations/agreement.png" in names
    files = {a.path for a in client.list_artifacts(run_id, "explanations/saliency")}
    assert "explanations/saliency/attribution.json" in files
    assert "explanations/saliency/heatmap.png" in files
    metrics = client.get_run(run_id).data.metrics
    assert metrics["explain_seconds_masking"] > 0
    # the planted genes are recovered better than a random ranking would
    assert metrics["explain_saliency_genes_auprc"] > 0.4


def test_explain_errors_are_one_paragraph(fitted):
    _, cwd, uri = fitted
    out = graphfuse("explain", "--run", "0123abc", "--tracking-uri", uri, cwd=cwd)
    assert out.returncode == 2 and "no MLflow run '0123abc'" in out.stderr
    out = graphfuse("explain", "--run", _run_id(uri), "-m", "lime", "--tracking-uri", uri, cwd=cwd)
    assert out.returncode == 2 and "unknown explainer(s) ['lime']" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_end_of_file_deep_in_a_command_is_an_error_line_not_a_bare_aborted(monkeypatch):
    from click.testing import CliRunner

    import graphfuse.config
    from graphfuse.cli import main

    def truncated(*args, **kwargs):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(graphfuse.config, "load_config", truncated)
    result = CliRunner().invoke(main, ["fit", "--config", str(QUICK)])
    assert result.exit_code == 2
    assert "Aborted" not in result.output
    assert "a file ended before its end (EOFError: Ran out of input" in result.output
    assert "truncated or empty" in result.output
