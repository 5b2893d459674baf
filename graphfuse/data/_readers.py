"""Read the user's own tables into a :class:`Cohort`.

One modality per file: CSV/TSV (may be compressed) or Parquet tables with one row per
patient and a named ID column, AnnData ``.h5ad``, one modality of a MuData ``.h5mu``,
or per-patient embedding vectors (``.npy`` with an ID list, or Parquet with one vector
column). :func:`cohort_from_modalities` aligns them with the labels table
(:func:`graphfuse.data.read_labels`) by patient ID.

Every error names the file, the column and the patient at fault and says what was
expected; unmatched patients are reported with counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphfuse.data._clinical import CLINICAL_TYPES, decimal_comma_hint, encode_clinical
from graphfuse.data._cohort import MODALITY_KINDS, Cohort
from graphfuse.data._genes import GeneMapping, gene_column
from graphfuse.data._tables import (
    _TABLES,
    _examples,
    _index_by_id,
    _nfc,
    _read_h5ad,
    _read_h5mu,
    _require_file,
    _suffix,
    read_table,
)
from graphfuse.data._values import as_float32
from graphfuse.errors import DataError

__all__ = ["cohort_from_modalities", "read_modality"]

# --------------------------------------------------------------------------- modalities


def read_modality(
    path: str | Path,
    *,
    name: str,
    kind: Literal["omics", "imaging", "clinical"],
    id_column: str | None = None,
    key: str | None = None,
    ids: str | Path | None = None,
    genes: GeneMapping | None = None,
    columns: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    na_values: Sequence[str] = (),
) -> ad.AnnData:
    """Read one modality: patients as rows, features as columns.

    Parameters
    ----------
    path
        CSV/TSV/Parquet table (one row per patient, an ID column, feature columns; a
        Parquet table may instead hold one column of vectors), ``.h5ad``, ``.h5mu``
        (with ``key``), or ``.npy`` (patients x dimensions, with ``ids``).
    name, kind
        Modality name and kind (``omics``, ``imaging``, ``clinical``).
    id_column
        Patient ID column; ``None`` for AnnData/MuData uses their ``obs_names``.
    key
        The modality inside a ``.h5mu`` file.
    ids
        For ``.npy``: a text file with one patient ID per line, in row order; a first
        line equal to ``id_column`` is a header and skipped. (A CSV/TSV whose header
        line has several columns, ``id_column`` among them, is read as a table and that
        column gives the IDs.)
    genes
        Omics only: how features map to gene symbols (``var["gene"]``); ``None``: not
        mapped (``var["gene"]`` is NaN, e.g. CpG probes without an annotation).
    columns, drop
        Feature columns to use (default: all but the ID column) / to leave out.
    types, categories
        Clinical only: column types and level orders (see :func:`encode_clinical`).
    na_values
        Extra strings read as missing (for clinical tables also when written with
        surrounding spaces, see :func:`encode_clinical`).

    Returns
    -------
    anndata.AnnData
        ``obs_names`` = patient IDs (Unicode NFC); ``uns["kind"]``, ``uns["source"]``
        (the file); ``var["gene"]`` for omics; ``var["type"]``, ``var["categories"]`` for
        clinical. A patient whose row is entirely missing lacks the modality and is left
        out; so is one whose cell in a column of vectors is empty (``[]`` or null).

    Raises
    ------
    DataError
        Missing, empty, truncated or corrupt file (naming the cause), missing column,
        duplicated IDs, text in an omics or imaging column, a NaN or infinite omics
        value, an infinite imaging value (all naming the file, column and patient), or a
        gene mapping that maps nothing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rna.csv"
    >>> _ = p.write_text("pid,HS_APOE,HS_APP\\nA,1.5,2\\nB,0.5,3\\n")
    >>> a = read_modality(p, name="rna", kind="omics", id_column="pid",
    ...                   genes=GeneMapping(strip_prefix="HS_"))
    >>> a.var["gene"].tolist(), a.shape
    (['APOE', 'APP'], (2, 2))
    """
    path = Path(path)
    where = f"modality {name!r} ({path})"
    if kind not in MODALITY_KINDS:
        raise DataError(f"{where}: kind {kind!r}; expected one of {MODALITY_KINDS}")
    if genes is not None and kind != "omics":
        raise DataError(f"{where}: a gene mapping is for omics modalities, this one is {kind}")
    if kind != "clinical" and (types or categories):
        raise DataError(
            f"{where}: types/categories are for clinical modalities, this one is {kind}"
        )
    _require_file(path, f"modality {name!r}")
    fmt = _suffix(path)
    if fmt in (".h5ad", ".h5mu"):
        adata = _read_anndata(path, fmt, key=key, id_column=id_column, where=where)
        adata = _subset_vars(adata, columns, drop, where)
        adata = _from_anndata(adata, kind, genes, where)
    elif fmt == ".npy":
        adata = _read_npy(path, ids, id_column, where)
        adata = _subset_vars(adata, columns, drop, where)
        _check_values(adata.X, adata.obs_names, adata.var_names, kind, where)
    else:
        table = read_table(
            path, id_column=id_column, na_values=na_values, what=f"modality {name!r}"
        )
        table = _subset_columns(table, columns, drop, where)
        table = _expand_vectors(table, where)
        table = table.loc[table.notna().any(axis=1)]
        if kind == "clinical":
            adata = encode_clinical(
                table, types=types, categories=categories, na_values=na_values, where=where
            )
        else:
            x = _numeric(table, where)
            adata = ad.AnnData(
                X=x,
                obs=pd.DataFrame(index=table.index.astype(str)),
                var=pd.DataFrame(index=pd.Index([str(c) for c in table.columns])),
            )
            _check_values(adata.X, adata.obs_names, adata.var_names, kind, where)
    if kind == "omics":
        adata.var["gene"] = gene_column(genes, adata.var_names, adata.var, where=where)
    adata.obs_names.name = None
    adata.uns["kind"] = kind
    adata.uns["source"] = str(path)
    return adata


def _subset_columns(
    table: pd.DataFrame, columns: Sequence[str] | None, drop: Sequence[str], where: str
) -> pd.DataFrame:
    have = [str(c) for c in table.columns]
    table.columns = have
    wanted = list(columns) if columns is not None else have
    unknown = [c for c in [*wanted, *drop] if c not in have]
    if unknown:
        raise DataError(f"{where}: column(s) {unknown[:5]} not found; columns: {have[:10]}")
    out = table[[c for c in wanted if c not in set(drop)]]
    if out.shape[1] == 0:
        raise DataError(f"{where}: no feature column left (besides the ID column)")
    return out


def _subset_vars(
    adata: ad.AnnData, columns: Sequence[str] | None, drop: Sequence[str], where: str
) -> ad.AnnData:
    if columns is None and not drop:
        return adata
    frame = pd.DataFrame(index=adata.var_names)
    frame = _subset_columns(frame.T, columns, drop, where)
    return adata[:, list(frame.columns)].copy()


def _expand_vectors(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """One column of per-patient vectors (Parquet) -> one column per dimension.

    An empty cell (null or a vector of length 0) means the patient lacks the modality:
    its row is all NaN (and left out by the caller).
    """
    if table.shape[1] != 1 or not pd.api.types.is_object_dtype(table.dtypes.iloc[0]) or table.empty:
        return table
    col = table.columns[0]
    cells = table[col]
    vectors = cells.map(lambda v: isinstance(v, (list, tuple, np.ndarray)))
    if not vectors.any():
        return table
    empty = cells.map(_empty_cell)
    other = ~vectors & ~empty
    if other.any():
        pid = table.index[other.to_numpy()][0]
        raise DataError(
            f"{where}, column {col!r}, patient {pid!r}: value {cells[pid]!r} is not a vector; "
            "expected a vector per patient (or an empty cell for a patient without this "
            "modality)"
        )
    lengths = cells.map(lambda v: len(v) if isinstance(v, (list, tuple, np.ndarray)) else 0)
    present = (lengths > 0).to_numpy()
    if not present.any():
        raise DataError(f"{where}, column {col!r}: every vector is empty; no patient has data")
    common = int(lengths[present].mode().iloc[0])
    bad = present & (lengths != common).to_numpy()
    if bad.any():
        pid = table.index[bad][0]
        raise DataError(
            f"{where}, column {col!r}, patient {pid!r}: vector of length {lengths[pid]}; "
            f"expected {common} like most patients' ({int(bad.sum())} patient(s) differ); an "
            "empty cell means the patient lacks this modality"
        )
    x = np.full((len(table), common), np.nan)
    try:
        x[present] = np.stack([np.asarray(v, dtype=np.float64) for v in cells[present]])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}, column {col!r}: vectors must hold numbers ({exc})") from exc
    names = [f"{col}_{i:04d}" for i in range(common)]
    return pd.DataFrame(x, index=table.index, columns=names)


def _empty_cell(v: Any) -> bool:
    if isinstance(v, (list, tuple, np.ndarray)):
        return len(v) == 0
    return v is None or (isinstance(v, float) and np.isnan(v))


def _numeric(table: pd.DataFrame, where: str) -> np.ndarray:
    """Feature values as float32; text values are an error naming column and patient."""
    bad_cols = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    for col in bad_cols:
        s = table[col]
        parsed = pd.to_numeric(s, errors="coerce")
        text = s.notna() & parsed.isna()
        if text.any():
            pid = s.index[text.to_numpy()][0]
            raise DataError(
                f"{where}, column {col!r}, patient {pid!r}: value {s[pid]!r} is not a "
                f"number; expected numeric features ({int(text.sum())} such value(s) in this "
                f"column){decimal_comma_hint(s[text])}"
            )
        table = table.assign(**{col: parsed})
    return as_float32(table.to_numpy(dtype=np.float64), table.index, table.columns, where)


def _check_values(x: Any, patients: pd.Index, features: pd.Index, kind: str, where: str) -> None:
    """Omics: NaN and infinite values are errors; imaging: infinite values are."""
    if kind == "clinical":
        return
    if sp.issparse(x):
        data = x.tocoo()
        bad = ~np.isfinite(data.data)
        rows, cols, values = data.row[bad], data.col[bad], data.data[bad]
    else:
        arr = np.asarray(x)
        mask = ~np.isfinite(arr) if kind == "omics" else np.isinf(arr)
        rows, cols = np.nonzero(mask)
        values = arr[rows, cols]
    if kind != "omics":
        keep = np.isinf(values)
        rows, cols, values = rows[keep], cols[keep], values[keep]
    if len(rows):
        r, c = int(rows[0]), int(cols[0])
        what = "missing (NaN)" if np.isnan(values[0]) else "infinite"
        hint = (
            "; omics values must be complete (impute them before, or leave the feature out)"
            if kind == "omics"
            else ""
        )
        raise DataError(
            f"{where}, feature {str(features[c])!r}, patient {str(patients[r])!r}: value is "
            f"{what}; {len(rows)} such value(s) in this modality{hint}"
        )


def _read_anndata(
    path: Path, fmt: str, *, key: str | None, id_column: str | None, where: str
) -> ad.AnnData:
    if fmt == ".h5mu":
        mdata = _read_h5mu(path, where)
        mods = list(mdata.mod)
        if key is None and len(mods) == 1:
            key = mods[0]
        if key not in mdata.mod:
            raise DataError(
                f"{where}: modality key {key!r} not in the MuData file; it has {mods} "
                "(name one with key:)"
            )
        adata = mdata.mod[key].copy()
    else:
        adata = _read_h5ad(path, where)
    if id_column is not None:
        obs = _index_by_id(adata.obs.copy(), id_column, where)
        adata.obs_names = obs.index
    adata.obs_names = _nfc(adata.obs_names.astype(str).str.strip(), where)
    dup = adata.obs_names[adata.obs_names.duplicated()].unique()
    if len(dup):
        raise DataError(
            f"{where}: duplicated patient ID(s) {_examples(dup)}; expected one row per patient"
        )
    return adata


def _from_anndata(
    adata: ad.AnnData, kind: str, genes: GeneMapping | None, where: str
) -> ad.AnnData:
    x = adata.X
    if x is None:
        raise DataError(f"{where}: the AnnData has no X")
    if not sp.issparse(x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{where}: X holds {x.dtype} values; expected numbers")
        x = as_float32(x, adata.obs_names, adata.var_names, where)
        present = ~np.isnan(x).all(axis=1) if x.shape[1] else np.zeros(len(x), dtype=bool)
        adata = ad.AnnData(X=x[present], obs=adata.obs.iloc[present], var=adata.var)
    out = ad.AnnData(X=adata.X, obs=pd.DataFrame(index=adata.obs_names), var=adata.var.copy())
    if kind == "clinical":
        if "type" in out.var.columns:
            bad = sorted(set(out.var["type"].astype(str)) - set(CLINICAL_TYPES))
            if bad:
                raise DataError(
                    f"{where}: var['type'] has {bad}; expected values in {CLINICAL_TYPES}"
                )
            if "categories" not in out.var.columns:
                out.var["categories"] = ""
        else:
            frame = pd.DataFrame(
                out.X.toarray() if sp.issparse(out.X) else out.X,
                index=out.obs_names,
                columns=out.var_names,
            )
            encoded = encode_clinical(frame, where=where)
            encoded.var = pd.concat([out.var, encoded.var], axis=1)
            out = encoded
    else:
        _check_values(out.X, out.obs_names, out.var_names, kind, where)
    return out


def _read_npy(path: Path, ids: str | Path | None, id_column: str | None, where: str) -> ad.AnnData:
    if ids is None:
        raise DataError(
            f"{where}: a .npy file has no patient IDs; give ids: a file with one ID per line"
        )
    x = _load_npy(path, where)
    if x.ndim != 2:
        raise DataError(f"{where}: array of shape {x.shape}; expected patients x dimensions")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{where}: array of {x.dtype}; expected numbers")
    ids_path = Path(ids)
    names = _id_list(ids_path, id_column, f"{where}: ID list {ids_path}")
    if len(names) != x.shape[0]:
        header = (
            f" (is its first line, {names[0]!r}, a header? name that column as id_column, or "
            "remove the line)"
            if len(names) == x.shape[0] + 1
            else ""
        )
        raise DataError(
            f"{where}: {x.shape[0]} rows but the ID list {ids_path} has {len(names)} IDs; "
            f"expected one ID per row{header}"
        )
    stem = path.name.split(".")[0]
    var = pd.DataFrame(index=[f"{stem}_{i:04d}" for i in range(x.shape[1])])
    x = as_float32(x, names, var.index, where)
    present = ~np.isnan(x).all(axis=1)
    return ad.AnnData(X=x[present], obs=pd.DataFrame(index=names[present].astype(str)), var=var)


_NPY_MAGIC = b"\x93NUMPY"


def _load_npy(path: Path, where: str) -> np.ndarray:
    """A numeric array from a ``.npy`` file; never unpickles."""
    with open(path, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        raise DataError(
            f"{where}: not a .npy file (it does not start with NumPy's header {_NPY_MAGIC!r} "
            f"but {head!r}); save the array with numpy.save"
        )
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise DataError(
                f"{where}: the array holds Python objects (dtype object), which would need "
                "unpickling to read; graphfuse reads numeric arrays only: save it as numbers, "
                "e.g. numpy.save(path, array.astype(float))"
            ) from exc
        raise DataError(f"{where}: cannot be read as a numeric .npy array: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise DataError(
            f"{where}: cannot be read as a .npy array: the file ends early or is damaged "
            f"(truncated?): {exc}"
        ) from exc


def _id_list(path: Path, id_column: str | None, where: str) -> pd.Index:
    """One patient ID per line (a first line equal to ``id_column`` is a header)."""
    _require_file(path, where)
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    lines = [line for line in lines if line]
    sep = _TABLES.get(_suffix(path))
    if id_column is not None and lines and sep and sep in lines[0]:
        header = [h.strip().strip('"') for h in lines[0].split(sep)]
        if id_column in header:  # a table whose id_column holds the IDs
            return read_table(path, id_column=id_column, what=where).index
    if id_column is not None and lines and lines[0].strip('"') == id_column:
        lines = lines[1:]  # a header line naming the column
    names = _nfc(pd.Index(lines), where)
    dup = names[names.duplicated()].unique()
    if len(dup):
        raise DataError(
            f"{where}: duplicated patient ID(s) {_examples(dup)}; expected one per row of the array"
        )
    return names


# --------------------------------------------------------------------------- cohort


def cohort_from_modalities(
    labels: pd.DataFrame,
    modalities: Mapping[str, ad.AnnData],
    *,
    target: str,
    unmatched: Literal["warn", "error"] = "warn",
    labels_source: str = "labels table",
) -> Cohort:
    """Align modalities with a labels table by patient ID into a :class:`Cohort`.

    Patients of a modality that are not in the labels table, and patients of the
    labels table with no modality, are left out with a warning that counts them
    (``unmatched="error"`` makes both errors). A patient lacking only some modalities
    is kept: the cohort's availability mask records it. Patient IDs are compared in
    Unicode NFC (see :func:`graphfuse.data.read_table`).

    Parameters
    ----------
    labels
        From :func:`read_labels`: indexed by patient ID, with ``target`` (and ``split``).
    modalities
        Name -> ``AnnData`` from :func:`read_modality` (``uns["kind"]`` set).
    target
        The label column.
    unmatched
        ``"warn"``: leave unmatched patients out and warn; ``"error"``: raise.
    labels_source
        The labels file, for messages.

    Returns
    -------
    Cohort

    Examples
    --------
    >>> import anndata as ad
    >>> labels = pd.DataFrame({"dx": ["AD", "CN", "AD"]}, index=["a", "b", "c"])
    >>> rna = ad.AnnData(np.ones((3, 2), dtype="float32"),
    ...                  obs=pd.DataFrame(index=["a", "b", "c"]),
    ...                  var=pd.DataFrame({"gene": ["APOE", "APP"]}, index=["g1", "g2"]))
    >>> rna.uns["kind"] = "omics"
    >>> cohort_from_modalities(labels, {"rna": rna}, target="dx").n_patients
    3
    """
    if not modalities:
        raise DataError("no modality given; a cohort needs at least one")
    known = _nfc(labels.index.astype(str), labels_source)
    if not known.equals(labels.index):
        labels = labels.set_axis(known)
    kept: dict[str, ad.AnnData] = {}
    for name, adata in modalities.items():
        where = f"modality {name!r} ({adata.uns.get('source', 'in memory')})"
        ids = _nfc(adata.obs_names, where)
        if not ids.equals(adata.obs_names):  # patient IDs compare in Unicode NFC
            adata = adata.copy()
            adata.obs_names = ids
        if adata.n_obs == 0:
            raise DataError(
                f"{where}: no patient has this modality (no row holds data: the file has no "
                "data row, or every row is empty)"
            )
        inside = adata.obs_names.isin(known)
        if not inside.any():
            raise DataError(
                f"{where}: none of its {adata.n_obs} patients is in the {labels_source}; "
                f"its IDs look like {_examples(adata.obs_names)}, the labels' like "
                f"{_examples(known)}"
            )
        if not inside.all():
            extra = adata.obs_names[~inside]
            msg = (
                f"{where}: {len(extra)} of its {adata.n_obs} patient(s) are not in the "
                f"{labels_source} (no label) and are left out, e.g. {_examples(extra)}"
            )
            _unmatched(msg, unmatched)
            adata = adata[inside].copy()
        kept[name] = adata
    has_data = pd.Index(sorted(set().union(*(set(a.obs_names) for a in kept.values()))))
    orphans = known.difference(has_data, sort=False)
    if len(orphans):
        msg = (
            f"{labels_source}: {len(orphans)} of its {len(known)} patient(s) have no data in "
            f"any modality and are left out, e.g. {_examples(orphans)}"
        )
        _unmatched(msg, unmatched)
    obs = labels.loc[known.isin(has_data)].copy()
    obs.index.name = None
    counts = obs[target].value_counts()
    if (counts > 0).sum() < 2:
        raise DataError(
            f"{labels_source}, column {target!r}: the patients with data are all of one class "
            f"({counts.idxmax()!r}); a classifier needs at least two"
        )
    labelled = labels[target].dropna().value_counts()
    labelled = labelled[labelled > 0]
    gone = [c for c in labelled.index if counts.get(c, 0) == 0]
    if gone:
        raise DataError(
            f"{labels_source}, column {target!r}: every patient of class(es) "
            f"{[str(c) for c in gone]} ({int(labelled[gone].sum())} patient(s)) has no data in any "
            "modality, so the class would vanish from the task; add their data, or leave the "
            "class out of the labels (or of data.tables.classes)"
        )
    kinds = {name: a.uns["kind"] for name, a in kept.items()}
    return Cohort.from_modalities(kept, obs, kinds=kinds, target=target)


def _unmatched(msg: str, mode: str) -> None:
    if mode == "error":
        raise DataError(msg + " (set unmatched: warn to continue without them)")
    warnings.warn(msg, UserWarning, stacklevel=3)
