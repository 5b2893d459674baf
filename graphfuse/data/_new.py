"""New patients to score with a fitted pipeline: tables with or without labels.

A fitted pipeline (:func:`graphfuse.experiment.load_pipeline`) scores patients it never saw. They
come as a :class:`~graphfuse.data.Cohort`, a ``MuData`` (or its ``.h5mu`` path), a mapping
of modality name -> ``AnnData`` or ``DataFrame`` (patients x features, raw values as in
the training tables), or a config's ``data:`` section (:func:`load_new_patients`), and
are held as :class:`NewPatients`: per-modality tables of the patients that have each
modality, and their labels where known. What the pipeline checks against its training
state (features, categories, scale) it checks later; here only the shape of the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from graphfuse.data._cohort import Cohort
from graphfuse.data._config import DataConfig
from graphfuse.data._load import _table_modalities, label_table, load_cohort
from graphfuse.data._tables import _read_h5mu, _require_file
from graphfuse.errors import DataError

__all__ = ["NewPatients", "load_new_patients"]


@dataclass
class NewPatients:
    """Patients to score: per-modality tables and, where known, their labels.

    Attributes
    ----------
    patients
        Patient ids, in output order (every patient has at least one table row).
    tables
        Modality -> ``AnnData`` of the patients that have it (``obs_names`` = ids). Its
        ``X`` holds raw values as in the training tables; a clinical modality read by
        graphfuse's readers holds category codes with their labels in
        ``var["categories"]``, one given as a ``DataFrame`` holds the values themselves.
    obs
        Patient table, indexed by id (labels, survival columns; may have no columns).
    source
        Where the patients came from, for messages.
    """

    patients: pd.Index
    tables: dict[str, ad.AnnData]
    obs: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "new patients"

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def availability(self, modalities: list[str]) -> pd.DataFrame:
        """Boolean patients x ``modalities``: who has which table."""
        return pd.DataFrame(
            {
                m: self.patients.isin(self.tables[m].obs_names)
                if m in self.tables
                else np.zeros(len(self.patients), dtype=bool)
                for m in modalities
            },
            index=self.patients,
        )

    # ------------------------------------------------------------------ builders
    @classmethod
    def coerce(cls, new: Any, *, source: str | None = None) -> NewPatients:
        """Whatever :meth:`graphfuse.experiment.Pipeline.predict` accepts, as
        :class:`NewPatients`: itself, a ``Cohort``, a ``MuData``, an ``.h5mu`` path, or a
        mapping of modality -> ``AnnData`` / ``DataFrame``.

        Raises
        ------
        DataError
            Another type; duplicated patient ids in a table; a table of no patients.
        """
        if isinstance(new, NewPatients):
            return new
        if isinstance(new, Cohort):
            return cls.from_cohort(new, source=source or "cohort")
        if isinstance(new, md.MuData):
            return cls.from_tables(dict(new.mod), obs=new.obs, source=source or "MuData")
        if isinstance(new, (str, Path)):
            path = Path(new)
            if path.suffix.lower() != ".h5mu":
                raise DataError(
                    f"{path}: new patients from a path must be an .h5mu file (a config's data "
                    "section is read with load_new_patients or graphfuse predict --data)"
                )
            _require_file(path, "new patients")
            mdata = _read_h5mu(path, f"new patients {path}")
            return cls.from_tables(dict(mdata.mod), obs=mdata.obs, source=str(path))
        if isinstance(new, Mapping):
            return cls.from_tables(dict(new), source=source or "tables")
        raise DataError(
            f"new patients: expected a Cohort, a MuData or .h5mu path, or a mapping of modality "
            f"-> AnnData / DataFrame; got {type(new).__name__}"
        )

    @classmethod
    def from_cohort(cls, cohort: Cohort, *, source: str = "cohort") -> NewPatients:
        """The patients of ``cohort`` (labels kept in ``obs``)."""
        tables = {m: cohort.modality(m) for m in cohort.modalities}
        obs = cohort.obs.copy()
        obs.attrs["target"] = cohort.target
        return cls(cohort.patients, tables, obs, source)

    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, ad.AnnData | pd.DataFrame],
        *,
        obs: pd.DataFrame | None = None,
        source: str = "tables",
    ) -> NewPatients:
        """Patients of per-modality tables (``DataFrame``: index = patient ids, one column
        per feature). Patients are ordered as ``obs`` (when given) or as first seen."""
        adatas: dict[str, ad.AnnData] = {}
        for name, table in tables.items():
            where = f"{source}, modality {name!r}"
            if isinstance(table, pd.DataFrame):
                adata = _frame_to_anndata(table, where)
            elif isinstance(table, ad.AnnData):
                adata = table
            else:
                raise DataError(
                    f"{where}: expected an AnnData or a DataFrame, got {type(table).__name__}"
                )
            ids = adata.obs_names
            if not ids.is_unique:
                dup = ids[ids.duplicated()].unique()
                raise DataError(f"{where}: duplicated patient ids {list(dup[:5])}")
            adatas[str(name)] = adata
        if not adatas:
            raise DataError(f"{source}: no modality table given")
        seen: list[str] = []
        known: set[str] = set()
        for adata in adatas.values():
            for p in adata.obs_names.astype(str):
                if p not in known:
                    known.add(p)
                    seen.append(p)
        if obs is not None and len(obs.columns) and obs.index.isin(seen).all():
            order = [str(p) for p in obs.index]
            patients = pd.Index(order + [p for p in seen if p not in set(order)])
            frame = obs.copy()
            frame.index = frame.index.astype(str)
            frame = frame.reindex(patients)
        else:
            patients = pd.Index(seen)
            frame = pd.DataFrame(index=patients)
        if not patients.is_unique:
            dup = patients[patients.duplicated()].unique()
            raise DataError(f"{source}: duplicated patient ids {list(dup[:5])}")
        return cls(patients, adatas, frame, source)


def _frame_to_anndata(table: pd.DataFrame, where: str) -> ad.AnnData:
    """A patients x features DataFrame as an ``AnnData`` keeping its values as they are
    (an object ``X`` where columns are not all numeric: clinical labels)."""
    ids = table.index.astype(str)
    if not ids.is_unique:
        dup = ids[ids.duplicated()].unique()
        raise DataError(f"{where}: duplicated patient ids {list(dup[:5])}")
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes)
    values = table.to_numpy(dtype=np.float32 if numeric else object)
    var = pd.DataFrame(index=pd.Index([str(c) for c in table.columns]))
    if not var.index.is_unique:
        dup = var.index[var.index.duplicated()].unique()
        raise DataError(f"{where}: duplicated feature columns {list(dup[:5])}")
    adata = ad.AnnData(
        values if numeric else np.zeros((len(ids), len(var)), np.float32),
        obs=pd.DataFrame(index=ids),
        var=var,
    )
    if not numeric:
        adata.uns["raw_values"] = table.set_axis(ids).set_axis(var.index, axis=1)
    return adata


def load_new_patients(config: DataConfig, *, seed: int = 0) -> NewPatients:
    """The patients a config's ``data:`` section describes, labelled or not.

    Every source reads as for ``graphfuse fit`` (:func:`graphfuse.data.load_cohort`),
    except that a ``tables`` section's labels table need not hold the target: it lists the
    patients (its ``target`` column, where present, gives their labels for scoring).

    Raises
    ------
    DataError
        A table's patient is missing from the labels table, or a labels-table patient has
        no table row (naming them).
    """
    if config.source != "tables":
        return NewPatients.from_cohort(load_cohort(config, seed=seed), source=config.source)
    cfg = config.tables
    assert cfg is not None  # the config requires the section
    obs, where = label_table(cfg)
    path = where.removeprefix("labels tables ").removeprefix("labels table ")
    obs.index = obs.index.astype(str)
    if not obs.index.is_unique:
        dup = obs.index[obs.index.duplicated()].unique()
        raise DataError(f"{where}: duplicated patient ids {list(dup[:5])}")
    if cfg.target in obs.columns:
        obs.attrs["target"] = cfg.target
    tables = _table_modalities(config)
    for name, adata in tables.items():
        unknown = adata.obs_names[~adata.obs_names.isin(obs.index)]
        if len(unknown):
            raise DataError(
                f"modality {name!r} ({adata.uns.get('source', 'table')}): {len(unknown)} "
                f"patient(s) are not in the {where}, e.g. {list(unknown[:5])}; "
                "the labels table lists the patients to score"
            )
    new = NewPatients.from_tables(tables, obs=obs, source=str(path))
    lacking = obs.index[~obs.index.isin(new.patients)]
    if len(lacking):
        raise DataError(
            f"{where}: {len(lacking)} patient(s) have no row in any modality "
            f"table, e.g. {list(lacking[:5])}"
        )
    return new
