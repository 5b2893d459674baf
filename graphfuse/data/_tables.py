"""Per-patient tables: formats, patient IDs; the labels table lives in :mod:`._labels`.

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
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.errors import DataError

__all__ = ["SPLIT_COLUMN", "read_csv_file", "read_table"]

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
