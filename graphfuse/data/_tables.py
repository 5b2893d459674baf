"""Per-patient tables and the labels table: formats, patient IDs, targets, splits.

CSV/TSV (optionally compressed) and Parquet tables with one row per patient and a named
ID column, or the ``obs`` of an ``.h5ad``/``.h5mu`` file. IDs are read as text, normalised
to Unicode NFC (so an ID typed as ``e`` + combining accent matches one typed as ``é``) and
must be unique; errors name the file, the column and the patient. A file that cannot be
read (empty, truncated, corrupt, not the format its name says) is a :class:`DataError`
naming it and the cause, whichever library failed underneath.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import unicodedata
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.errors import DataError

__all__ = ["SPLIT_COLUMN", "labels_from_table", "read_label_tables", "read_labels", "read_table"]

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


def _require_file(path: Path, what: str, *, content: bool = True) -> None:
    """The file exists and (with ``content``) can be opened and is not empty."""
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise DataError(f"{what}: file {path} not found{hint}")
    if not content:
        return
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise DataError(f"{what}: file {path} cannot be opened: {exc.strerror or exc}") from exc
    if size == 0:
        raise DataError(f"{what}: file {path} is empty (0 bytes)")


def _compression(path: Path) -> str | None:
    """The compression suffix of ``path`` (``.gz``, ...), if any."""
    suffix = path.suffix.lower()
    return suffix if suffix in _COMPRESSION else None


#: What reading a corrupt, truncated or mislabelled file raises underneath.
_UNREADABLE = (
    OSError,  # includes gzip.BadGzipFile, PermissionError
    EOFError,  # a truncated .gz / .bz2 / .xz
    zipfile.BadZipFile,
    lzma.LZMAError,
    UnicodeDecodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    ValueError,  # e.g. a .zip holding several files
)


def read_csv_file(path: Path, what: str, **options: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **options)`` of a file that is not a patient table (a gene map,
    an interaction list); a missing, empty, truncated or corrupt file is a
    :class:`DataError` naming it (``what``: e.g. ``"gene mapping table"``). Without
    ``sep``, the separator follows the suffix as for patient tables (``.tsv``, ``.tab``,
    ``.txt``: tab, also compressed; else comma)."""
    _require_file(path, what)
    options.setdefault("sep", _TABLES.get(_suffix(path), ","))
    try:
        return pd.read_csv(path, **options)
    except _UNREADABLE as exc:
        raise _unreadable(path, f"{what} {path}", "a CSV table", exc) from exc


def _unreadable(path: Path, where: str, what: str, exc: BaseException) -> DataError:
    """The error for a file that ``what`` cannot read, naming the cause."""
    comp = _compression(path)
    if isinstance(exc, UnicodeDecodeError):
        cause = f"it is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8"
        if comp is None:
            cause += " (or, if it is compressed, name it with its suffix: .gz, .zip, ...)"
    elif isinstance(exc, EOFError):
        cause = "it ends early (truncated: was it copied or downloaded completely?)"
    elif comp is not None and isinstance(
        exc, (gzip.BadGzipFile, zipfile.BadZipFile, lzma.LZMAError, OSError)
    ):
        cause = f"it is not a valid {comp} file ({exc}); corrupt, or named for another format"
    elif isinstance(exc, pd.errors.EmptyDataError):
        cause = "it holds no header line"
    else:
        cause = str(exc) or type(exc).__name__
    return DataError(f"{where}: cannot be read as {what}: {cause}")


def _nfc(ids: pd.Index, where: str) -> pd.Index:
    """IDs in Unicode NFC; two IDs that differ only in normalisation are an error."""
    text = [str(i) for i in ids]
    normal = [unicodedata.normalize("NFC", t) for t in text]
    if normal == text:
        return pd.Index(text, name=ids.name)
    first: dict[str, str] = {}
    for raw, norm in zip(text, normal, strict=True):
        if norm in first and first[norm] != raw:
            raise DataError(
                f"{where}: patient IDs {first[norm]!r} ({_codepoints(first[norm])}) and {raw!r} "
                f"({_codepoints(raw)}) differ only in how their accented letters are encoded "
                "(Unicode NFC vs NFD) and name the same patient once normalised; expected one "
                "row per patient"
            )
        first.setdefault(norm, raw)
    return pd.Index(normal, name=ids.name)


def _codepoints(text: str, n: int = 16) -> str:
    """``'Jos' + 'e' + U+0301`` -> ``'U+004A U+006F U+0073 U+0065 U+0301'``."""
    more = " ..." if len(text) > n else ""
    return " ".join(f"U+{ord(ch):04X}" for ch in text[:n]) + more


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
        Missing, empty, unreadable or corrupt file (naming the cause), unknown format,
        missing ID column, missing or duplicated IDs, duplicated column names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = p.write_text("pid,dx\\n007,AD\\n008,CN\\n")
    >>> read_table(p, id_column="pid").to_dict()
    {'dx': {'007': 'AD', '008': 'CN'}}
    """
    path = Path(path)
    _require_file(path, what, content=False)
    fmt = _suffix(path)
    where = f"{what} {path}"
    if fmt in _TABLES or fmt in _PARQUET or fmt in (".h5ad", ".h5mu"):
        _require_file(path, what)
    if fmt in _TABLES:
        sep = _TABLES[fmt]
        _check_header(path, sep, where)
        dtype = {id_column: str} if id_column else None
        try:
            df = pd.read_csv(
                path, sep=sep, dtype=dtype, na_values=list(na_values), low_memory=False
            )
        except ImportError as exc:  # pandas' optional codecs (.zst: zstandard)
            raise DataError(
                f"{where}: reading a {_compression(path)} file needs an optional package: {exc}"
            ) from exc
        except _UNREADABLE as exc:
            raise _unreadable(path, where, f"a {fmt[1:].upper()} table", exc) from exc
    elif fmt in _PARQUET:
        df = _read_parquet(path, where)
        if na_values:
            df = df.replace(list(na_values), np.nan)
    elif fmt in (".h5ad", ".h5mu"):
        df = (_read_h5ad(path, where) if fmt == ".h5ad" else _read_h5mu(path, where)).obs.copy()
        if id_column is None:
            df.index = _nfc(df.index.astype(str).str.strip(), where)
            return df
    else:
        raise DataError(
            f"{where}: unknown format {path.suffix!r}; expected .csv, .tsv, .parquet, "
            ".h5ad or .h5mu (optionally compressed: .csv.gz)"
        )
    if id_column is None:
        raise DataError(f"{where}: no ID column given (id_column) for a {fmt} table")
    return _index_by_id(df, id_column, where)


def _no_rows(df: pd.DataFrame, where: str) -> None:
    if len(df) == 0:
        cols = [str(c) for c in df.columns][:10]
        raise DataError(
            f"{where}: no data row (only a header: columns {cols}); expected one row per patient"
        )


def _check_header(path: Path, sep: str, where: str) -> None:
    """Duplicated column names (pandas would rename them silently)."""
    comp = _compression(path)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(comp or "", open)
    if comp in (".zip", ".zst"):
        return  # pandas reads (and reports) these
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh, delimiter=sep), [])
    except _UNREADABLE as exc:
        kind = "a CSV table" if sep == "," else "a TSV table"
        raise _unreadable(path, where, kind, exc) from exc
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
        raise DataError(f"{where}: cannot be read as Parquet: {exc}") from exc


def _read_h5ad(path: Path, where: str) -> ad.AnnData:
    """``anndata.read_h5ad``; a truncated or non-HDF5 file is a :class:`DataError`."""
    try:
        return ad.read_h5ad(path)
    except Exception as exc:  # h5py / anndata raise OSError, KeyError, ValueError, ...
        raise DataError(f"{where}: cannot be read as AnnData (.h5ad): {_h5_cause(exc)}") from exc


def _read_h5mu(path: Path, where: str | None = None) -> Any:
    """``mudata.read_h5mu``; a truncated or non-HDF5 file is a :class:`DataError`."""
    import mudata as md

    try:
        return md.read_h5mu(str(path))
    except Exception as exc:  # h5py / mudata raise OSError, KeyError, ValueError, ...
        raise DataError(
            f"{where or path}: cannot be read as MuData (.h5mu): {_h5_cause(exc)}"
        ) from exc


def _h5_cause(exc: BaseException) -> str:
    text = str(exc)
    if "truncated file" in text:
        return f"the file is truncated (was it copied completely?) [{text}]"
    if "signature not found" in text or "not an HDF5 file" in text:
        return f"it is not an HDF5 file [{text}]"
    return text or type(exc).__name__


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
    ids = pd.Series(_nfc(pd.Index(ids), f"{where}, column {id_column!r}"), index=ids.index)
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

    Raises
    ------
    DataError
        Besides the file errors of :func:`read_table`: a target that looks continuous
        (most of its distinct values on fewer than 3 patients, and numbers with
        fractions or more than 20 values), a label outside ``classes``, a declared class
        without patients, one class only.

    Warns
    -----
    UserWarning
        Patients without a label are left out (says how many). Text labels are read
        without leading and trailing spaces; where that merges labels that differ only
        by spaces (``"AD "`` and ``"AD"``), a warning names them.

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
    return labels_from_table(
        table,
        where=f"labels table {path}",
        target=target,
        classes=classes,
        split_column=split_column,
    )


def read_label_tables(
    files: Sequence[tuple[str | Path, str | None]],
    *,
    id_column: str | None,
    na_values: Sequence[str] = (),
) -> pd.DataFrame:
    """Several labels tables with disjoint patients, stacked into one table.

    Parameters
    ----------
    files
        ``(path, split)`` per table; ``split`` (``"train"``/``"test"``, or ``None``) is
        written to every row of that table's patients in the column :data:`SPLIT_COLUMN`
        (all splits given, or none).
    id_column, na_values
        As for :func:`read_table`.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient ID, the tables' columns (a column some tables lack is missing
        for their patients) and, with splits, :data:`SPLIT_COLUMN`.

    Raises
    ------
    DataError
        Besides :func:`read_table`'s: a patient in two tables (naming both and the
        patients), a table that already has a ``split`` column when splits are given.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "tr.csv").write_text("pid,dx\\nA,AD\\nB,CN\\n")
    >>> _ = (d / "te.csv").write_text("pid,dx\\nC,AD\\n")
    >>> t = read_label_tables([(d / "tr.csv", "train"), (d / "te.csv", "test")], id_column="pid")
    >>> t["split"].to_dict()
    {'A': 'train', 'B': 'train', 'C': 'test'}
    """
    splits = {split for _, split in files}
    if None in splits and len(splits) > 1:
        raise ValueError("give a split for every labels table, or for none")
    frames: list[pd.DataFrame] = []
    owner: dict[str, Path] = {}
    for path, split in files:
        path = Path(path)
        table = read_table(path, id_column=id_column, na_values=na_values, what="labels table")
        _no_rows(table, f"labels table {path}")
        seen = [pid for pid in table.index if pid in owner]
        if seen:
            first = owner[seen[0]]
            raise DataError(
                f"labels table {path}: {len(seen)} patient(s) are also in the labels table "
                f"{first}, e.g. {_examples(seen)}; the tables must hold disjoint patients "
                "(one row per patient across all of them)"
            )
        owner.update(dict.fromkeys(table.index, path))
        if split is not None:
            if SPLIT_COLUMN in table.columns:
                raise DataError(
                    f"labels table {path}: has a column {SPLIT_COLUMN!r}, but its split is "
                    f"given by the file ({split!r}); rename or drop the column"
                )
            table = table.assign(**{SPLIT_COLUMN: split})
        frames.append(table)
    return frames[0] if len(frames) == 1 else pd.concat(frames, axis=0, join="outer")


def labels_from_table(
    table: pd.DataFrame,
    *,
    where: str,
    target: str,
    classes: Sequence[Any] | None = None,
    split_column: str | None = None,
) -> pd.DataFrame:
    """The labels of a labels table already read (:func:`read_table`): see
    :func:`read_labels`, whose checks, warnings and result this shares; ``where`` names the
    table(s) in messages."""
    _no_rows(table, where)
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
    labels = _strip_labels(labels, f"{where}, column {target!r}")
    _refuse_continuous(labels, f"{where}, column {target!r}", declared=classes is not None)
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


def _strip_labels(labels: pd.Series, where: str) -> pd.Series:
    """Text labels without surrounding spaces; a warning names labels that merge."""
    if not (pd.api.types.is_object_dtype(labels) or pd.api.types.is_string_dtype(labels)):
        return labels
    raw = labels.astype(object)
    stripped = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
    changed = raw[stripped != raw]
    if changed.empty:
        return labels
    merged: dict[str, list[str]] = {}
    for value in pd.unique(raw.dropna()):
        key = value.strip() if isinstance(value, str) else value
        merged.setdefault(key, []).append(value)
    pairs = {k: v for k, v in merged.items() if len(v) > 1}
    if pairs:
        shown = "; ".join(
            " and ".join(repr(v) for v in values) + f" -> {key!r}"
            for key, values in list(pairs.items())[:5]
        )
        warnings.warn(
            f"{where}: labels that differ only by leading/trailing spaces are read as one "
            f"class: {shown} ({len(changed)} patient(s) had spaces, e.g. "
            f"{_examples(changed.index)}); fix the table if they are meant to differ",
            UserWarning,
            stacklevel=3,
        )
    if isinstance(labels.dtype, pd.CategoricalDtype):  # keep the categories' order
        order = [c.strip() if isinstance(c, str) else c for c in labels.cat.categories]
        order = list(dict.fromkeys(order))
        return pd.Series(pd.Categorical(stripped, categories=order), index=labels.index)
    return stripped


#: A target with more distinct values than this, most of them on fewer than
#: ``_MIN_CLASS`` patients, is taken for a continuous variable or an ID.
_MAX_CLASSES = 20
_MIN_CLASS = 3


def _refuse_continuous(labels: pd.Series, where: str, *, declared: bool) -> None:
    """A target that is a measurement (or an ID), not class labels, is an error: most of
    its distinct values are on fewer than 3 patients, and they are numbers with fractions
    or more than 20 values. (With ``classes`` given, values outside them are refused.)"""
    if declared:
        return
    counts = labels.value_counts()
    rare = (counts < _MIN_CLASS).sum() > len(counts) / 2
    if not rare:
        return
    numbers = pd.to_numeric(pd.Series(labels.to_numpy(dtype=object)), errors="coerce")
    fractional = (
        not pd.api.types.is_bool_dtype(labels)
        and bool(numbers.notna().all())
        and bool((np.mod(numbers.to_numpy(dtype=np.float64), 1) != 0).any())
    )
    if not (fractional or len(counts) > _MAX_CLASSES):
        return
    examples = ", ".join(repr(v) for v in list(counts.index[:5]))
    what = "numbers with fractions" if fractional else "values"
    raise DataError(
        f"{where}: {len(counts)} distinct {what} among {len(labels)} patients, most of them "
        f"on fewer than {_MIN_CLASS} patients (e.g. {examples}); the target looks continuous "
        "(or an ID), but classification needs class labels (a few values, each shared by "
        "several patients, e.g. AD/CN or 0/1): bin it into classes first, name another "
        "target column, or for time-to-event outcomes use task: survival with "
        "data.survival: {time: ..., event: ...}"
    )


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
