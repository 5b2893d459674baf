"""Shared tiny fixtures (a 48-patient cohort, its split, matrices and patient graph) and the
tracking store every test writes to.

Tests never write into the repository: the session runs in a temporary working folder
(MLflow's SQLite stores put artifacts in ``./mlruns`` of the working folder), each test's
default MLflow store (``MLFLOW_TRACKING_URI``, inherited by subprocesses) is a SQLite file
in its own temporary folder, and the session fails if the repository gained an ``mlruns/``
run folder or an ``mlflow.db``; hypothesis keeps its files in a temporary folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported
from graphfuse.data import Cohort, Preprocessor, make_synthetic_cohort
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.train import stratified_split

TINY = dict(n_genes=120, n_pathways=12, n_regions=12, n_disease_pathways=2, effect_size=1.5)
REPO = Path(__file__).resolve().parents[1]
_TRACKING_LEFTOVERS = ("mlruns", "mlflow.db")
_before = pytest.StashKey[set[str]]()


def tracking_leftovers(root: Path = REPO) -> set[str]:
    """What tests must not add under ``root``: ``mlflow.db`` and every ``mlruns/<exp>/<run>``."""
    found = {name for name in _TRACKING_LEFTOVERS[1:] if (root / name).exists()}
    runs = root / _TRACKING_LEFTOVERS[0]
    if runs.is_dir():
        found |= {str(p.relative_to(root)) for p in runs.glob("*/*")} | {"mlruns"}
    return found


def pytest_configure(config: pytest.Config) -> None:
    """hypothesis keeps its example database and caches in a temporary folder too."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="graphfuse-hypothesis-"))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_before] = tracking_leftovers()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_before, set())
    gained = sorted(tracking_leftovers() - before)
    if gained:
        shown = ", ".join(gained[:5]) + (f" and {len(gained) - 5} more" if len(gained) > 5 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"tests wrote MLflow runs into the repository {REPO}: {shown}; a test must use "
            "a temporary tracking store (tests/conftest.py sets one)"
        )
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _outside_the_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run the session in a temporary working folder (relative stores and ``mlruns/``)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cwd")
        patch.chdir(folder)
        yield folder


@pytest.fixture(autouse=True)
def _temporary_tracking_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> str:
    """Each test's default MLflow store: a SQLite file in a fresh temporary folder."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def cohort() -> Cohort:
    return make_synthetic_cohort(48, **TINY, missing={"imaging": 0.3, "methylation": 0.25}, seed=7)


@pytest.fixture(scope="session")
def splits(cohort: Cohort) -> dict[str, np.ndarray]:
    return stratified_split(cohort.y, val_fraction=0.25, test_fraction=0.25, seed=0)


@pytest.fixture(scope="session")
def matrices(cohort, splits):
    return Preprocessor().fit(cohort, splits["train"]).transform(cohort)


@pytest.fixture
def graph(cohort, splits, matrices):
    return build_patient_graph(matrices, cohort.y, splits, KNNBuilder(k=4))
