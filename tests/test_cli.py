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
