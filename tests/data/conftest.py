"""Tiny cohorts written as the user's files (tables, AnnData, MOGONET folders) to tmp_path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphfuse.data import data_root

N = 40  # patients
GENES = ["APOE", "APP", "PSEN1", "MAPT", "TREM2", "CLU"]
ENSEMBL = [f"ENSG{i:011d}" for i in range(1, len(GENES) + 1)]


@dataclass
class Files:
    """Paths of a tiny cohort's files and the values written to them."""

    root: Path
    labels: Path
    rna: Path
    clinical: Path
    imaging: Path
    genemap: Path
    ids: list[str]
    y: np.ndarray
    x_rna: np.ndarray
    x_img: np.ndarray
    img_ids: list[str]


def write_labels(path: Path, ids: list[str], dx: list[str], split: list[str] | None = None):
    table = pd.DataFrame({"pid": ids, "dx": dx})
    if split is not None:
        table["split"] = split
    table.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """40 patients: labels (with a split), rna (Ensembl IDs), clinical (mixed), imaging.

    IDs are zero-padded text (``P007``) so that reading them as numbers would show. Imaging
    lacks the last 8 patients.
    """
    rng = np.random.default_rng(0)
    ids = [f"P{i:03d}" for i in range(N)]
    y = np.array([0, 1] * (N // 2))
    dx = np.where(y == 1, "AD", "CN").tolist()
    split = ["train"] * 30 + ["test"] * 10
    labels = tmp_path / "labels.csv"
    write_labels(labels, ids, dx, split)

    x_rna = rng.normal(size=(N, len(GENES))) + y[:, None]
    cols = [f"{e}.{v}" for e, v in zip(ENSEMBL, range(2, 8), strict=True)]  # version suffixes
    rna = tmp_path / "rna.csv"
    pd.DataFrame(x_rna, columns=cols).assign(pid=ids)[["pid", *cols]].to_csv(rna, index=False)

    clin = pd.DataFrame(
        {
            "pid": ids,
            "age": rng.normal(75, 5, N).round(1),
            "sex": rng.choice(["F", "M"], N),
            "apoe4": rng.integers(0, 3, N),
            "site": rng.choice(["rush", "mayo", "msbb"], N),
            "smoker": rng.integers(0, 2, N),
        }
    )
    clin.loc[3, "age"] = np.nan
    clin.loc[5, "site"] = None
    clinical = tmp_path / "clinical.csv"
    clin.to_csv(clinical, index=False)

    img_ids = ids[:-8]
    x_img = rng.normal(size=(len(img_ids), 4)).astype(np.float32)
    imaging = tmp_path / "imaging.parquet"
    pd.DataFrame({"pid": img_ids, "embedding": list(x_img)}).to_parquet(imaging)

    genemap = tmp_path / "genemap.csv"
    pd.DataFrame({"ensembl_gene_id": ENSEMBL, "symbol": GENES}).to_csv(genemap, index=False)
    return Files(tmp_path, labels, rna, clinical, imaging, genemap, ids, y, x_rna, x_img, img_ids)


def write_mogonet(folder: Path, *, n_tr: int = 24, n_te: int = 10, views: int = 2, p: int = 5):
    """A MOGONET-layout folder: headerless ``%.18e`` CSVs, rows aligned by position."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    y_tr = np.array([0, 1] * (n_tr // 2))
    y_te = np.array([0, 1] * (n_te // 2))
    np.savetxt(folder / "labels_tr.csv", y_tr.astype(float), fmt="%.18e", delimiter=",")
    np.savetxt(folder / "labels_te.csv", y_te.astype(float), fmt="%.18e", delimiter=",")
    data = {}
    for v in range(1, views + 1):
        x_tr = rng.random((n_tr, p)) + 0.3 * y_tr[:, None]
        x_te = rng.random((n_te, p)) + 0.3 * y_te[:, None]
        np.savetxt(folder / f"{v}_tr.csv", x_tr, fmt="%.18e", delimiter=",")
        np.savetxt(folder / f"{v}_te.csv", x_te, fmt="%.18e", delimiter=",")
        names = (
            [f"{e}.{i}" for i, e in enumerate(ENSEMBL[:p])]
            if v == 1
            else [f"cg{i:08d}" for i in range(p)]
        )
        (folder / f"{v}_featname.csv").write_text("\n".join(names) + "\n")
        data[v] = (x_tr, x_te)
    return y_tr, y_te, data


@pytest.fixture
def rosmap() -> Path:
    """The shared ROSMAP folder; skips when the data root lacks it."""
    folder = data_root() / "mogonet" / "ROSMAP"
    if not (folder / "labels_tr.csv").is_file():
        pytest.skip(
            f"shared data absent: {folder} not found (set GRAPHFUSE_DATA to the data root "
            "holding mogonet/ROSMAP)"
        )
    return folder
