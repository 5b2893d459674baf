"""The SQLite tracking store under concurrency: processes creating one store at once."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphfuse._store import RetryingClient, is_locked_error, retry_locked, sqlite_file

# Imports first (seconds), then waits for the go file, so the processes open the store together.
_WORKER = """
import sys, time
from pathlib import Path
from graphfuse.tracking import RunLogger
uri, go, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
while not go.exists():
    time.sleep(0.01)
logger = RunLogger(uri, "concurrent", name)
with logger.start(tags={"worker": name}):
    for step in range(20):
        logger.log_metrics({"loss": 1.0 / (step + 1)}, step)
    logger.log_params({"worker": name})
print(logger.run_id)
"""


def test_processes_creating_one_sqlite_store_together_all_log_their_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/fresh/mlflow.db"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, uri, str(go), f"w{i}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    time.sleep(1.0)  # most of the imports
    go.touch()
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("concurrent")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["worker"] for r in runs) == ["w0", "w1", "w2"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all(len(client.get_metric_history(r.info.run_id, "loss")) == 20 for r in runs)
    assert {r.info.run_id for r in runs} == {out.strip() for out, _ in outs}


def test_locked_writes_are_retried_and_other_errors_are_not():
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) <= 2:
            try:
                raise OSError("database is locked")
            except OSError as cause:
                raise RuntimeError("(sqlite3.OperationalError) while logging") from cause
        return len(calls)

    assert retry_locked(locked_twice) == 3
    with pytest.raises(RuntimeError, match="while logging"):
        calls.clear()
        retry_locked(locked_twice, retries=1)  # gives up after its retries
    assert len(calls) == 2

    def broken():
        calls.append(1)
        raise ValueError("no such table: runs")

    calls.clear()
    with pytest.raises(ValueError):
        retry_locked(broken)
    assert len(calls) == 1
    assert not is_locked_error(ValueError("no such table"))


def test_retrying_client_passes_attributes_and_retries_methods():
    class Client:
        tracking_uri = "sqlite:///x.db"
        failures = 1

        def log_batch(self, run_id):
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database is locked")
            return run_id

    client = RetryingClient(Client())
    assert client.tracking_uri == "sqlite:///x.db"
    assert client.log_batch("r1") == "r1"


def test_sqlite_file_of_a_uri():
    assert sqlite_file("sqlite:///runs/mlflow.db") == Path("runs/mlflow.db")
    assert sqlite_file("sqlite:////abs/mlflow.db") == Path("/abs/mlflow.db")
    assert sqlite_file("postgresql://u@h/db") is None and sqlite_file("sqlite://") is None
