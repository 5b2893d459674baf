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
from graphfuse.errors import ConfigError, DataError

__all__ = ["read_survset"]

_OUTCOME = ("pid", "time", "event")
_MISSING = "missing"  # SurvSet's code for a missing categorical value


def load_survset_table(dataset: str) -> pd.DataFrame:
    """SurvSet's table of ``dataset`` (its ``df``); an ImportError names the package."""
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise ImportError(
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
        Columns to leave out (full names, e.g. ``fac_size``).
    types, categories
        Clinical column types and level orders (see :func:`encode_clinical`), keyed by
        the name without its ``fac_``/``num_`` prefix.
    where
        The table's name, for messages.

    Returns
    -------
    Cohort
        The omics modalities and one ``clinical`` modality (``fac_``/``num_`` stripped;
        SurvSet's ``"missing"`` read as missing); ``obs`` holds ``time`` and ``event``
        (the target, so splits are stratified by event).

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
    unknown = [c for c in drop if c not in table.columns]
    if unknown:
        raise DataError(f"{where}: data.survset.drop names unknown column(s) {unknown}")
    ids = table["pid"].astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        raise DataError(f"{where}: patient IDs (pid) repeat")
    patients = pd.Index(ids)
    dropped = set(drop)
    rest = [c for c in table.columns if c not in _OUTCOME and c not in dropped]
    modalities: dict[str, ad.AnnData] = {}
    kinds: dict[str, str] = {}
    for name, prefix in omics.items():
        cols = [c for c in rest if c.startswith(prefix)]
        if not cols:
            raise DataError(f"{where}: omics modality {name!r}: no column starts with {prefix!r}")
        taken = set(cols)
        rest = [c for c in rest if c not in taken]
        x = table[cols].to_numpy(dtype=np.float32)
        bad = ~np.isfinite(x)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(
                f"{where}: omics modality {name!r}, column {cols[j]!r}, patient {ids[i]!r}: "
                "missing or infinite value"
            )
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
    return Cohort.from_modalities(modalities, obs, kinds=kinds, target="event")


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
