"""A published split shipped as separate files: labels ``{train:, test:}`` and modality path lists.

The mixOmics TCGA breast-cancer cohort ships ``x_tr`` / ``x_te`` files and has protein for the
training patients only; these tiny files mimic that layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from graphfuse.config import load_config
from graphfuse.data import data_root, load_cohort
from graphfuse.data._config import DataConfig
from graphfuse.errors import DataError
from graphfuse.experiment import fit

ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, ids: list[str], values: dict[str, list]) -> Path:
    pd.DataFrame({"pid": ids, **values}).to_csv(path, index=False)
    return path


@pytest.fixture
def split_files(tmp_path: Path) -> Path:
    """24 training + 12 test patients; ``prot`` for training patients only."""
    rng = np.random.default_rng(0)
    tr = [f"T{i:02d}" for i in range(24)]
    te = [f"S{i:02d}" for i in range(12)]
    for name, ids in (("tr", tr), ("te", te)):
        y = ["A", "B", "C"] * (len(ids) // 3)
        _write(tmp_path / f"labels_{name}.csv", ids, {"dx": y})
        x = rng.normal(size=(len(ids), 3))
        genes = {g: x[:, j] for j, g in enumerate(["G1", "G2", "G3"])}
        _write(tmp_path / f"rna_{name}.csv", ids, genes)
    _write(tmp_path / "prot_tr.csv", tr, {"p1": rng.normal(size=24), "p2": rng.normal(size=24)})
    return tmp_path


def _config(root: Path, **tables) -> DataConfig:
    section = {
        "labels": {"train": str(root / "labels_tr.csv"), "test": str(root / "labels_te.csv")},
        "id_column": "pid",
        "target": "dx",
        "modalities": [
            {
                "name": "rna",
                "kind": "omics",
                "path": [str(root / "rna_tr.csv"), str(root / "rna_te.csv")],
                "genes": "none",
            },
            {"name": "prot", "kind": "omics", "path": str(root / "prot_tr.csv"), "genes": "none"},
        ],
    } | tables
    return DataConfig(source="tables", tables=section)


def test_split_comes_from_the_labels_file_and_missing_modality_is_masked(split_files):
    cohort = load_cohort(_config(split_files), seed=0)
    assert cohort.n_patients == 36
    split = cohort.obs["split"]
    assert set(split[split == "train"].index) == {f"T{i:02d}" for i in range(24)}
    assert set(split[split == "test"].index) == {f"S{i:02d}" for i in range(12)}
    avail = cohort.availability
    assert avail["rna"].all()
    assert avail.loc[split == "train", "prot"].all()
    assert not avail.loc[split == "test", "prot"].any()
    # the stacked modality keeps each file's values for its patients
    rna = cohort.modality("rna")
    raw = pd.read_csv(split_files / "rna_te.csv", index_col="pid")
    got = pd.DataFrame(np.asarray(rna.X), index=rna.obs_names, columns=rna.var_names)
    got = got.loc[raw.index, raw.columns].to_numpy()
    np.testing.assert_allclose(got, raw.to_numpy(), rtol=1e-6)


def test_a_plain_list_of_labels_tables_has_no_split(split_files):
    labels = [str(split_files / "labels_tr.csv"), str(split_files / "labels_te.csv")]
    cohort = load_cohort(_config(split_files, labels=labels), seed=0)
    assert cohort.n_patients == 36
    assert "split" not in cohort.obs.columns


def test_a_patient_in_two_labels_files_is_refused(split_files):
    _write(split_files / "labels_te.csv", ["T03", "S00", "S01"], {"dx": ["A", "B", "C"]})
    also = r"labels_te\.csv: 1 patient\(s\) are also in .*labels_tr\.csv.*T03"
    with pytest.raises(DataError, match=also):
        load_cohort(_config(split_files), seed=0)


def test_a_patient_in_two_files_of_one_modality_is_refused(split_files):
    table = pd.read_csv(split_files / "rna_te.csv")
    table.loc[0, "pid"] = "T05"
    table.to_csv(split_files / "rna_te.csv", index=False)
    both = r"modality 'rna': 1 patient\(s\) are in both .*rna_tr\.csv and .*rna_te\.csv.*T05"
    with pytest.raises(DataError, match=both):
        load_cohort(_config(split_files), seed=0)


def test_files_of_one_modality_with_other_features_are_refused(split_files):
    table = pd.read_csv(split_files / "rna_te.csv").rename(columns={"G3": "G9"})
    table.to_csv(split_files / "rna_te.csv", index=False)
    other = r"rna_te\.csv has other features .*1 missing .*G3.*1 extra .*G9"
    with pytest.raises(DataError, match=other):
        load_cohort(_config(split_files), seed=0)


def test_columns_in_another_order_are_aligned_by_name(split_files):
    table = pd.read_csv(split_files / "rna_te.csv")
    table[["pid", "G3", "G1", "G2"]].to_csv(split_files / "rna_te.csv", index=False)
    cohort = load_cohort(_config(split_files), seed=0)
    rna = cohort.modality("rna")
    assert list(rna.var_names) == ["G1", "G2", "G3"]
    row = np.asarray(rna[["S00"]].X)[0]
    np.testing.assert_allclose(row, table.loc[0, ["G1", "G2", "G3"]].to_numpy(float), rtol=1e-6)


def test_split_files_and_split_column_together_are_refused(split_files):
    with pytest.raises(ValueError, match="published split already; remove split_column"):
        _config(split_files, split_column="split")


def test_a_labels_file_with_its_own_split_column_is_refused(split_files):
    table = pd.read_csv(split_files / "labels_tr.csv").assign(split="train")
    table.to_csv(split_files / "labels_tr.csv", index=False)
    with pytest.raises(DataError, match=r"labels_tr\.csv: has a column 'split'"):
        load_cohort(_config(split_files), seed=0)


def test_fit_scores_test_patients_that_lack_a_modality(split_files, tmp_path):
    data = _config(split_files).model_dump(mode="json", exclude_defaults=True)
    raw = {
        "seed": 0,
        "data": data | {"source": "tables"},
        "graph": {"name": "knn", "k": 3},
        "model": {"name": "gcn_fusion", "hidden": 8},
        "train": {"epochs": 2, "patience": 2, "val_fraction": 0.25},
        "tracking": {"enabled": False},
    }
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = fit(load_config(path))
    assert result.split == "published"
    test_ids = set(result.cohort.patients[result.splits["test"]])
    assert test_ids == {f"S{i:02d}" for i in range(12)}
    assert np.isfinite(result.proba[result.splits["test"]]).all()
    assert set(result.metrics["test"]) >= {"accuracy", "f1_macro", "f1_weighted", "roc_auc"}


@pytest.mark.skipif(
    not (data_root() / "brca" / "tcga_mixomics" / "protein_tr.csv.gz").is_file(),
    reason="needs the data root's brca/tcga_mixomics (set GRAPHFUSE_DATA)",
)
def test_brca_mixomics_config_reads_the_published_split():
    cfg = load_config(ROOT / "configs" / "brca_mixomics.yaml", ["tracking.enabled=false"])
    cohort = load_cohort(cfg.data, seed=0)
    assert cohort.obs["split"].value_counts().to_dict() == {"train": 150, "test": 70}
    test = cohort.obs["split"] == "test"
    assert not cohort.availability.loc[test, "protein"].any()
    assert cohort.availability.loc[~test, "protein"].all()
    assert cohort.obs.loc[test, "subtype"].value_counts().to_dict() == {
        "LumA": 35,
        "Basal": 21,
        "Her2": 14,
    }
