"""Reading the user's tables: every unreadable file, almost-numeric clinical column, odd
target or odd patient ID is either used as meant or refused with an error naming the file,
the column and the patient — never another library's exception, never a silent re-typing."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import unicodedata
import warnings
import zipfile
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import yaml

from graphfuse.data import (
    DataConfig,
    Preprocessor,
    cohort_from_modalities,
    encode_clinical,
    load_cohort,
    read_labels,
    read_modality,
    read_table,
)
from graphfuse.errors import DataError
from graphfuse.train import stratified_split

CSV = "pid,g1,g2\n" + "".join(f"p{i},{i},{i * 2}\n" for i in range(10))


def _labels(path: Path, ids: list[str], dx: list[str]) -> Path:
    pd.DataFrame({"pid": ids, "dx": dx}).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- class 5


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _zipped(data: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("t.csv", data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("t.csv.gz", _truncated(gzip.compress(CSV.encode())), "ends early"),
        ("t.csv.gz", b"plain text, not gzip", "not a valid .gz file"),
        ("t.csv.bz2", _truncated(bz2.compress(CSV.encode())), "ends early"),
        ("t.csv.bz2", b"plain text, not bz2", "not a valid .bz2 file"),
        ("t.csv.xz", b"plain text, not xz", "not a valid .xz file"),
        ("t.csv.zip", b"PK plain text, not zip", "not a valid .zip file"),
        ("t.csv.zip", _truncated(_zipped(CSV.encode())), "not a valid .zip file"),
        ("t.csv", "pid,g1\np1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("t.csv", b"", r"is empty \(0 bytes\)"),
        ("t.parquet", b"", r"is empty \(0 bytes\)"),
        ("t.parquet", b"PAR1 not parquet", "cannot be read as Parquet"),
    ],
)
def test_a_corrupt_truncated_or_empty_table_names_the_file_and_cause(
    tmp_path, name, content, cause
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"modality 'rna'.*{path.name}.*{cause}"):
        read_modality(path, name="rna", kind="omics", id_column="pid")
    with pytest.raises(DataError, match=rf"labels table.*{path.name}.*{cause}"):
        read_labels(path, id_column="pid", target="g1")


def test_an_xz_table_is_read(tmp_path):  # the compression the header check now opens too
    path = tmp_path / "t.csv.xz"
    path.write_bytes(lzma.compress(CSV.encode()))
    assert read_modality(path, name="rna", kind="omics", id_column="pid").shape == (10, 2)


@pytest.mark.parametrize("suffix", [".h5ad", ".h5mu"])
@pytest.mark.parametrize(
    ("damage", "cause"), [("truncate", "truncated"), ("junk", "not an HDF5 file")]
)
def test_a_damaged_anndata_or_mudata_file_names_the_file_and_cause(tmp_path, suffix, damage, cause):
    adata = ad.AnnData(np.ones((3, 2), dtype="float32"))
    adata.obs_names = ["a", "b", "c"]
    path = tmp_path / f"x{suffix}"
    if suffix == ".h5ad":
        adata.write_h5ad(path)
    else:
        md.MuData({"rna": adata}).write(str(path))
    data = path.read_bytes()
    path.write_bytes(_truncated(data) if damage == "truncate" else b"junk" * 10)
    with pytest.raises(DataError, match=rf"modality 'rna' \(.*x{suffix}\).*{cause}"):
        read_modality(path, name="rna", kind="omics")
    with pytest.raises(DataError, match=rf"labels table.*x{suffix}.*{cause}"):
        read_labels(path, id_column=None, target="dx")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
        (lambda p: p.write_bytes(b"just text, not numpy"), r"not a \.npy file"),
        (
            lambda p: (np.save(p, np.ones((3, 4))), p.write_bytes(p.read_bytes()[:-7])),
            "cannot be read as a numeric .npy array",
        ),
        (
            lambda p: np.save(p, np.array([[1, "a"]] * 3, dtype=object), allow_pickle=True),
            r"holds Python objects \(dtype object\), which would need unpickling",
        ),
    ],
)
def test_a_bad_npy_file_names_the_file_and_cause(tmp_path, make, message):
    path = tmp_path / "mri.npy"
    make(path)
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    with pytest.raises(DataError, match=rf"modality 'mri'.*mri\.npy.*{message}"):
        read_modality(path, name="mri", kind="imaging", ids=tmp_path / "ids.txt")


def test_a_table_with_only_a_header_or_zero_rows_is_refused_naming_the_file(tmp_path):
    header = tmp_path / "labels.csv"
    header.write_text("pid,dx\n")
    with pytest.raises(DataError, match=r"labels table .*labels\.csv: no data row"):
        read_labels(header, id_column="pid", target="dx")
    zero = tmp_path / "rna.parquet"
    pd.DataFrame({"pid": pd.Series([], dtype=str), "g1": pd.Series([], dtype=float)}).to_parquet(
        zero
    )
    rna = read_modality(zero, name="rna", kind="omics", id_column="pid")
    labels = pd.DataFrame({"dx": ["AD", "CN"]}, index=["a", "b"])
    with pytest.raises(DataError, match=r"modality 'rna' \(.*rna\.parquet\): no patient has"):
        cohort_from_modalities(labels, {"rna": rna}, target="dx")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_names_the_file(tmp_path):
    path = tmp_path / "rna.csv"
    path.write_text(CSV)
    path.chmod(0)
    try:
        with pytest.raises(DataError, match=r"rna\.csv cannot be opened"):
            read_modality(path, name="rna", kind="omics", id_column="pid")
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        ([0, 1, 0], r"class 1 has 1 patient\(s\): the cohort has 3 patient\(s\) in 2 class"),
        ([0, 1] * 3, r"6 patient\(s\) in 2 class.*\{0: 3, 1: 3\}.*too few for a stratified"),
        ([0, 1, 2] * 3, r"9 patient\(s\) in 3 class.*test and validation sets each need"),
    ],
)
def test_a_cohort_too_small_to_split_says_how_many_patients_and_what_is_needed(y, message):
    with pytest.raises(DataError, match=message):
        stratified_split(np.array(y), val_fraction=0.2, test_fraction=0.2, seed=0)


def _small_omics_cohort(n_features: int):
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(12)]
    rna = ad.AnnData(
        rng.normal(size=(12, n_features)).astype("float32"),
        obs=pd.DataFrame(index=ids),
        var=pd.DataFrame(
            {"gene": [f"G{i}" for i in range(n_features)]},
            index=[f"g{i}" for i in range(n_features)],
        ),
    )
    rna.uns["kind"] = "omics"
    labels = pd.DataFrame({"dx": ["AD", "CN"] * 6}, index=ids)
    return cohort_from_modalities(labels, {"rna": rna}, target="dx")


def test_hvg_on_a_modality_too_small_for_it_is_a_graphfuse_error_naming_it():
    cohort = _small_omics_cohort(4)
    select = {"method": "hvg", "n": 2, "flavor": "cell_ranger"}
    with pytest.raises(DataError, match=r"modality 'rna': select method 'hvg' .*cell_ranger"):
        Preprocessor(omics={"rna": {"select": select}}).fit(cohort, np.arange(8))
    # the same options where every feature is kept anyway, or with seurat: no error
    keep_all = {"method": "hvg", "n": 4, "flavor": "cell_ranger"}
    Preprocessor(omics={"rna": {"select": keep_all}}).fit(cohort, np.arange(8))
    seurat = {"method": "hvg", "n": 2}
    out = Preprocessor(omics={"rna": {"select": seurat}}).fit(cohort, np.arange(8))
    assert len(out.fitted_["rna"].features_out_) == 2


def test_an_empty_npy_in_the_cli_is_a_message_not_aborted(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from graphfuse.cli import main

    monkeypatch.chdir(tmp_path)
    _labels(tmp_path / "labels.csv", ["a", "b", "c"], ["AD", "CN", "AD"])
    (tmp_path / "mri.npy").write_bytes(b"")
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    tables = {
        "labels": str(tmp_path / "labels.csv"),
        "id_column": "pid",
        "target": "dx",
        "modalities": [
            {
                "name": "mri",
                "kind": "imaging",
                "path": str(tmp_path / "mri.npy"),
                "ids": str(tmp_path / "ids.txt"),
            }
        ],
    }
    config = tmp_path / "exp.yaml"
    config.write_text(
        yaml.safe_dump(
            {"data": {"source": "tables", "tables": tables}, "tracking": {"enabled": False}}
        )
    )
    result = CliRunner().invoke(main, ["fit", "--config", str(config)])
    assert "Aborted" not in result.output
    assert result.exit_code == 2
    assert "mri.npy is empty (0 bytes)" in result.output


# --------------------------------------------------------------------------- class 2


def _age_table(path: Path, cells: list[str]) -> Path:
    ages = [str(60 + i) for i in range(20 - len(cells))] + cells
    table = pd.DataFrame({"pid": [f"p{i:02d}" for i in range(20)], "age": ages, "sex": "F"})
    table.loc[::3, "sex"] = "M"  # not a copy of any target below
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("cells", [["seventy"], ["unknown", "n/a "], [" ? "]])
def test_a_text_cell_in_a_numeric_clinical_column_is_refused_naming_it(tmp_path, cells):
    path = _age_table(tmp_path / "clin.csv", cells)
    first = 20 - len(cells)
    with pytest.raises(DataError) as info:
        read_modality(path, name="clin", kind="clinical", id_column="pid")
    msg = str(info.value)
    assert "modality 'clin'" in msg and "clin.csv" in msg and "column 'age'" in msg
    assert f"patient 'p{first:02d}': value {cells[0]!r} is not a number" in msg
    assert f"{len(cells)} text cell(s)" in msg and "na_values" in msg
    assert "types: {age: categorical}" in msg
    # the user's choice: read those cells as missing ...
    adata = read_modality(
        path, name="clin", kind="clinical", id_column="pid", na_values=[c.strip() for c in cells]
    )
    assert adata.var.loc["age", "type"] == "numeric"
    assert np.isnan(adata.X[first:, 0]).all() and not np.isnan(adata.X[:first, 0]).any()
    # ... or use the column as categories
    coded = read_modality(
        path, name="clin", kind="clinical", id_column="pid", types={"age": "categorical"}
    )
    assert coded.var.loc["age", "type"] == "categorical"


def test_encode_clinical_takes_na_values_and_a_mostly_text_column_stays_categorical():
    t = pd.DataFrame({"age": ["61", "64", "70", "72", "75", "missing"]})
    with pytest.raises(DataError, match=r"column 'age', patient '5': value 'missing'"):
        encode_clinical(t)
    assert np.isnan(encode_clinical(t, na_values=["missing"]).X[5, 0])
    # numbers in fewer than half of the values: a categorical column, as before
    stage = pd.DataFrame({"stage": ["I", "II", "X", "X", "1", "III"]})
    assert encode_clinical(stage).var.loc["stage", "type"] == "categorical"
    # a declared numeric column names every text cell too
    with pytest.raises(DataError, match=r"declared numeric; 1 text cell\(s\): patient '5'"):
        encode_clinical(t, types={"age": "numeric"})


def test_the_free_text_error_names_example_cells():
    t = pd.DataFrame({"note": [f"note {i}" for i in range(60)]}, index=[f"p{i}" for i in range(60)])
    with pytest.raises(
        DataError, match=r"column 'note': 60 distinct text values \(e\.g\. patient 'p0': 'note 0'"
    ):
        encode_clinical(t)


# --------------------------------------------------------------------------- class 6


def test_a_continuous_target_says_it_looks_continuous_not_class_sizes(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(120)]
    path = tmp_path / "labels.csv"
    pd.DataFrame({"pid": ids, "mmse": rng.normal(25, 3, 120).round(3)}).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        read_labels(path, id_column="pid", target="mmse")
    msg = str(info.value)
    assert "labels.csv" in msg and "column 'mmse'" in msg and "looks continuous" in msg
    assert "distinct numbers with fractions among 120 patients" in msg
    assert "patient(s)" not in msg.split("looks continuous")[0]
    # many integer values, nearly one patient each (an age, an ID): refused too
    pd.DataFrame({"pid": ids, "age": np.arange(120) % 60 + 30}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'age': 60 distinct values among 120 patients"):
        read_labels(path, id_column="pid", target="age")
    # class codes, even with fractions, are class labels
    pd.DataFrame({"pid": ids, "y": [0, 1, 2] * 40, "z": [0.5, 1.5] * 60}).to_csv(path, index=False)
    assert read_labels(path, id_column="pid", target="y")["y"].nunique() == 3
    assert read_labels(path, id_column="pid", target="z")["z"].nunique() == 2
    # a small continuous target is caught too
    pd.DataFrame({"pid": ids[:12], "w": rng.normal(size=12)}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"12 distinct numbers with fractions among 12"):
        read_labels(path, id_column="pid", target="w")


def test_labels_differing_only_by_spaces_are_one_class_with_a_warning_naming_them(tmp_path):
    path = _labels(tmp_path / "labels.csv", list("abcdef"), ["AD", "AD ", " AD", "CN", "CN", "CN"])
    with pytest.warns(UserWarning, match=r"labels\.csv, column 'dx'.*'AD' and 'AD ' and ' AD'"):
        labels = read_labels(path, id_column="pid", target="dx")
    assert sorted(labels["dx"].unique()) == ["AD", "CN"]
    with warnings.catch_warnings():  # spaces on every label of a class merge nothing: quiet
        warnings.simplefilter("error")
        path = _labels(tmp_path / "l2.csv", list("abcd"), ["AD ", "AD ", "CN", "CN"])
        assert sorted(read_labels(path, id_column="pid", target="dx")["dx"]) == [
            "AD",
            "AD",
            "CN",
            "CN",
        ]


def test_nfc_and_nfd_ids_match_and_a_collision_names_both(tmp_path):
    nfc = unicodedata.normalize("NFC", "Jos\u00e9")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    labels = _labels(tmp_path / "labels.csv", [nfc, "b", "c"], ["AD", "CN", "AD"])
    (tmp_path / "rna.csv").write_text(f"pid,g1\n{nfd},1\nb,2\nc,3\n", encoding="utf-8")
    (tmp_path / "img.txt").write_text(f"{nfd}\nb\nc\n", encoding="utf-8")
    np.save(tmp_path / "img.npy", np.ones((3, 2)))
    rna = read_modality(tmp_path / "rna.csv", name="rna", kind="omics", id_column="pid")
    img = read_modality(tmp_path / "img.npy", name="img", kind="imaging", ids=tmp_path / "img.txt")
    assert nfc in rna.obs_names and nfc in img.obs_names
    cohort = cohort_from_modalities(
        read_labels(labels, id_column="pid", target="dx"), {"rna": rna, "img": img}, target="dx"
    )
    assert cohort.n_patients == 3 and bool(cohort.availability.loc[nfc].all())
    in_memory = ad.AnnData(
        np.ones((3, 1), dtype="float32"), obs=pd.DataFrame(index=[nfd, "b", "c"])
    )
    in_memory.uns["kind"] = "imaging"
    table = pd.DataFrame({"dx": ["AD", "CN", "AD"]}, index=[nfc, "b", "c"])
    assert cohort_from_modalities(table, {"img": in_memory}, target="dx").n_patients == 3
    both = _labels(tmp_path / "both.csv", [nfc, nfd, "c"], ["AD", "CN", "AD"])
    with pytest.raises(DataError, match=r"both\.csv, column 'pid': patient IDs 'José' \(.*U\+00E9"):
        read_labels(both, id_column="pid", target="dx")
    with pytest.raises(DataError, match=r"U\+0065 U\+0301\) differ only in how"):
        read_table(both, id_column="pid")


def test_an_empty_vector_cell_means_the_patient_lacks_the_modality(tmp_path):
    path = tmp_path / "emb.parquet"
    vectors = [np.array([1.0, 2.0]), np.array([]), None, np.array([3.0, 4.0])]
    pd.DataFrame({"pid": list("abcd"), "emb": vectors}).to_parquet(path)
    adata = read_modality(path, name="img", kind="imaging", id_column="pid")
    assert list(adata.obs_names) == ["a", "d"] and adata.shape == (2, 2)
    labels = pd.DataFrame({"dx": ["AD", "CN", "AD", "CN"]}, index=list("abcd"))
    rna = ad.AnnData(np.ones((4, 1), dtype="float32"), obs=pd.DataFrame(index=list("abcd")))
    rna.var["gene"] = ["APOE"]
    rna.uns["kind"] = "omics"
    cohort = cohort_from_modalities(labels, {"rna": rna, "img": adata}, target="dx")
    assert cohort.availability["img"].tolist() == [True, False, False, True]
    # a vector of another (non-zero) length is still an error naming the patient
    vectors[1] = np.array([1.0, 2.0, 3.0])
    pd.DataFrame({"pid": list("abcd"), "emb": vectors}).to_parquet(path)
    with pytest.raises(
        DataError, match=r"column 'emb', patient 'b': vector of length 3; expected 2"
    ):
        read_modality(path, name="img", kind="imaging", id_column="pid")


# --------------------------------------------------------------------------- class 7


@pytest.mark.parametrize("header", [False, True])
def test_the_documented_npy_with_an_id_list_works_with_tables_id_column(tmp_path, header):
    ids = [f"P{i:03d}" for i in range(12)]
    _labels(tmp_path / "labels.csv", ids, ["CN", "AD"] * 6)
    pd.DataFrame({"pid": ids, "APOE": np.arange(12.0)}).to_csv(tmp_path / "rna.csv", index=False)
    np.save(tmp_path / "mri.npy", np.arange(24.0).reshape(12, 2))
    (tmp_path / "mri_ids.txt").write_text(("pid\n" if header else "") + "\n".join(ids) + "\n")
    config = DataConfig.model_validate(
        {
            "source": "tables",
            "tables": {
                "labels": str(tmp_path / "labels.csv"),
                "id_column": "pid",
                "target": "dx",
                "classes": ["CN", "AD"],
                "modalities": [
                    {
                        "name": "rna",
                        "kind": "omics",
                        "path": str(tmp_path / "rna.csv"),
                        "genes": {"ids": "features"},
                    },
                    {
                        "name": "mri",
                        "kind": "imaging",
                        "path": str(tmp_path / "mri.npy"),
                        "ids": str(tmp_path / "mri_ids.txt"),
                    },
                ],
            },
        }
    )
    cohort = load_cohort(config, seed=0)
    mri = cohort.modality("mri")
    assert cohort.n_patients == 12 and list(mri.obs_names) == ids
    assert mri.X[3].tolist() == [6.0, 7.0]


def test_per_modality_na_values_in_a_config(tmp_path):
    ids = [f"P{i:02d}" for i in range(20)]
    _labels(tmp_path / "labels.csv", ids, ["CN", "AD"] * 10)
    _age_table(tmp_path / "clin.csv", ["unknown"])
    pd.read_csv(tmp_path / "clin.csv").assign(pid=ids).to_csv(tmp_path / "clin.csv", index=False)
    config = {
        "source": "tables",
        "tables": {
            "labels": str(tmp_path / "labels.csv"),
            "id_column": "pid",
            "target": "dx",
            "modalities": [
                {"name": "clin", "kind": "clinical", "path": str(tmp_path / "clin.csv")}
            ],
        },
    }
    with pytest.raises(DataError, match=r"column 'age', patient 'P19': value 'unknown'"):
        load_cohort(DataConfig.model_validate(config), seed=0)
    config["tables"]["modalities"][0]["na_values"] = ["unknown"]
    cohort = load_cohort(DataConfig.model_validate(config), seed=0)
    assert np.isnan(cohort.modality("clin")[ids[-1]].X[0, 0])


def test_numbers_with_a_decimal_comma_are_named_not_taken_for_categories(tmp_path):
    path = tmp_path / "clin.tsv"
    weights = ["70,5", "71,2", "80,1", "66", "59,9", "70,1"]
    pd.DataFrame({"pid": [f"p{i}" for i in range(6)], "w": weights}).to_csv(
        path, sep="\t", index=False
    )
    with pytest.raises(
        DataError,
        match=r"clin\.tsv\), column 'w': 5 value\(s\) with a decimal comma \(patient 'p0'",
    ):
        read_modality(path, name="clin", kind="clinical", id_column="pid")
    coded = read_modality(
        path, name="clin", kind="clinical", id_column="pid", types={"w": "categorical"}
    )
    assert coded.var.loc["w", "type"] == "categorical"
    with pytest.raises(DataError, match=r"patient 'p0': value '70,5' is not a number.*decimal"):
        read_modality(path, name="img", kind="imaging", id_column="pid")


def test_an_id_list_with_an_unnamed_header_line_says_so(tmp_path):
    np.save(tmp_path / "mri.npy", np.ones((2, 2)))
    (tmp_path / "ids.txt").write_text("patient\na\nb\n")
    with pytest.raises(DataError, match=r"has 3 IDs.*is its first line, 'patient', a header"):
        read_modality(tmp_path / "mri.npy", name="mri", kind="imaging", ids=tmp_path / "ids.txt")
    mri = read_modality(
        tmp_path / "mri.npy",
        name="mri",
        kind="imaging",
        ids=tmp_path / "ids.txt",
        id_column="patient",
    )
    assert list(mri.obs_names) == ["a", "b"]


def test_a_one_patient_label_is_named_by_its_label_when_the_split_refuses_it(tmp_path):
    from graphfuse.config import load_config
    from graphfuse.experiment import fit

    ids = [f"p{i:02d}" for i in range(13)]
    _labels(tmp_path / "labels.csv", ids, ["CN", "AD"] * 6 + ["ADD"])
    pd.DataFrame({"pid": ids, "APOE": np.arange(13.0)}).to_csv(tmp_path / "rna.csv", index=False)
    tables = {
        "labels": str(tmp_path / "labels.csv"),
        "id_column": "pid",
        "target": "dx",
        "modalities": [
            {"name": "rna", "kind": "omics", "path": str(tmp_path / "rna.csv"), "genes": "none"}
        ],
    }
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "tables", "tables": tables}}))
    cfg = load_config(config, ["tracking.enabled=false"])
    with pytest.raises(
        DataError, match=r"class 'ADD' has 1 patient\(s\): the cohort has 13 patient\(s\) in 3"
    ):
        fit(cfg)


@pytest.mark.parametrize("text", ["", "\n# nothing set yet\n"])
def test_an_empty_config_file_is_refused_not_run_as_the_defaults(tmp_path, text):
    from graphfuse.config import load_config
    from graphfuse.errors import ConfigError

    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"empty\.yaml: the config file is empty"):
        load_config(path)
    path.write_text("{}\n")
    assert load_config(path).data.source == "synthetic"


def test_a_zst_table_without_its_codec_names_the_package(tmp_path):
    try:
        import zstandard  # noqa: F401

        pytest.skip("zstandard is installed")
    except ImportError:
        pass
    path = tmp_path / "t.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd not really")
    with pytest.raises(DataError, match=r"t\.csv\.zst: reading a \.zst file needs an optional"):
        read_table(path, id_column="pid")


def test_a_survset_factor_of_numbers_and_text_stays_a_factor():
    from graphfuse.data._survset import read_survset

    table = pd.DataFrame(
        {
            "pid": [f"p{i}" for i in range(8)],
            "time": [1.0] * 8,
            "event": [0, 1] * 4,
            "fac_stage": ["1", "2", "3", "3a", "1", "2", "missing", "3"],
            "num_HS_TP53": np.arange(8.0),
        }
    )
    var = read_survset(table, omics={"rna": "num_HS_"}, where="x").modality("clinical").var
    assert var.loc["stage", "type"] == "categorical"  # its fac_ prefix declares it
