"""Shared tiny fixtures: a 48-patient cohort, its split, matrices and patient graph."""

from __future__ import annotations

import numpy as np
import pytest

import graphfuse  # noqa: F401 - applies the thread policy before torch is imported
from graphfuse.data import Cohort, Preprocessor, make_synthetic_cohort
from graphfuse.graphs import KNNBuilder, build_patient_graph
from graphfuse.train import stratified_split

TINY = dict(n_genes=120, n_pathways=12, n_regions=12, n_disease_pathways=2, effect_size=1.5)


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
