"""Per-patient tables and the labels table: formats, patient IDs, targets, splits.

CSV/TSV (optionally compressed) and Parquet tables with one row per patient and a named
ID column, or the ``obs`` of an ``.h5ad``/``.h5mu`` file. IDs are read as text and must
be unique; errors name the file, the column and the patient.
"""

from __future__ import annotations

import csv
import gzip
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.errors import DataError

__all__ = ["SPLIT_COLUMN", "read_labels", "read_table"]

#: ``obs`` column holding a published split (``"train"`` / ``"test"``).
SPLIT_COLUMN = "split"

_COMPRESSION = {".gz", ".bz2", ".xz", ".zip", ".zst"}
_TABLES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
_PARQUET = {".parquet", ".pq"}


def _suffix(path: Path) -> str:
    """The format suffix, ignoring a compression suffix (``x.csv.gz`` -> ``.csv``)."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise DataError(f"{what}: file {path} not found{hint}")


def _examples(ids: Sequence[Any] | pd.Index, n: int = 5) -> list[str]:
    return [str(i) for i in list(ids)[:n]]


# --------------------------------------------------------------------------- tables


def read_table(
    path: str | Path,
    *,
    id_column: str | None,
    na_values: Sequence[str] = (),
    what: str = "table",
) -> pd.DataFrame:
    """Read a per-patient table: CSV/TSV, Parquet, or the ``obs`` of ``.h5ad``/``.h5mu``.

    Parameters
    ----------
    path
        The file. CSV (``.csv``) and TSV (``.tsv``, ``.tab``, ``.txt``), optionally
        compressed (``.gz``, ...); Parquet (``.parquet``, ``.pq``); ``.h5ad`` / ``.h5mu``
        (their ``obs``).
    id_column
        Column holding the patient IDs; read as text, so ``"007"`` stays ``"007"``.
        ``None`` uses the ``obs_names`` of AnnData/MuData files.
    na_values
        Extra strings read as missing (pandas' defaults such as ``NA`` and empty always are).
    what
        What the table is, for messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient ID (text), the ID column removed.

    Raises
    ------
    DataError
        Missing file, unknown format, missing ID column, missing or duplicated IDs,
        duplicated column names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = p.write_text("pid,dx\\n007,AD\\n008,CN\\n")
    >>> read_table(p, id_column="pid").to_dict()
    {'dx': {'007': 'AD', '008': 'CN'}}
    """
    path = Path(path)
    _require_file(path, what)
    fmt = _suffix(path)
    where = f"{what} {path}"
    if fmt in _TABLES:
        sep = _TABLES[fmt]
        _check_header(path, sep, where)
        dtype = {id_column: str} if id_column else None
        try:
            df = pd.read_csv(
                path, sep=sep, dtype=dtype, na_values=list(na_values), low_memory=False
            )
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(
                f"{where}: cannot be read as a {fmt[1:].upper()} table: {exc}"
            ) from None
    elif fmt in _PARQUET:
        df = _read_parquet(path, where)
        if na_values:
            df = df.replace(list(na_values), np.nan)
    elif fmt in (".h5ad", ".h5mu"):
        df = (ad.read_h5ad(path) if fmt == ".h5ad" else _read_h5mu(path)).obs.copy()
        if id_column is None:
            df.index = df.index.astype(str)
            return df
    else:
        raise DataError(
            f"{where}: unknown format {path.suffix!r}; expected .csv, .tsv, .parquet, "
            ".h5ad or .h5mu (optionally compressed: .csv.gz)"
        )
    if id_column is None:
        raise DataError(f"{where}: no ID column given (id_column) for a {fmt} table")
    return _index_by_id(df, id_column, where)


def _check_header(path: Path, sep: str, where: str) -> None:
    """Duplicated column names (pandas would rename them silently)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh, delimiter=sep), [])
    except (OSError, UnicodeDecodeError):
        return  # pandas reports what it cannot read
    seen: set[str] = set()
    dups = {h for h in header if h in seen or seen.add(h)}  # type: ignore[func-returns-value]
    if dups:
        raise DataError(f"{where}: duplicated column name(s) {sorted(dups)[:5]}")


def _read_parquet(path: Path, where: str) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow ships with graphfuse's dependencies
        raise ImportError(f"{where}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"{where}: cannot be read as Parquet: {exc}") from None


def _read_h5mu(path: Path) -> Any:
    import mudata as md

    return md.read_h5mu(str(path))


def _index_by_id(df: pd.DataFrame, id_column: str, where: str) -> pd.DataFrame:
    if id_column not in df.columns:
        cols = [str(c) for c in df.columns]
        more = f" ... ({len(cols)} in all)" if len(cols) > 10 else ""
        raise DataError(f"{where}: ID column {id_column!r} not found; columns: {cols[:10]}{more}")
    ids = df[id_column]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(
            f"{where}, column {id_column!r}: {int(ids.isna().sum())} row(s) have no patient "
            f"ID, first at data row {row + 1}; expected an ID on every row"
        )
    ids = ids.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    ids = ids.str.strip()
    blank = (ids == "").to_numpy()
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DataError(
            f"{where}, column {id_column!r}: {int(blank.sum())} row(s) have a blank patient ID "
            f"(empty or only spaces), first at data row {row + 1}; expected an ID on every row"
        )
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise DataError(
            f"{where}, column {id_column!r}: duplicated patient ID(s) {_examples(dup)} "
            f"({len(dup)} in all); expected one row per patient"
        )
    out = df.drop(columns=[id_column])
    out.index = pd.Index(ids.to_numpy(), name=id_column)
    return out


# --------------------------------------------------------------------------- labels


def read_labels(
    path: str | Path,
    *,
    id_column: str | None,
    target: str,
    classes: Sequence[Any] | None = None,
    split_column: str | None = None,
    na_values: Sequence[str] = (),
) -> pd.DataFrame:
    """Read the labels table: patient ID, target and optionally a published split.

    Parameters
    ----------
    path
        CSV/TSV/Parquet table, or an ``.h5ad``/``.h5mu`` file's ``obs``.
    id_column
        Patient ID column (``None``: ``obs_names`` of AnnData/MuData files).
    target
        Column holding the class of each patient.
    classes
        The classes in code order (for binary targets the second is the positive
        class of F1 and ROC AUC); values outside them are an error. Default: the values
        found, sorted.
    split_column
        Column holding a published split, ``train`` or ``test`` per patient; copied
        to the result's ``split`` column.
    na_values
        Extra strings read as missing.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient ID; column ``target`` (categorical when ``classes`` is
        given) and, with ``split_column``, ``split``.

    Warns
    -----
    UserWarning
        Patients without a label are left out (says how many).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.tsv"
    >>> _ = p.write_text("pid\\tdx\\nA\\tAD\\nB\\tCN\\n")
    >>> read_labels(p, id_column="pid", target="dx", classes=["CN", "AD"])["dx"].cat.codes.tolist()
    [1, 0]
    """
    path = Path(path)
    table = read_table(path, id_column=id_column, na_values=na_values, what="labels table")
    where = f"labels table {path}"
    for col, key in ((target, "target"), (split_column, "split_column")):
        if col is not None and col not in table.columns:
            raise DataError(
                f"{where}: {key} column {col!r} not found; columns: {list(table.columns)[:20]}"
            )
    labels = table[target]
    missing = labels.isna()
    if missing.all():
        raise DataError(f"{where}, column {target!r}: no patient has a label")
    if missing.any():
        warnings.warn(
            f"{where}, column {target!r}: {int(missing.sum())} of {len(labels)} patient(s) "
            f"have no label and are left out, e.g. {_examples(labels.index[missing])}",
            UserWarning,
            stacklevel=2,
        )
        table, labels = table[~missing], labels[~missing]
    labels = _tidy_labels(labels)
    if classes is not None:
        names = [_label_text(c) for c in classes]
        if len(set(names)) != len(names):
            raise DataError(f"{where}: classes {list(classes)} has duplicates")
        text = labels.map(_label_text)
        outside = ~text.isin(names)
        if outside.any():
            pid = text.index[outside.to_numpy()][0]
            raise DataError(
                f"{where}, column {target!r}, patient {pid!r}: label {text[pid]!r} is not one "
                f"of the classes {names}"
            )
        labels = pd.Series(pd.Categorical(text, categories=names), index=labels.index)
        empty = [c for c in names if not (text == c).any()]
        if empty:
            raise DataError(
                f"{where}, column {target!r}: class(es) {empty} of the declared classes {names} "
                f"have no patient (the labels present: {sorted(set(text))}); a declared class "
                "must have patients — remove it from classes"
            )
    out = pd.DataFrame({target: labels}, index=table.index)
    if labels.nunique() < 2:
        raise DataError(
            f"{where}, column {target!r}: one class only ({labels.iloc[0]!r}); a classifier "
            "needs patients of at least two classes"
        )
    if split_column is not None:
        out[SPLIT_COLUMN] = _split_values(table[split_column], f"{where}, column {split_column!r}")
    return out


def _label_text(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _tidy_labels(labels: pd.Series) -> pd.Series:
    """Whole-number floats (``1.0``, as read next to gaps) become integers."""
    if pd.api.types.is_float_dtype(labels) and np.all(np.mod(labels.to_numpy(), 1) == 0):
        return labels.astype(np.int64)
    return labels


def _split_values(s: pd.Series, where: str) -> pd.Series:
    text = s.map(lambda v: str(v).strip().lower() if pd.notna(v) else None)
    bad = ~text.isin(["train", "test"])
    if bad.any():
        pid = text.index[bad.to_numpy()][0]
        raise DataError(
            f"{where}, patient {pid!r}: split is {s[pid]!r}; expected 'train' or 'test' "
            "on every row"
        )
    return text.astype(str)
