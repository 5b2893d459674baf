"""Runs end with a status however they stop; stale runs are found and cleaned; a store that
cannot be written and a malformed tracking URI are graphfuse errors; explain checks the data."""

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.data import make_synthetic_cohort
from graphfuse.errors import ConfigError, DataError
from graphfuse.experiment import explain_run, fit
from graphfuse.tracking import (
    RunLogger,
    Terminated,
    TrackingError,
    clean_runs,
    resolve_tracking_uri,
    stale_runs,
)

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "configs" / "ad_quick.yaml"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One SQLite store for the module (creating one costs seconds); tests use their own
    experiment names in it."""
    db = tmp_path_factory.mktemp("store") / "store.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()  # creates its tables
    return db


@pytest.fixture
def uri(store, tmp_path, monkeypatch) -> str:
    """The module's store, from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{store}"


@pytest.fixture
def experiment(uri, tmp_path, request) -> str:
    """An experiment of the test's own, its artifacts in ``tmp_path/artifacts``."""
    name = request.node.name
    MlflowClient(uri).create_experiment(name, artifact_location=str(tmp_path / "artifacts"))
    return name


# ------------------------------------------------------------------------- signals


def test_sigterm_in_a_run_ends_it_killed_with_its_metrics(uri, experiment):
    logger = RunLogger(uri, experiment)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with logger.start():
            for step in (1, 2, 3):
                logger.log_metrics({"train_loss": 1.0 / step}, step)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal interrupts this
    assert caught.value.signum == signal.SIGTERM
    assert caught.value.graphfuse_runs == [logger.run_id]
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    client = MlflowClient(uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "KILLED" and run.data.tags["graphfuse.stopped_by"] == "SIGTERM"
    assert [m.step for m in client.get_metric_history(logger.run_id, "train_loss")] == [1, 2, 3]


def test_sigterm_during_the_final_writes_waits_for_them(uri, experiment, monkeypatch):
    logger = RunLogger(uri, experiment)
    real = logger.client.log_batch

    def signalled(run_id, metrics=(), **kwargs):
        if metrics:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the buffer is being sent
        return real(run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(logger.client, "log_batch", signalled)
    with pytest.raises(Terminated):
        with logger.start():
            logger.log_metrics({"train_loss": 0.25}, 1)
    run = MlflowClient(uri).get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["train_loss"] == 0.25


def test_ctrl_c_ends_a_run_killed_not_failed(uri, experiment):
    logger = RunLogger(uri, experiment)
    with pytest.raises(KeyboardInterrupt):
        with logger.start():
            logger.log_metrics({"train_loss": 0.5}, 1)
            raise KeyboardInterrupt
    run = MlflowClient(uri).get_run(logger.run_id)
    assert run.info.status == "KILLED" and run.data.tags["graphfuse.stopped_by"] == "SIGINT"
    assert run.data.metrics["train_loss"] == 0.5


def test_a_sigterm_handler_of_the_application_is_left_alone(uri, experiment):
    own = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, own)
    try:
        with RunLogger(uri, experiment).start():
            assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(
    ("stop", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "stopped by Ctrl-C"),
        (Terminated(), 143, "stopped by SIGTERM; MLflow run abc123 ended KILLED"),
    ],
)
def test_a_stopped_command_exits_130_or_143_with_one_line(stop, code, line, monkeypatch):
    import graphfuse.experiment

    stop.graphfuse_runs = ["abc123"] if isinstance(stop, Terminated) else []

    def stopped(*args, **kwargs):
        raise stop

    monkeypatch.setattr(graphfuse.experiment, "fit", stopped)
    out = CliRunner().invoke(main, ["fit", "-c", str(QUICK)])
    assert out.exit_code == code and out.output.strip() == line


def _status(db: Path, experiment_id: str) -> str | None:
    """The experiment's first run's status, read with sqlite3 while another process writes."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            query = "SELECT status FROM runs WHERE experiment_id = ?"
            row = con.execute(query, (int(experiment_id),)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


@pytest.mark.slow  # a CLI subprocess: importing torch and MLflow takes most of it
def test_fit_subprocess_stopped_by_sigterm_ends_killed_with_epochs_so_far(
    store, uri, experiment, tmp_path
):
    client = MlflowClient(uri)
    exp_id = client.get_experiment_by_name(experiment).experiment_id
    args = ["fit", "-c", str(QUICK), "--set", f"tracking.uri={uri}"]
    args += ["--set", f"tracking.experiment={experiment}"]
    args += ["--set", "train.epochs=100000", "--set", "train.patience=100000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphfuse", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if _status(store, exp_id) == "RUNNING":
                break
            time.sleep(0.1)
        time.sleep(2.0)  # some epochs
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert "stopped by SIGTERM" in stderr and "ended KILLED" in stderr
    (run,) = client.search_runs([exp_id])
    assert run.info.status == "KILLED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert steps and steps == list(range(1, len(steps) + 1))  # every epoch so far, flushed
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == len(steps)


# --------------------------------------------------------------------- stale runs


def _stale_runs(uri: str, experiment: str) -> tuple[str, str, MlflowClient]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment).experiment_id
    stale = client.create_run(exp, start_time=int(time.time() * 1000) - 2 * DAY_MS)
    fresh = client.create_run(exp)  # RUNNING, but started now
    return stale.info.run_id, fresh.info.run_id, client


def test_a_new_run_warns_about_stale_running_runs_of_its_experiment(uri, experiment):
    _stale_runs(uri, experiment)
    logger = RunLogger(uri, experiment)
    with pytest.warns(UserWarning, match=r"1 run\(s\) of MLflow experiment") as record:
        with logger.start():
            pass
    (message,) = [str(w.message) for w in record]
    assert f"graphfuse runs clean --experiment {experiment} --tracking-uri {uri}" in message
    with logger.start():  # once per experiment and process
        pass


def test_runs_clean_marks_stale_runs_killed_and_lists_them(uri, experiment):
    stale, fresh, client = _stale_runs(uri, experiment)
    runner = CliRunner()
    dry = runner.invoke(
        main, ["runs", "clean", "--tracking-uri", uri, "-e", experiment, "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert stale in dry.output and fresh not in dry.output and "dry run" in dry.output
    assert client.get_run(stale).info.status == "RUNNING"
    args = [
        "runs",
        "clean",
        "--set",
        f"tracking.uri={uri}",
        "--set",
        f"tracking.experiment={experiment}",
    ]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert stale in done.output and "marked KILLED" in done.output
    assert client.get_run(stale).info.status == "KILLED"
    assert client.get_run(fresh).info.status == "RUNNING"
    assert stale_runs(uri, experiment) == []
    assert [r.info.run_id for r in clean_runs(uri, experiment, older_than_hours=0)] == [fresh]
    args = ["runs", "list", "--tracking-uri", uri, "-e", experiment, "--status", "killed"]
    listed = runner.invoke(main, args)
    assert listed.exit_code == 0 and stale in listed.output and fresh in listed.output


def test_runs_clean_of_an_unknown_experiment_names_the_ones_there(uri, experiment):
    out = CliRunner().invoke(main, ["runs", "clean", "--tracking-uri", uri, "-e", "nope"])
    assert out.exit_code == 2
    assert "no MLflow experiment 'nope'" in out.output and experiment in out.output


# ------------------------------------------------------- store errors, malformed URIs


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("htp:/x", "unknown scheme 'htp'"),
        ("sqlite://relative-without-slashes", "three slashes"),
        ("http://", "needs a host"),
    ],
)
def test_malformed_tracking_uri_is_a_config_error_naming_the_key(bad, why):
    config = load_config(QUICK, [f"tracking.uri={bad}"])
    with pytest.raises(ConfigError, match="accepted forms") as caught:
        fit(config)
    message = str(caught.value)
    assert f"{QUICK}: tracking.uri" in message and repr(bad) in message and why in message


def test_malformed_uri_from_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "htp:/x")
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI: malformed"):
        resolve_tracking_uri()
    out = CliRunner().invoke(main, ["runs", "list", "--set", "tracking.uri=sqlite://x.db"])
    assert out.exit_code == 2 and "tracking.uri: malformed" in out.output


def test_accepted_uris_pass_unchanged():
    for ok in ("sqlite:///a.db", "sqlite:////abs/a.db", "https://host:5000", "./mlruns"):
        assert resolve_tracking_uri(ok) == ok
    assert resolve_tracking_uri("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def _under_a_file(uri: str, tmp_path: Path, name: str) -> Path:
    """An experiment whose artifact folder would be inside a file."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    MlflowClient(uri).create_experiment(name, artifact_location=str(blocker / "artifacts"))
    return blocker


def test_artifact_store_under_a_file_names_the_path(uri, tmp_path):
    blocker = _under_a_file(uri, tmp_path, "under-a-file")
    logger = RunLogger(uri, "under-a-file")
    with pytest.raises(TrackingError) as caught:
        with logger.start():
            logger.log_text("seed: 0\n", "config.yaml")
    message = str(caught.value)
    assert "artifact config.yaml" in message and str(blocker) in message
    assert "(ENOTDIR)" in message or "(EEXIST)" in message
    assert MlflowClient(uri).get_run(logger.run_id).info.status == "FAILED"


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_read_only_or_full_store_is_a_tracking_error(code, uri, experiment, monkeypatch):
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    logger = RunLogger(uri, experiment)
    target = "/store/artifacts/1/x"

    def refuse(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), target)

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", refuse)
    with pytest.raises(TrackingError) as caught:
        with logger.start(), logger.staging() as folder:
            (folder / "history.csv").write_text("epoch\n1\n")
    message = str(caught.value)
    assert target in message and os.strerror(code) in message
    assert errno.errorcode[code] in message and "tracking.uri" in message


def test_metrics_to_a_full_disk_are_a_tracking_error(uri, experiment, monkeypatch):
    logger = RunLogger(uri, experiment)
    with logger.start():
        real = logger.client.log_batch

        def full(run_id, metrics=(), **kwargs):
            if metrics:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/store/store.db")
            return real(run_id, metrics=metrics, **kwargs)

        monkeypatch.setattr(logger.client, "log_batch", full)
        logger.log_metrics({"a": 1.0})
        with pytest.raises(TrackingError, match=r"/store/store\.db: No space left on device"):
            logger.flush()
        monkeypatch.setattr(logger.client, "log_batch", real)


def test_a_read_only_sqlite_database_is_a_tracking_error(uri, experiment, monkeypatch):
    from mlflow.exceptions import MlflowException

    logger = RunLogger(uri, experiment)
    with logger.start():
        real = logger.client.log_batch

        def read_only(*args, **kwargs):
            raise MlflowException("(sqlite3.OperationalError) attempt to write a readonly database")

        monkeypatch.setattr(logger.client, "log_batch", read_only)
        with pytest.raises(TrackingError, match="readonly database") as caught:
            logger.set_tags({"a": "b"})
        assert uri in str(caught.value) and "tags" in str(caught.value)
        monkeypatch.setattr(logger.client, "log_batch", real)


def test_fit_into_an_unwritable_store_is_one_paragraph(uri, tmp_path):
    blocker = _under_a_file(uri, tmp_path, "fit-under-a-file")
    args = ["fit", "-c", str(QUICK), "--set", f"tracking.uri={uri}", "--set", "train.epochs=2"]
    out = CliRunner().invoke(main, [*args, "--set", "tracking.experiment=fit-under-a-file"])
    assert out.exit_code == 2, out.output
    assert "could not write" in out.output and str(blocker) in out.output


# ------------------------------------------------------------------------- trust


def test_fingerprint_includes_the_published_split():
    cohort = make_synthetic_cohort(
        12, n_genes=30, n_pathways=4, n_regions=4, n_disease_pathways=2, seed=1
    )
    no_split = cohort.fingerprint()
    cohort.obs["split"] = np.where(np.arange(12) < 8, "train", "test")
    with_split = cohort.fingerprint()
    cohort.obs["split"] = np.where(np.arange(12) < 4, "test", "train")
    assert len({no_split, with_split, cohort.fingerprint()}) == 3
    cohort.obs["split"] = np.where(np.arange(12) < 8, "train", "test")
    assert cohort.fingerprint() == with_split


def test_explain_refuses_a_run_without_a_fingerprint_unless_trusted(uri, experiment):
    overrides = [f"tracking.uri={uri}", f"tracking.experiment={experiment}", "train.epochs=3"]
    run_id = fit(load_config(QUICK, overrides)).run_id
    MlflowClient(uri).delete_tag(run_id, "graphfuse.data_fingerprint")
    with pytest.raises(DataError) as caught:
        explain_run(run_id, ["saliency"], tracking_uri=uri, log=False)
    message = str(caught.value)
    assert run_id in message and "graphfuse.data_fingerprint" in message
    assert "--trust-run" in message and "trust_run=True" in message
    out = CliRunner().invoke(main, ["explain", "--run", run_id, "--tracking-uri", uri])
    assert out.exit_code == 2 and "--trust-run" in out.output
    trusted = explain_run(run_id, ["saliency"], tracking_uri=uri, log=False, trust_run=True)
    assert set(trusted.attributions) == {"saliency"}


def test_runs_commands_do_not_create_a_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = CliRunner().invoke(main, ["runs", "list"])
    assert out.exit_code == 2 and "no MLflow store at sqlite:///mlflow.db" in out.output
    assert not (tmp_path / "mlflow.db").exists()
