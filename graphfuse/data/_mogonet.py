"""Read a cohort in MOGONET's folder layout, keeping its published train/test split.

MOGONET (Wang et al., Nat. Commun. 12:3445, 2021, doi:10.1038/s41467-021-23774-w)
distributes each cohort as a folder of headerless CSV files::

    1_tr.csv  1_te.csv  1_featname.csv      view 1: training rows, test rows, feature names
    2_tr.csv  2_te.csv  2_featname.csv      view 2 ...
    labels_tr.csv  labels_te.csv            one integer class per row

Rows align by position across views and the label files; there are no patient IDs.
Patients are named ``tr_0000``, ``tr_0001``, ... and ``te_0000``, ...; the split goes to
``obs["split"]`` (``"train"``/``"test"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.data._cohort import Cohort
from graphfuse.data._genes import GeneMapping, gene_column
from graphfuse.data._readers import _check_values, _numeric
from graphfuse.data._tables import _UNREADABLE, SPLIT_COLUMN, _require_file, _unreadable
from graphfuse.errors import DataError

__all__ = ["MogonetView", "read_mogonet"]

_VIEW_FILE = re.compile(r"^(\d+)_tr\.csv$")


@dataclass(frozen=True)
class MogonetView:
    """One view of a MOGONET folder: files ``<view>_tr.csv`` etc., read as a modality.

    Parameters
    ----------
    view
        The view number (the files' prefix).
    name
        The modality's name in the cohort.
    kind
        Modality kind.
    genes
        Omics: how features map to gene symbols; ``None``: not mapped.

    Examples
    --------
    >>> mrna = MogonetView(1, "mrna", genes=GeneMapping(table="ensembl-gene-index.csv.gz"))
    >>> mrna.kind, mrna.genes.strip_version
    ('omics', True)
    """

    view: int
    name: str
    kind: Literal["omics", "imaging", "clinical"] = "omics"
    genes: GeneMapping | None = None


def read_mogonet(
    folder: str | Path,
    *,
    views: Sequence[MogonetView] | None = None,
    classes: Sequence[str] | None = None,
    target: str = "label",
) -> Cohort:
    """Read a MOGONET-layout folder into a :class:`Cohort` with its published split.

    Parameters
    ----------
    folder
        The folder holding ``1_tr.csv``, ``1_te.csv``, ``1_featname.csv``, ...,
        ``labels_tr.csv``, ``labels_te.csv``.
    views
        Which views to read, as which modalities. Default: every view found, named
        ``view1``, ``view2``, ..., kind ``omics``, features not mapped to genes.
    classes
        Names of the label codes ``0, 1, ...`` in order (e.g. ``["NC", "AD"]`` for
        ROSMAP); the target becomes categorical with that order, so for a binary target
        the second is the positive class. Default: the integer codes.
    target
        Name of the label column in ``obs``.

    Returns
    -------
    Cohort
        Patients ``tr_0000``, ... then ``te_0000``, ...; ``obs[target]`` and
        ``obs["split"]``; ``uns["mogonet"]`` records the folder and views.

    Raises
    ------
    DataError
        Missing files, row counts that differ between a view and its labels, a feature
        name count that differs from the columns, text, NaN or infinite values, label
        codes outside ``classes``.

    Examples
    --------
    >>> from graphfuse.data import data_root
    >>> rosmap = data_root() / "mogonet/ROSMAP"  # see data/README.md
    >>> cohort = read_mogonet(rosmap, classes=["NC", "AD"])  # doctest: +SKIP
    >>> cohort.obs["split"].value_counts().to_dict()  # doctest: +SKIP
    {'train': 245, 'test': 106}
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"MOGONET folder {folder} not found")
    views = _views(folder, views)
    y_tr = _labels(folder / "labels_tr.csv")
    y_te = _labels(folder / "labels_te.csv")
    patients = pd.Index(
        [f"tr_{i:04d}" for i in range(len(y_tr))] + [f"te_{i:04d}" for i in range(len(y_te))]
    )
    y = np.concatenate([y_tr, y_te])
    mods = {view.name: _read_view(folder, view, patients, len(y_tr), len(y_te)) for view in views}
    obs = pd.DataFrame(
        {
            target: _label_column(folder, y, classes),
            SPLIT_COLUMN: ["train"] * len(y_tr) + ["test"] * len(y_te),
        },
        index=patients,
    )
    if len(np.unique(y_tr)) < 2:
        raise DataError(
            f"MOGONET folder {folder}: labels_tr.csv holds one class only; a classifier needs two"
        )
    uns = {
        "mogonet": {
            "folder": str(folder),
            "views": {v.name: int(v.view) for v in views},
        }
    }
    return Cohort.from_modalities(
        mods, obs, kinds={v.name: v.kind for v in views}, target=target, uns=uns
    )


def _views(folder: Path, views: Sequence[MogonetView] | None) -> Sequence[MogonetView]:
    """The views to read: those given (names checked unique), else every view file found."""
    if views is None:
        found = sorted(int(m.group(1)) for f in folder.iterdir() if (m := _VIEW_FILE.match(f.name)))
        if not found:
            raise DataError(f"MOGONET folder {folder}: no view files (1_tr.csv, ...) found")
        views = [MogonetView(v, f"view{v}") for v in found]
    names = [v.name for v in views]
    if len(set(names)) != len(names):
        raise DataError(f"MOGONET folder {folder}: modality names {names} are not unique")
    return views


def _read_view(
    folder: Path, view: MogonetView, patients: pd.Index, n_train: int, n_test: int
) -> ad.AnnData:
    """One view as a modality: its training rows then its test rows, features named by
    ``<view>_featname.csv``, values checked, ``var`` by kind (genes for omics)."""
    train = _table(folder, view, "tr", n_train)
    features = _featnames(folder, view, train.shape[1])
    test = _table(folder, view, "te", n_test)
    if test.shape[1] != train.shape[1]:
        raise DataError(
            f"{folder / f'{view.view}_te.csv'}: {test.shape[1]} columns but "
            f"{view.view}_tr.csv has {train.shape[1]}; expected the same features"
        )
    x = np.vstack(
        [
            _values(t, features, folder / f"{view.view}_{s}.csv", view)
            for t, s in ((train, "tr"), (test, "te"))
        ]
    )
    where = f"modality {view.name!r} (MOGONET view {view.view}, {folder})"
    _check_values(x, patients, features, view.kind, where)
    var = pd.DataFrame(index=features)
    if view.kind == "omics":
        var["gene"] = gene_column(view.genes, features, where=where)
    elif view.kind == "clinical":
        var["type"] = "numeric"
        var["categories"] = ""
    adata = ad.AnnData(X=x, obs=pd.DataFrame(index=patients), var=var)
    adata.uns["source"] = str(folder)
    return adata


def _label_column(
    folder: Path, y: np.ndarray, classes: Sequence[str] | None
) -> pd.Categorical | np.ndarray:
    """The label codes, categorical with ``classes`` as names where given."""
    if classes is None:
        return y
    bad = y[(y < 0) | (y >= len(classes))]
    if len(bad):
        raise DataError(
            f"MOGONET folder {folder}: label code {int(bad[0])} has no name in classes "
            f"{list(classes)} (codes 0..{len(classes) - 1})"
        )
    return pd.Categorical.from_codes(y, categories=list(classes))


def _csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"MOGONET file {path} not found")
    _require_file(path, "MOGONET file")
    try:
        return pd.read_csv(path, header=None, sep=",")
    except pd.errors.EmptyDataError:
        raise DataError(f"MOGONET file {path} is empty") from None
    except _UNREADABLE as exc:
        raise _unreadable(path, f"MOGONET file {path}", "a CSV table", exc) from exc


def _labels(path: Path) -> np.ndarray:
    table = _csv(path)
    if table.shape[1] != 1:
        raise DataError(f"{path}: {table.shape[1]} columns; expected one label per row")
    raw = table.iloc[:, 0]
    values = pd.to_numeric(raw, errors="coerce").to_numpy()
    bad = np.isnan(values) | (np.mod(np.nan_to_num(values), 1) != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}, row {row + 1}: label {raw.iloc[row]!r}; expected an integer class code"
        )
    return values.astype(np.int64)


def _table(folder: Path, view: MogonetView, split: str, n: int) -> pd.DataFrame:
    path = folder / f"{view.view}_{split}.csv"
    table = _csv(path)
    if len(table) != n:
        raise DataError(
            f"{path}: {len(table)} rows but labels_{split}.csv has {n}; rows must align by "
            "position across a MOGONET folder's files"
        )
    table.index = [f"{split}_{i:04d}" for i in range(len(table))]
    return table


def _values(table: pd.DataFrame, features: pd.Index, path: Path, view: MogonetView) -> np.ndarray:
    table.columns = features
    return _numeric(table, f"modality {view.name!r} ({path})")


def _featnames(folder: Path, view: MogonetView, n: int) -> pd.Index:
    path = folder / f"{view.view}_featname.csv"
    if not path.is_file():
        return pd.Index([f"{view.name}_{i:04d}" for i in range(n)])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, f"MOGONET file {path}", "feature names", exc) from exc
    names = [line.strip().strip('"') for line in text.splitlines()]
    names = [x for x in names if x]
    if len(names) != n:
        raise DataError(f"{path}: {len(names)} feature names but the view's files have {n} columns")
    index = pd.Index(names)
    if index.has_duplicates:
        raise DataError(f"{path}: duplicated feature names {list(index[index.duplicated()][:5])}")
    return index
