"""Input refused, not absorbed: finite numbers that float32 cannot hold, or that preprocessing
would overflow (no non-finite value reaches a model), and blank patient ids — each error names
the patient and the feature or row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphfuse.data import Preprocessor, encode_clinical, make_synthetic_cohort, read_modality
from graphfuse.errors import DataError


def test_a_value_beyond_float32_in_a_table_is_refused_not_called_infinite(tmp_path):
    table = pd.DataFrame({"id": ["p1", "p2", "p3"], "g1": [1.0, 1e308, 2.0], "g2": [0.1, 0.2, 0.3]})
    path = tmp_path / "rna.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"feature 'g1', patient 'p2': value 1e\+308 is finite"):
        read_modality(path, name="rna", kind="omics", id_column="id")
    with pytest.raises(DataError, match=r"column|feature 'age', patient 'p2'"):
        encode_clinical(
            pd.DataFrame({"age": [70.0, 1e300]}, index=["p1", "p2"]), where="clinical table"
        )


def test_a_finite_value_that_scaling_overflows_is_refused_naming_the_patient():
    cohort = make_synthetic_cohort(60, n_genes=60, n_pathways=10, n_regions=10, seed=0)
    adata = cohort.modality("methylation")  # beta values: deviations well below 1
    adata.X[-1, 0] = 1e38  # finite in float32; divided by such a deviation it is not
    feature, patient = adata.var_names[0], adata.obs_names[-1]
    assert cohort.patients.get_loc(patient) >= 40  # a held-out patient, only transformed
    pre = Preprocessor(scale=True).fit(cohort, np.arange(40))
    with pytest.raises(
        DataError, match=rf"modality 'methylation', feature '{feature}', patient '{patient}'"
    ):
        pre.transform(cohort)


def test_a_blank_patient_id_is_refused_naming_the_row(tmp_path):
    from graphfuse.data import read_table

    path = tmp_path / "labels.csv"
    path.write_text('pid,dx\nA,AD\n"   ",CN\nC,CN\n')
    with pytest.raises(DataError, match=r"1 row\(s\) have a blank patient ID .*data row 2"):
        read_table(path, id_column="pid")


def test_a_declared_class_without_patients_is_refused_not_dropped(tmp_path):
    from graphfuse.data import read_labels

    path = tmp_path / "labels.csv"
    path.write_text("pid,dx\nA,AD\nB,CN\nC,CN\n")
    with pytest.raises(DataError, match=r"class\(es\) \['MCI'\] of the declared classes"):
        read_labels(path, id_column="pid", target="dx", classes=["CN", "MCI", "AD"])
    assert list(read_labels(path, id_column="pid", target="dx", classes=["CN", "AD"])["dx"]) == [
        "AD",
        "CN",
        "CN",
    ]


def test_a_class_whose_patients_all_lack_data_is_refused_not_dropped(tmp_path):
    from graphfuse.data import cohort_from_modalities, read_labels

    ids = [f"P{i:02d}" for i in range(30)]
    dx = ["CN", "AD", "MCI"] * 10
    pd.DataFrame({"pid": ids, "dx": dx}).to_csv(tmp_path / "labels.csv", index=False)
    keep = [i for i, d in zip(ids, dx, strict=True) if d != "MCI"]
    x = np.random.default_rng(0).normal(size=(len(keep), 3))
    rna = pd.DataFrame(x, columns=["APOE", "APP", "MAPT"]).assign(pid=keep)
    rna.to_csv(tmp_path / "rna.csv", index=False)
    labels = read_labels(tmp_path / "labels.csv", id_column="pid", target="dx")
    modality = read_modality(tmp_path / "rna.csv", name="rna", kind="omics", id_column="pid")
    with (
        pytest.warns(UserWarning, match="10 of its 30 patient"),
        pytest.raises(DataError, match=r"class\(es\) \['MCI'\] \(10 patient\(s\)\) has no data"),
    ):
        cohort_from_modalities(labels, {"rna": modality}, target="dx")


def test_a_truncated_gene_map_or_interaction_file_is_a_graphfuse_error_naming_it(tmp_path):
    import gzip

    from graphfuse.data import GeneMapping, read_interactions

    table = pd.DataFrame({"pid": ["p1", "p2"], "ENSG1": [1.0, 2.0], "ENSG2": [0.5, 0.1]})
    table.to_csv(tmp_path / "rna.csv", index=False)
    packed = gzip.compress(b"ensembl,symbol\n" + b"ENSG1,APOE\n" * 2000)
    (tmp_path / "genemap.csv.gz").write_bytes(packed[: len(packed) // 2])
    genes = GeneMapping(ids="features", table=tmp_path / "genemap.csv.gz")
    with pytest.raises(DataError, match=r"gene mapping table .*genemap.csv.gz"):
        read_modality(tmp_path / "rna.csv", name="rna", kind="omics", id_column="pid", genes=genes)
    (tmp_path / "ppi.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"interaction file: .*ppi.csv is empty"):
        read_interactions(tmp_path / "ppi.csv")
