"""MOGONET-layout folders: tiny ones written here, and the shared ROSMAP cohort."""

from __future__ import annotations

import numpy as np
import pytest

from graphfuse.data import GeneMapping, MogonetView, data_root, read_mogonet
from graphfuse.errors import DataError

from .conftest import write_mogonet


def test_rows_align_by_position_and_the_split_is_kept(tmp_path):
    y_tr, y_te, data = write_mogonet(tmp_path / "m")
    views = [
        MogonetView(1, "rna", genes=GeneMapping(strip_version=True)),
        MogonetView(2, "meth"),
    ]
    c = read_mogonet(tmp_path / "m", views=views, classes=["NC", "AD"])
    assert list(c.patients[:2]) == ["tr_0000", "tr_0001"] and c.patients[-1] == "te_0009"
    assert c.obs["split"].tolist() == ["train"] * 24 + ["test"] * 10
    assert c.classes == ["NC", "AD"] and np.array_equal(c.y, np.concatenate([y_tr, y_te]))
    assert np.allclose(c.matrix("meth"), np.vstack(data[2]), atol=1e-6)
    assert c.modality("rna").var["gene"].str.startswith("ENSG").all()  # versions stripped
    assert c.modality("meth").var["gene"].isna().all()  # not mapped
    assert list(c.modality("meth").var_names[:1]) == ["cg00000000"]
    default = read_mogonet(tmp_path / "m")
    assert default.modalities == ["view1", "view2"] and default.classes == [0, 1]


def test_mogonet_bad_folders(tmp_path):
    write_mogonet(tmp_path / "m")
    with pytest.raises(DataError, match=r"MOGONET folder .*absent not found"):
        read_mogonet(tmp_path / "absent")
    lines = (tmp_path / "m" / "2_te.csv").read_text().splitlines()
    (tmp_path / "m" / "2_te.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match=r"2_te\.csv: 9 rows but labels_te\.csv has 10"):
        read_mogonet(tmp_path / "m")
    (tmp_path / "m" / "2_te.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m" / "1_featname.csv").write_text("a\nb\n")
    with pytest.raises(DataError, match=r"1_featname\.csv: 2 feature names but .* 5 columns"):
        read_mogonet(tmp_path / "m")
    (tmp_path / "m" / "1_featname.csv").unlink()
    (tmp_path / "m" / "labels_tr.csv").unlink()
    with pytest.raises(DataError, match=r"MOGONET file .*labels_tr\.csv not found"):
        read_mogonet(tmp_path / "m")


def test_mogonet_label_codes_need_names(tmp_path):
    write_mogonet(tmp_path / "m")
    with pytest.raises(DataError, match=r"label code 1 has no name in classes \['only'\]"):
        read_mogonet(tmp_path / "m", classes=["only"])


def test_rosmap_from_the_data_root(rosmap):
    genemap = data_root() / "genemap" / "ensembl-gene-index.csv.gz"
    c = read_mogonet(
        rosmap,
        views=[
            MogonetView(1, "mrna", genes=GeneMapping(table=genemap)),
            MogonetView(2, "methylation"),
            MogonetView(3, "mirna"),
        ],
        classes=["NC", "AD"],
    )
    assert c.n_patients == 351 and c.modalities == ["mrna", "methylation", "mirna"]
    split = c.obs["split"]
    assert split.value_counts().to_dict() == {"train": 245, "test": 106}
    assert c.obs.loc[split == "train", "label"].value_counts().to_dict() == {"AD": 127, "NC": 118}
    assert c.obs.loc[split == "test", "label"].value_counts().to_dict() == {"AD": 55, "NC": 51}
    genes = c.modality("mrna").var["gene"]
    assert genes.notna().all()  # every Ensembl ID maps, as the genemap README says
    assert genes["ENSG00000161896.6"] == "IP6K3"
    assert c.availability.all().all()
