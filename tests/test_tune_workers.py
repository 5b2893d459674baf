"""`graphfuse tune` with several workers on one study: the study created once when workers
start together, each worker's own sampler seed, `--workers N`, PostgreSQL storage and an
MLflow tracking server backed by PostgreSQL.

The PostgreSQL tests need a server: they use ``GRAPHFUSE_TEST_POSTGRES`` (a URL whose role
may create databases; each test makes a fresh one) and skip without it. ``.ci/run`` starts
one; by hand: ``export GRAPHFUSE_TEST_POSTGRES=$(.ci/postgres.sh)``.

MLflow: each test's SQLite store is created by the test (or the ``graphfuse tune`` driver)
before the workers start, so the workers never create its schema at the same moment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.errors import ConfigError
from graphfuse.tracking import RunLogger
from graphfuse.tune import open_storage, tune

pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")

POSTGRES_ENV = "GRAPHFUSE_TEST_POSTGRES"
BASE = {
    "seed": 0,
    "data": {
        "source": "synthetic",
        "synthetic": {"n_patients": 40, "n_genes": 80, "n_pathways": 10, "n_regions": 10},
    },
    "graph": {"name": "knn", "k": 4},
    "model": {"name": "gcn_fusion", "hidden": 8},
    "train": {"epochs": 2, "lr": 0.01, "patience": 5},
}
SPACE = {
    "train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-1, "log": True},
    "model.dropout": {"type": "categorical", "choices": [0.2, 0.5]},
}


def write_config(folder: Path, uri: str | None, **tune_keys) -> Path:
    tracking = {"uri": uri, "experiment": "workers"} if uri else {"enabled": False}
    raw = {**BASE, "tracking": tracking, "tune": {"pruner": "none", "space": SPACE, **tune_keys}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def points(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials]


def nested_runs(uri: str, parent: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("workers")
    runs = client.search_runs([exp.experiment_id])
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]


# --------------------------------------------------------------------------- no server


def test_missing_postgres_driver_names_the_extra(monkeypatch):
    def no_driver(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'psycopg'")

    monkeypatch.setattr(optuna.storages, "RDBStorage", no_driver)
    with pytest.raises(ConfigError, match=r"pip install 'graphfuse\[postgres\]'") as info:
        open_storage("postgresql://me:s3cret@127.0.0.1/optuna")
    assert "s3cret" not in str(info.value) and "psycopg" in str(info.value)


def test_resumed_search_with_a_fixed_seed_draws_new_points(tmp_path):
    path = write_config(tmp_path, None, seed=7)
    journal = tmp_path / "j.journal"
    tune(load_config(path), trials=2, storage=journal)
    study = tune(load_config(path), trials=2, storage=journal).study
    assert len(study.trials) == 4 and len(set(points(study))) == 4


def test_a_repeated_point_is_pruned_without_training(tmp_path):
    space = {"model.dropout": {"type": "categorical", "choices": [0.2, 0.5]}}
    raw = {**BASE, "tracking": {"enabled": False}, "tune": {"pruner": "none", "space": space}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    study = tune(load_config(path), trials=4, storage=tmp_path / "j.journal").study
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    repeats = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert len(study.trials) == 4 and len(set(points(study))) == 2
    assert len(done) == 2 and len(repeats) == 2
    assert all(t.state.name == "PRUNED" and "mlflow_run_id" not in t.user_attrs for t in repeats)


def test_cli_workers_share_one_study_and_parent_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    path = write_config(tmp_path, uri)
    journal = tmp_path / "w.journal"
    args = ["tune", "-c", str(path), "-n", "4", "--workers", "2", "--storage", str(journal)]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "4 trials run now (*), 4 in the study" in out.output
    study = optuna.load_study(study_name="tiny", storage=open_storage(journal))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert len(set(points(study))) == 4
    parent = study.user_attrs["graphfuse.mlflow_parent_run_id"]
    runs = nested_runs(uri, parent)
    assert sorted(int(r.data.tags["graphfuse.tune.trial"]) for r in runs) == [0, 1, 2, 3]
    assert {r.info.run_id for r in runs} == {t.user_attrs["mlflow_run_id"] for t in study.trials}
    # the parent run names the best over every worker's trials, whoever finished last
    tags = MlflowClient(uri).get_run(parent).data.tags
    assert tags["graphfuse.tune.best_trial"] == str(study.best_trial.number)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgres() -> str:
    """A fresh database on the test server (dropped afterwards)."""
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(
            f"set {POSTGRES_ENV}=postgresql://USER:PASSWORD@127.0.0.1:PORT/DB (a role that may "
            f"create databases) to run this test; .ci/run does, or export {POSTGRES_ENV}="
            "$(.ci/postgres.sh) (installs and starts a server on 127.0.0.1)"
        )
    import sqlalchemy

    name = f"graphfuse_test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(admin).set(database=name)
    yield url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def start_together(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Run ``commands`` as processes that each wait for the same moment to start."""
    go = time.time() + 15.0 * (len(commands) > 1)  # after every interpreter imported graphfuse
    code = "import time\nimport graphfuse.experiment\nfrom graphfuse.cli import main\n"
    code += f"time.sleep(max(0.0, {go} - time.time()))\nmain()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *c],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in commands
    ]
    done = []
    for p in procs:
        output = p.communicate(timeout=300)[0]
        done.append(subprocess.CompletedProcess(p.args, p.returncode, output))
    return done


@pytest.mark.slow
def test_workers_starting_together_on_a_fresh_database(tmp_path, postgres):
    url = postgres  # postgresql://: psycopg 3; the resumed run below uses psycopg2
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    RunLogger(uri, "workers")  # the store exists before the workers start
    path = write_config(tmp_path, uri)
    # two drivers of two workers each, all four on a database without tables
    command = ["tune", "-c", str(path), "-n", "2", "-w", "2", "--storage", url]
    for done in start_together([command, command], tmp_path):
        assert done.returncode == 0, done.stdout[-3000:]
    storage = open_storage(url)
    try:
        study = optuna.load_study(study_name="tiny", storage=storage)
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
        assert len(set(points(study))) == 4
        parent = study.user_attrs["graphfuse.mlflow_parent_run_id"]
        assert len(nested_runs(uri, parent)) == 4

        # resumed through psycopg2: new points only, under the same parent run
        psycopg2 = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        resume = ["tune", "-c", str(path), "-n", "2", "--storage", psycopg2]
        (done,) = start_together([resume], tmp_path)
        assert done.returncode == 0, done.stdout[-3000:]
        assert "2 trials run now (*), 6 in the study" in done.stdout
        assert len(set(points(study))) == 6
        assert len(nested_runs(uri, parent)) == 6
    finally:
        storage.engine.dispose()  # psycopg warns about connections left to the collector


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_tracking_server_on_postgres_receives_a_fit(tmp_path, postgres):
    from graphfuse.experiment import fit

    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres),
            *("--default-artifact-root", str(tmp_path / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail(f"mlflow server on port {port} did not start")
                time.sleep(0.5)
        raw = {k: v for k, v in BASE.items()}
        raw["tracking"] = {"uri": uri, "experiment": "served"}
        cfg = load_config(overrides=raw)
        result = fit(cfg)
        run = MlflowClient(uri).get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["val_roc_auc"] == pytest.approx(result.metrics["val"]["roc_auc"])
    finally:
        server.terminate()
        server.wait(timeout=30)
