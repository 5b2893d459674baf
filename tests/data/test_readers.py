"""Readers of the user's tables: formats, alignment by patient ID, and every bad input."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest

from graphfuse.data import (
    Cohort,
    GeneMapping,
    cohort_from_modalities,
    read_labels,
    read_modality,
    read_table,
)
from graphfuse.errors import DataError

from .conftest import GENES, write_labels


def rna(files, **kw):
    mapping = GeneMapping(table=files.genemap)
    return read_modality(files.rna, name="rna", kind="omics", id_column="pid", genes=mapping, **kw)


def labels(files, **kw):
    return read_labels(files.labels, id_column="pid", target="dx", **kw)


# ----------------------------------------------------------------------------- good input


def test_tables_make_a_cohort(files):
    lab = labels(files, classes=["CN", "AD"], split_column="split")
    mods = {
        "rna": rna(files),
        "clinical": read_modality(
            files.clinical, name="clinical", kind="clinical", id_column="pid"
        ),
        "imaging": read_modality(files.imaging, name="imaging", kind="imaging", id_column="pid"),
    }
    c = cohort_from_modalities(lab, mods, target="dx", labels_source=str(files.labels))
    assert isinstance(c, Cohort)
    assert list(c.patients) == files.ids  # zero-padded text IDs kept as text
    assert c.classes == ["CN", "AD"] and np.array_equal(c.y, files.y)
    assert c.obs["split"].value_counts().to_dict() == {"train": 30, "test": 10}
    assert c.kinds == {"rna": "omics", "clinical": "clinical", "imaging": "imaging"}
    assert c.availability["imaging"].sum() == 32 and c.availability["rna"].all()
    assert c.modality("rna").var["gene"].tolist() == GENES  # versions stripped, then mapped
    assert np.allclose(c.matrix("rna"), files.x_rna, atol=1e-5)
    img = c.matrix("imaging")
    assert np.allclose(img[:32], files.x_img) and np.isnan(img[32:]).all()
    assert c.modality("imaging").uns["source"] == str(files.imaging)


def test_cohort_round_trips_through_h5mu(files, tmp_path):
    lab = labels(files, classes=["CN", "AD"], split_column="split")
    mods = {
        "rna": rna(files),
        "meth": read_modality(files.rna, name="meth", kind="omics", id_column="pid"),  # unmapped
        "clinical": read_modality(
            files.clinical, name="clinical", kind="clinical", id_column="pid"
        ),
    }
    mods["meth"].var_names = [f"cg{i:04d}" for i in range(6)]
    c = cohort_from_modalities(lab, mods, target="dx")
    c.write(tmp_path / "c.h5mu")
    back = Cohort.read(tmp_path / "c.h5mu", target="dx")
    assert back.fingerprint() == c.fingerprint()
    assert back.obs["split"].tolist() == c.obs["split"].tolist()
    assert back.modality("meth").var["gene"].isna().all()
    assert back.modality("clinical").var["categories"].tolist() == [
        "",
        "F|M",
        "",
        "mayo|msbb|rush",
        "0|1",
    ]


def test_formats_agree(files, tmp_path):
    ref = rna(files)
    frame = pd.read_csv(files.rna, dtype={"pid": str})
    frame.to_csv(tmp_path / "rna.tsv.gz", sep="\t", index=False)
    frame.to_parquet(tmp_path / "rna.parquet")
    h5 = ad.AnnData(
        frame.drop(columns="pid").to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=frame["pid"].tolist()),
        var=pd.DataFrame(
            {"ensembl": frame.columns[1:].tolist()}, index=[f"f{i}" for i in range(6)]
        ),
    )
    h5.write_h5ad(tmp_path / "rna.h5ad")
    other = h5.copy()
    other.var_names = [f"o{i}" for i in range(6)]
    md.MuData({"rna": h5, "other": other}).write(tmp_path / "cohort.h5mu")
    table = GeneMapping(table=files.genemap)
    by_var = GeneMapping(ids="var", column="ensembl", table=files.genemap)
    reads = [
        read_modality(
            tmp_path / "rna.tsv.gz", name="rna", kind="omics", id_column="pid", genes=table
        ),
        read_modality(
            tmp_path / "rna.parquet", name="rna", kind="omics", id_column="pid", genes=table
        ),
        read_modality(tmp_path / "rna.h5ad", name="rna", kind="omics", genes=by_var),
        read_modality(tmp_path / "cohort.h5mu", name="rna", kind="omics", key="rna", genes=by_var),
    ]
    for a in reads:
        assert list(a.obs_names) == files.ids
        assert np.allclose(a.X, ref.X, atol=1e-6)
        assert a.var["gene"].tolist() == GENES
    with pytest.raises(
        DataError, match=r"key None not in the MuData file; it has \['rna', 'other'\]"
    ):
        read_modality(tmp_path / "cohort.h5mu", name="rna", kind="omics", genes=by_var)


def test_imaging_npy_with_id_list_and_wide_parquet(files, tmp_path):
    np.save(tmp_path / "emb.npy", files.x_img)
    (tmp_path / "emb_ids.txt").write_text("\n".join(files.img_ids) + "\n")
    a = read_modality(
        tmp_path / "emb.npy", name="img", kind="imaging", ids=tmp_path / "emb_ids.txt"
    )
    assert list(a.obs_names) == files.img_ids and a.shape == (32, 4)
    assert np.array_equal(a.X, files.x_img)
    wide = pd.DataFrame(files.x_img, columns=list("abcd")).assign(pid=files.img_ids)
    wide.to_parquet(tmp_path / "wide.parquet")
    b = read_modality(tmp_path / "wide.parquet", name="img", kind="imaging", id_column="pid")
    assert list(b.var_names) == list("abcd") and np.allclose(b.X, files.x_img)
    (tmp_path / "short.txt").write_text("\n".join(files.img_ids[:-1]))
    with pytest.raises(DataError, match=r"32 rows but the ID list .*short\.txt has 31 IDs"):
        read_modality(tmp_path / "emb.npy", name="img", kind="imaging", ids=tmp_path / "short.txt")


def test_clinical_mixed_types(files):
    a = read_modality(
        files.clinical,
        name="clinical",
        kind="clinical",
        id_column="pid",
        types={"apoe4": "ordinal"},
    )
    var = a.var
    assert var["type"].to_dict() == {
        "age": "numeric",
        "sex": "binary",
        "apoe4": "ordinal",
        "site": "categorical",
        "smoker": "binary",
    }
    assert var.loc["sex", "categories"] == "F|M"
    assert var.loc["site", "categories"] == "mayo|msbb|rush"
    assert var.loc["smoker", "categories"] == "0|1"
    assert a.X.dtype == np.float32
    raw = pd.read_csv(files.clinical)
    site = a[:, "site"].X.ravel()
    assert np.isnan(site[5]) and np.isnan(a[:, "age"].X.ravel()[3])
    codes = {"mayo": 0, "msbb": 1, "rush": 2}
    assert site[0] == codes[raw.loc[0, "site"]]


def test_labels_missing_are_left_out_with_a_warning(tmp_path):
    path = tmp_path / "labels.tsv"
    write_labels(path, ["a", "b", "c", "d"], ["AD", None, "CN", "AD"])
    with pytest.warns(UserWarning, match=r"column 'dx': 1 of 4 patient\(s\) have no label"):
        lab = read_labels(path, id_column="pid", target="dx")
    assert list(lab.index) == ["a", "c", "d"]


# ----------------------------------------------------------------------------- bad input


def test_duplicated_patient_ids(files):
    frame = pd.read_csv(files.rna, dtype={"pid": str})
    frame.loc[7, "pid"] = "P003"
    frame.to_csv(files.rna, index=False)
    with pytest.raises(DataError) as err:
        rna(files)
    msg = str(err.value)
    assert str(files.rna) in msg and "column 'pid'" in msg and "'P003'" in msg
    assert "expected one row per patient" in msg


def test_modality_patients_without_labels_warn_with_counts_and_continue(files):
    write_labels(files.labels, files.ids[:30], np.where(files.y[:30], "AD", "CN").tolist())
    mods = {"rna": rna(files)}
    with pytest.warns(
        UserWarning, match=r"modality 'rna' .*: 10 of its 40 patient\(s\) are not in"
    ):
        c = cohort_from_modalities(labels(files), mods, target="dx")
    assert c.n_patients == 30
    with pytest.raises(DataError, match=r"10 of its 40 patient\(s\) are not in .*unmatched: warn"):
        cohort_from_modalities(labels(files), mods, target="dx", unmatched="error")


def test_labelled_patients_without_data_warn_with_counts(files):
    rna_only = rna(files)[:35].copy()
    with pytest.warns(UserWarning, match=r"5 of its 40 patient\(s\) have no data in any modality"):
        c = cohort_from_modalities(labels(files), {"rna": rna_only}, target="dx")
    assert c.n_patients == 35


def test_non_numeric_omics_value(files):
    frame = pd.read_csv(files.rna, dtype={"pid": str})
    col = frame.columns[3]
    frame[col] = frame[col].astype(object)
    frame.loc[4, col] = "n/d"
    frame.to_csv(files.rna, index=False)
    with pytest.raises(DataError) as err:
        rna(files)
    msg = str(err.value)
    assert str(files.rna) in msg and f"column {col!r}" in msg and "patient 'P004'" in msg
    assert "'n/d' is not a number" in msg


@pytest.mark.parametrize(("value", "what"), [(np.nan, "missing \\(NaN\\)"), (np.inf, "infinite")])
def test_nan_or_inf_in_omics(files, value, what):
    frame = pd.read_csv(files.rna, dtype={"pid": str})
    col = frame.columns[2]
    frame.loc[9, col] = value
    frame.to_csv(files.rna, index=False)
    with pytest.raises(DataError, match=rf"feature {col!r}, patient 'P009': value is {what}"):
        rna(files)


def test_an_all_missing_row_means_the_patient_lacks_the_modality(files, tmp_path):
    frame = pd.DataFrame({"pid": ["a", "b", "c"], "x": [1.0, np.nan, 2.0], "z": [1, None, 3]})
    frame.to_csv(tmp_path / "img.csv", index=False)
    a = read_modality(tmp_path / "img.csv", name="img", kind="imaging", id_column="pid")
    assert list(a.obs_names) == ["a", "c"]


def test_a_modality_no_patient_has(files, tmp_path):
    other = pd.read_csv(files.rna, dtype={"pid": str})
    other["pid"] = [f"X{i}" for i in range(len(other))]
    other.to_csv(tmp_path / "other.csv", index=False)
    mods = {
        "rna": rna(files),
        "other": read_modality(
            tmp_path / "other.csv", name="other", kind="imaging", id_column="pid"
        ),
    }
    with pytest.raises(DataError, match=r"modality 'other' .*none of its 40 patients is in the"):
        cohort_from_modalities(labels(files), mods, target="dx")
    pd.DataFrame({"pid": [], "x": []}).to_csv(tmp_path / "empty.csv", index=False)
    empty = read_modality(tmp_path / "empty.csv", name="empty", kind="imaging", id_column="pid")
    with pytest.raises(DataError, match=r"modality 'empty' .*no patient has this modality"):
        cohort_from_modalities(labels(files), {"empty": empty}, target="dx")


def test_labels_with_one_class(files, tmp_path):
    path = tmp_path / "one.csv"
    write_labels(path, files.ids, ["AD"] * len(files.ids))
    with pytest.raises(DataError, match=r"labels table .*one\.csv, column 'dx': one class only"):
        read_labels(path, id_column="pid", target="dx")
    # two classes in the table, but only one among the patients with data
    write_labels(path, ["P000", "zz"], ["AD", "CN"])
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"all of one class \('AD'\)"):
        cohort_from_modalities(
            read_labels(path, id_column="pid", target="dx"), {"rna": rna(files)}, target="dx"
        )


def test_gene_mapping_that_maps_nothing_or_part(files, tmp_path):
    with pytest.raises(DataError, match=r"maps none of its 6 features to a gene"):
        read_modality(
            files.rna,
            name="rna",
            kind="omics",
            id_column="pid",
            genes=GeneMapping(table=files.genemap, strip_version=False),
        )
    part = pd.DataFrame({"ensembl_gene_id": ["ENSG00000000001"], "symbol": ["APOE"]})
    part.to_csv(tmp_path / "part.csv", index=False)
    with pytest.warns(UserWarning, match=r"modality 'rna' .*: 5 of 6 feature\(s\) map to no gene"):
        a = read_modality(
            files.rna,
            name="rna",
            kind="omics",
            id_column="pid",
            genes=GeneMapping(table=tmp_path / "part.csv"),
        )
    assert a.var["gene"].iloc[0] == "APOE" and a.var["gene"].iloc[1:].isna().all()


def test_missing_files(files, tmp_path):
    with pytest.raises(DataError, match=r"modality 'rna': file .*absent\.csv not found"):
        read_modality(tmp_path / "absent.csv", name="rna", kind="omics", id_column="pid")
    with pytest.raises(DataError, match=r"labels table: file .*absent\.csv not found"):
        read_labels(tmp_path / "absent.csv", id_column="pid", target="dx")
    with pytest.raises(DataError, match=r"gene mapping table .*nomap\.csv not found"):
        read_modality(
            files.rna,
            name="rna",
            kind="omics",
            id_column="pid",
            genes=GeneMapping(table=tmp_path / "nomap.csv"),
        )


def test_missing_id_or_target_column(files):
    with pytest.raises(DataError) as err:
        read_modality(files.rna, name="rna", kind="omics", id_column="patient")
    msg = str(err.value)
    assert str(files.rna) in msg and "ID column 'patient' not found; columns: ['pid'" in msg
    with pytest.raises(DataError, match=r"target column 'diagnosis' not found; columns: \['dx'"):
        read_labels(files.labels, id_column="pid", target="diagnosis")


def test_labels_outside_classes_and_bad_split(files, tmp_path):
    with pytest.raises(DataError, match=r"column 'dx', patient 'P000': label 'CN' is not one of"):
        labels(files, classes=["control", "AD"])
    path = tmp_path / "s.csv"
    write_labels(path, ["a", "b"], ["AD", "CN"], ["train", "validation"])
    with pytest.raises(DataError, match=r"patient 'b': split is 'validation'; expected 'train'"):
        read_labels(path, id_column="pid", target="dx", split_column="split")


def test_duplicated_columns_and_unknown_format(tmp_path):
    (tmp_path / "d.csv").write_text("pid,a,a\nx,1,2\n")
    with pytest.raises(DataError, match=r"duplicated column name\(s\) \['a'\]"):
        read_table(tmp_path / "d.csv", id_column="pid")
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(DataError, match=r"unknown format '\.xlsx'"):
        read_table(tmp_path / "d.xlsx", id_column="pid")
