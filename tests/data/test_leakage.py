"""Target leakage by configuration is refused, not learned: the target (or an exact copy of it,
or an outcome column) among the features, and one file read as two modalities."""

from __future__ import annotations

import pandas as pd
import pytest

from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.errors import ConfigError, DataError

from .test_load import tables_config


@pytest.fixture
def root(files, monkeypatch):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(files.root))
    return files.root


def _clinical_with(files, **columns) -> None:
    table = pd.read_csv(files.clinical)
    for name, values in columns.items():
        table[name] = values
    table.to_csv(files.clinical, index=False)


def test_the_labels_table_read_as_a_modality_is_refused_naming_the_target(files, root):
    cfg = load_config(
        tables_config(
            files,
            root,
            modalities=[
                {"name": "rna", "kind": "omics", "path": "rna.csv", "genes": "none"},
                {"name": "meta", "kind": "clinical", "path": "labels.csv"},
            ],
        )
    )
    with pytest.raises(
        DataError, match=r"modality 'meta' has a feature 'dx', named like the target"
    ):
        load_cohort(cfg.data, seed=0)
    # leaving the target out of it is fine; the split column is an outcome column too
    cfg = load_config(
        tables_config(
            files,
            root,
            split_column="split",
            modalities=[
                {"name": "rna", "kind": "omics", "path": "rna.csv", "genes": "none"},
                {"name": "meta", "kind": "clinical", "path": "labels.csv", "drop": ["dx"]},
            ],
        )
    )
    with pytest.raises(DataError, match=r"feature 'split', named like the outcome column 'split'"):
        load_cohort(cfg.data, seed=0)


@pytest.mark.parametrize(
    "copy",
    [
        lambda y: y,  # the class codes
        lambda y: 5.0 - 3.0 * y,  # re-coded numbers
        lambda y: ["case" if v else "control" for v in y],  # re-coded text: a category
    ],
)
def test_an_exact_copy_of_the_target_is_refused_unless_allowed(files, root, copy):
    _clinical_with(files, diagnosis_code=copy(files.y))
    cfg = load_config(tables_config(files, root))
    with pytest.raises(
        DataError,
        match=r"modality 'clinical', feature 'diagnosis_code' is an exact copy of the target "
        r"'dx' \(one value per class: CN -> .+, AD -> .+\).*allow_target_in_features: true",
    ):
        load_cohort(cfg.data, seed=0)
    allowed = load_config(tables_config(files, root), ["data.allow_target_in_features=true"])
    assert "diagnosis_code" in load_cohort(allowed.data, seed=0).modality("clinical").var_names


def test_a_copy_with_missing_values_is_still_a_copy_and_a_near_copy_is_not(files, root):
    codes = files.y.astype(float)
    codes[:6] = float("nan")  # not measured for some patients: the rest still copy the label
    _clinical_with(files, dx_code=codes)
    with pytest.raises(DataError, match=r"feature 'dx_code' is an exact copy"):
        load_cohort(load_config(tables_config(files, root)).data, seed=0)
    near = files.y.astype(float)
    near[7] = 1 - near[7]  # one patient disagrees: a strong feature, not the label itself
    _clinical_with(files, dx_code=near)
    assert (
        "dx_code"
        in load_cohort(load_config(tables_config(files, root)).data, seed=0)
        .modality("clinical")
        .var_names
    )


def test_a_survival_time_among_the_features_is_refused(files, root):
    labels = pd.read_csv(files.labels)
    labels["os_months"] = range(1, len(labels) + 1)
    labels["os_event"] = [0, 1] * (len(labels) // 2)
    labels.to_csv(files.labels, index=False)
    _clinical_with(files, OS_Months=labels["os_months"])  # the same column, other case
    path = tables_config(files, root)
    cfg = load_config(
        path, ["task=survival", "data.survival.time=os_months", "data.survival.event=os_event"]
    )
    with pytest.raises(DataError, match=r"feature 'OS_Months', named like the outcome column"):
        load_cohort(cfg.data, seed=0)


def test_one_file_read_as_two_modalities_is_refused_unless_they_split_its_columns(files, root):
    twice = [
        {"name": "rna", "kind": "omics", "path": "rna.csv", "genes": "none"},
        {"name": "rna_again", "kind": "omics", "path": "./rna.csv", "genes": "none"},
    ]
    cfg = load_config(tables_config(files, root, modalities=twice))
    with pytest.raises(
        ConfigError,
        match=r"modality 'rna_again' reads .*rna.csv, as modality 'rna' does, and both take 6 "
        r"of its columns",
    ):
        load_cohort(cfg.data, seed=0)
    cols = pd.read_csv(files.rna, nrows=0).columns[1:].tolist()
    halves = [
        {"name": "rna_a", "kind": "omics", "path": "rna.csv", "columns": cols[:3], "genes": "none"},
        {"name": "rna_b", "kind": "omics", "path": "rna.csv", "drop": cols[:3], "genes": "none"},
    ]
    cohort = load_cohort(load_config(tables_config(files, root, modalities=halves)).data, seed=0)
    assert cohort.modality("rna_a").n_vars == 3 and cohort.modality("rna_b").n_vars == 3
