"""The labels table: one row per patient, the target column and an optional split column.

Labels are read as text without surrounding spaces (a warning names labels that merge that way),
a continuous column given as class labels is refused, and a split column must hold ``train`` or
``test``; errors name the file, the column and the patient.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.data._tables import SPLIT_COLUMN, _examples, _no_rows, read_table
from graphfuse.errors import DataError

__all__ = ["labels_from_table", "read_label_tables", "read_labels"]


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
