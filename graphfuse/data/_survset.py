"""Survival cohorts of the optional SurvSet package, read in memory (``data.source: survset``).

SurvSet (Drysdale, 2022; ``pip install SurvSet``) bundles public survival data sets as
one table each: ``pid``, ``time``, ``event`` and covariates named ``fac_<name>``
(categorical) or ``num_<name>`` (numeric); gene-expression sets name genes
``num_HS_<symbol>``. SurvSet is GPL-licensed: graphfuse never depends on it and imports
it only when a config asks for this source.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.data._clinical import encode_clinical
from graphfuse.data._cohort import Cohort
from graphfuse.data._values import complete_float32
from graphfuse.errors import ConfigError, DataError, DependencyError

__all__ = ["read_survset"]

_OUTCOME = ("pid", "time", "event")
_MISSING = "missing"  # SurvSet's code for a missing categorical value


def load_survset_table(dataset: str) -> pd.DataFrame:
    """SurvSet's table of ``dataset`` (its ``df``); an ImportError names the package."""
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise DependencyError(
            "data.source 'survset' reads the optional SurvSet package, which is not installed: "
            "pip install SurvSet (GPL-licensed; graphfuse does not depend on it)"
        ) from None
    loader = SurvLoader()
    names = loader.df_ds["ds"].tolist() if hasattr(loader, "df_ds") else None
    if names is not None and dataset not in names:
        raise ConfigError(
            f"data.survset.dataset: SurvSet has no data set {dataset!r}; it has e.g. "
            f"{sorted(names)[:10]} ({len(names)} in all)"
        )
    with warnings.catch_warnings():  # SurvSet unpickles with numpy.core names
        warnings.simplefilter("ignore", DeprecationWarning)
        return loader.load_dataset(dataset)["df"]


def read_survset(
    table: pd.DataFrame,
    *,
    omics: Mapping[str, str],
    drop: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
    label: str | None = None,
    classes: Sequence[str] | None = None,
    where: str = "SurvSet table",
) -> Cohort:
    """A cohort from a SurvSet-style table: omics modalities by column prefix, the rest clinical.

    Parameters
    ----------
    table
        Columns ``pid``, ``time``, ``event`` and ``fac_*`` / ``num_*`` covariates.
    omics
        Omics modality name -> column prefix (e.g. ``{"expression": "num_HS_"}``); the
        rest of a column's name is its gene symbol (``var["gene"]``).
    drop
        Columns to leave out: full names (``fac_size``), or an omics feature's gene symbol
        (``ESR1`` for ``num_HS_ESR1``).
    types, categories
        Clinical column types and level orders (see :func:`encode_clinical`), keyed by
        the name without its ``fac_``/``num_`` prefix.
    label
        A covariate to predict instead of survival (a classification target, e.g.
        ``fac_er_positive``): it leaves the features, and patients whose value is missing
        are left out with a warning that names them.
    classes
        With ``label``: its values in class order (the second is the positive class);
        default: the values present, sorted.
    where
        The table's name, for messages.

    Returns
    -------
    Cohort
        The omics modalities and one ``clinical`` modality (``fac_``/``num_`` stripped;
        SurvSet's ``"missing"`` read as missing); ``obs`` holds ``time`` and ``event``
        (the target, so splits are stratified by event), and with ``label`` the label
        (named without ``fac_``/``num_``), which is then the target.

    Raises
    ------
    DataError
        Missing outcome columns, an unknown ``drop`` column, a prefix matching nothing,
        two covariates with one stripped name, or a non-finite omics value.

    Examples
    --------
    >>> t = pd.DataFrame({"pid": [1, 2, 3], "time": [5.0, 7.0, 2.0], "event": [1, 0, 1],
    ...                   "fac_grade": ["1", "missing", "2"], "num_HS_TP53": [0.1, 0.5, 0.2]})
    >>> c = read_survset(t, omics={"expression": "num_HS_"})
    >>> c.modalities, c.modality("expression").var["gene"].tolist(), c.obs.columns.tolist()
    (['expression', 'clinical'], ['TP53'], ['time', 'event'])
    """
    missing = [c for c in _OUTCOME if c not in table.columns]
    if missing:
        raise DataError(f"{where}: lacks the column(s) {missing}; a SurvSet table has {_OUTCOME}")
    drop = _drop_columns(table, drop, omics, where)
    ids = table["pid"].astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: patient IDs (pid) repeat")
    labels = None
    if label is not None:
        table, labels = _labels(table, label, classes, where)
        ids = table["pid"].astype(str).to_numpy()
    patients = pd.Index(ids)
    dropped = set(drop) | ({label} if label is not None else set())
    rest = [c for c in table.columns if c not in _OUTCOME and c not in dropped]
    modalities: dict[str, ad.AnnData] = {}
    kinds: dict[str, str] = {}
    for name, prefix in omics.items():
        cols = [c for c in rest if c.startswith(prefix)]
        if not cols:
            raise DataError(f"{where}: omics modality {name!r}: no column starts with {prefix!r}")
        taken = set(cols)
        rest = [c for c in rest if c not in taken]
        x = complete_float32(table[cols].to_numpy(), ids, cols, f"{where}: omics modality {name!r}")
        genes = [c.removeprefix(prefix) for c in cols]
        var = pd.DataFrame({"gene": genes}, index=pd.Index(cols).str.removeprefix("num_"))
        modalities[name] = ad.AnnData(X=x, obs=pd.DataFrame(index=patients), var=var)
        kinds[name] = "omics"
    if rest:
        modalities["clinical"] = _clinical(table, rest, patients, types, categories, where)
        kinds["clinical"] = "clinical"
    if not modalities:
        raise DataError(f"{where}: no covariate column left to read")
    obs = pd.DataFrame(
        {"time": table["time"].to_numpy(dtype=np.float64), "event": table["event"].to_numpy()},
        index=patients,
    )
    if labels is None:
        return Cohort.from_modalities(modalities, obs, kinds=kinds, target="event")
    name = _stripped(label)
    obs[name] = labels.to_numpy()
    return Cohort.from_modalities(modalities, obs, kinds=kinds, target=name)


def _stripped(column: str) -> str:
    return column.split("_", 1)[1] if column.startswith(("fac_", "num_")) else column


def _drop_columns(
    table: pd.DataFrame, drop: Sequence[str], omics: Mapping[str, str], where: str
) -> list[str]:
    """``drop``'s full column names: a name that is no column may be an omics gene symbol."""
    out, unknown = [], []
    columns = set(table.columns)
    for name in drop:
        if name in columns:
            out.append(name)
            continue
        found = [p + name for p in omics.values() if p + name in columns]
        if found:
            out.extend(found)
        else:
            unknown.append(name)
    if unknown:
        raise DataError(
            f"{where}: data.survset.drop names unknown column(s) {unknown}: neither a column "
            f"nor the gene symbol of an omics column ({', '.join(omics.values()) or 'no omics'})"
        )
    return out


def _labels(
    table: pd.DataFrame, label: str, classes: Sequence[str] | None, where: str
) -> tuple[pd.DataFrame, pd.Categorical]:
    """The table without the patients whose ``label`` is missing, and the labels."""
    key = f"{where}, data.survset.label {label!r}"
    if label not in table.columns:
        covariates = [c for c in table.columns if c.startswith("fac_")]
        raise DataError(f"{key}: no such column; factor columns: {covariates[:20]}")
    if label in _OUTCOME:
        raise DataError(f"{key}: {label!r} is an outcome column, not a covariate to predict")
    values = table[label].map(lambda v: v if isinstance(v, str) else repr(v)).astype(object)
    values = values.map(lambda v: v[:-2] if v.endswith(".0") else v)
    missing = table[label].isna().to_numpy() | (values == _MISSING).to_numpy()
    if missing.all():
        raise DataError(f"{key}: no patient has a value")
    if missing.any():
        left = table.loc[missing, "pid"].astype(str).tolist()
        warnings.warn(
            f"{key}: {len(left)} of {len(table)} patient(s) have no label and are left out: "
            f"{left[:10]}",
            UserWarning,
            stacklevel=3,
        )
        table, values = table.loc[~missing], values[~missing]
    present = sorted(set(values))
    names = [str(c) for c in classes] if classes is not None else present
    outside = sorted(set(present) - set(names))
    if outside:
        raise DataError(f"{key}: value(s) {outside} are not among data.survset.classes {names}")
    empty = [c for c in names if c not in present]
    if empty:
        raise DataError(f"{key}: class(es) {empty} of data.survset.classes have no patient")
    if len(names) < 2:
        raise DataError(f"{key}: one class only ({names}); a classifier needs two or more")
    return table, pd.Categorical(values.to_numpy(), categories=names)


def _clinical(
    table: pd.DataFrame,
    columns: list[str],
    patients: pd.Index,
    types: Mapping[str, str] | None,
    categories: Mapping[str, Sequence[str]] | None,
    where: str,
) -> ad.AnnData:
    names = [c.split("_", 1)[1] if c.startswith(("fac_", "num_")) else c for c in columns]
    seen: dict[str, str] = {}
    for col, name in zip(columns, names, strict=True):
        if name in seen:
            raise DataError(
                f"{where}: columns {seen[name]!r} and {col!r} are both clinical variable "
                f"{name!r}; leave one out with data.survset.drop"
            )
        seen[name] = col
    frame = pd.DataFrame(index=patients)
    declared = dict(types or {})
    for col, name in zip(columns, names, strict=True):
        values = table[col].to_numpy(dtype=object)
        values[values == _MISSING] = np.nan
        series = pd.Series(values, index=patients)
        numeric = pd.to_numeric(series, errors="coerce")
        # categorical codes written as numbers ("0", "1", "3") are read as numbers
        frame[name] = numeric if numeric.notna().sum() == series.notna().sum() else series
        if col.startswith("fac_") and name not in declared and numeric.notna().any():
            if numeric.notna().sum() < series.notna().sum():  # numbers and text: a factor
                declared[name] = "binary" if series.dropna().nunique() <= 2 else "categorical"
    frame = frame.loc[frame.notna().any(axis=1)]
    return encode_clinical(frame, types=declared, categories=categories, where=f"{where}, clinical")
