"""The :class:`Cohort`: a multimodal patient cohort over one shared patient index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from graphfuse.errors import DataError

__all__ = ["MODALITY_KINDS", "Cohort", "require_patients"]

#: Kinds of modality graphfuse knows; stored per modality in ``.uns["kind"]``.
MODALITY_KINDS = ("omics", "imaging", "clinical")
ModalityKind = Literal["omics", "imaging", "clinical"]

# mudata >= 0.4 stops pulling modality columns into the shared obs; adopt that now.
md.set_options(pull_on_update=False)


class Cohort:
    """A cohort: per-modality ``AnnData`` tables, a shared patient ``obs`` and a target.

    A thin, validated view of a :class:`mudata.MuData`. Each modality holds only the
    patients that have it; the patient x modality :attr:`availability` mask says who
    has what, and every later stage reads it instead of guessing from zeros.

    Parameters
    ----------
    mdata
        One ``AnnData`` per modality; ``mdata.obs`` holds the target column. Each
        modality's ``uns["kind"]`` is one of :data:`MODALITY_KINDS`. Omics modalities
        map features to genes through ``var["gene"]``.
    target
        Column of ``mdata.obs`` holding the class label of each patient.

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort
    >>> cohort = make_synthetic_cohort(n_patients=60, seed=0)
    >>> cohort.modalities
    ['expression', 'methylation', 'imaging', 'clinical']
    >>> cohort.availability.shape
    (60, 4)
    """

    def __init__(self, mdata: md.MuData, *, target: str = "label") -> None:
        self.mdata = mdata
        self.target = target
        self._validate()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_modalities(
        cls,
        modalities: Mapping[str, ad.AnnData],
        obs: pd.DataFrame,
        *,
        kinds: Mapping[str, ModalityKind],
        target: str = "label",
        uns: Mapping[str, Any] | None = None,
    ) -> Cohort:
        """Assemble a cohort from per-modality tables and a patient table.

        Parameters
        ----------
        modalities
            Name -> ``AnnData`` with patients as ``obs_names`` (only those that have it).
        obs
            One row per patient (index = patient ID), with the ``target`` column.
        kinds
            Name -> modality kind.
        target
            The label column of ``obs``.
        uns
            Cohort-level metadata (e.g. the synthetic cohort's planted truth).
        """
        mods = {}
        for name, adata in modalities.items():
            if name not in kinds:
                raise DataError(f"modality {name!r}: no kind given (one of {MODALITY_KINDS})")
            adata.uns["kind"] = kinds[name]
            mods[name] = adata
        mdata = md.MuData(mods)
        unknown = mdata.obs_names.difference(obs.index)
        if len(unknown):
            raise DataError(
                f"{len(unknown)} patient(s) appear in a modality but not in the patient table, "
                f"e.g. {list(unknown[:5])}"
            )
        extra = obs.index.difference(mdata.obs_names)
        if len(extra):
            raise DataError(
                f"{len(extra)} patient(s) of the patient table have no modality, "
                f"e.g. {list(extra[:5])}"
            )
        mdata.obs = obs.loc[mdata.obs_names].copy()
        if uns:
            mdata.uns.update(uns)
        return cls(mdata, target=target)

    def _validate(self) -> None:
        obs = self.mdata.obs
        if self.target not in obs.columns:
            raise DataError(
                f"target column {self.target!r} not in the patient table; "
                f"columns: {list(obs.columns)}"
            )
        if not obs.index.is_unique:
            dup = obs.index[obs.index.duplicated()].unique()
            raise DataError(f"duplicated patient IDs: {list(dup[:5])}")
        labels = obs[self.target]
        if labels.isna().any():
            missing = list(obs.index[labels.isna()][:5])
            raise DataError(f"target {self.target!r} is missing for patients {missing}")
        if labels.nunique() < 2:
            raise DataError(
                f"target {self.target!r} has one class only ({labels.iloc[0]!r}); "
                "a classifier needs at least two"
            )
        for name, adata in self.mdata.mod.items():
            kind = adata.uns.get("kind")
            if kind not in MODALITY_KINDS:
                raise DataError(
                    f"modality {name!r}: uns['kind'] is {kind!r}, expected one of {MODALITY_KINDS}"
                )
            if kind == "omics" and "gene" not in adata.var.columns:
                raise DataError(
                    f"omics modality {name!r}: var['gene'] (feature -> gene map) is missing"
                )
        none = self.availability.sum(axis=1) == 0
        if none.any():
            raise DataError(f"patients without any modality: {list(obs.index[none][:5])}")

    # ------------------------------------------------------------------ views
    @property
    def patients(self) -> pd.Index:
        """Patient IDs, in the cohort's row order."""
        return self.mdata.obs_names

    @property
    def n_patients(self) -> int:
        return self.mdata.n_obs

    @property
    def modalities(self) -> list[str]:
        """Modality names, in insertion order."""
        return list(self.mdata.mod)

    @property
    def kinds(self) -> dict[str, str]:
        """Modality name -> kind (omics, imaging, clinical)."""
        return {name: adata.uns["kind"] for name, adata in self.mdata.mod.items()}

    @property
    def obs(self) -> pd.DataFrame:
        """The shared patient table."""
        return self.mdata.obs

    @property
    def classes(self) -> list[Any]:
        """Class labels; :attr:`y` indexes into this list.

        A categorical target keeps its category order (the synthetic cohort's is
        ``["CN", "AD"]``, so AD is the positive class); otherwise labels are sorted.
        """
        labels = self.obs[self.target]
        if isinstance(labels.dtype, pd.CategoricalDtype):
            present = set(labels.unique().tolist())
            return [c for c in labels.cat.categories.tolist() if c in present]
        return sorted(labels.unique().tolist())

    @property
    def y(self) -> np.ndarray:
        """Integer class codes, one per patient."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        return self.obs[self.target].map(lookup).to_numpy(dtype=np.int64)

    @property
    def availability(self) -> pd.DataFrame:
        """Boolean patients x modalities mask: who has which modality."""
        return pd.DataFrame(
            {name: np.asarray(self.mdata.obsmap[name]).ravel() > 0 for name in self.modalities},
            index=self.patients,
        )

    @property
    def truth(self) -> dict[str, Any]:
        """Planted ground truth (synthetic cohorts), else an empty dict."""
        return dict(self.mdata.uns.get("truth", {}))

    def feature_genes(self) -> dict[str, dict[str, str]]:
        """``modality -> {feature: gene}`` from each modality's ``var["gene"]`` (where it has one).

        Features with a missing or empty gene are left out.
        """
        out = {}
        for name in self.modalities:
            var = self.modality(name).var
            if "gene" not in var.columns:
                continue
            genes = var["gene"]
            keep = genes.notna() & (genes.astype(str).str.len() > 0)
            out[name] = {str(f): str(g) for f, g in genes[keep].items()}
        return out

    def modality(self, name: str) -> ad.AnnData:
        """The ``AnnData`` of one modality (only the patients that have it)."""
        if name not in self.mdata.mod:
            raise DataError(f"unknown modality {name!r}; this cohort has {self.modalities}")
        return self.mdata.mod[name]

    def matrix(self, name: str) -> np.ndarray:
        """Features of one modality for every patient, ``float32``.

        Rows of patients who lack the modality are NaN, so that nothing downstream
        can mistake them for measurements.
        """
        adata = self.modality(name)
        x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
        out = np.full((self.n_patients, adata.n_vars), np.nan, dtype=np.float32)
        pos = np.asarray(self.mdata.obsmap[name]).ravel()
        have = pos > 0
        out[have] = x[pos[have] - 1]
        return out

    def select(self, modalities: Iterable[str]) -> Cohort:
        """A cohort restricted to some modalities (patients left with none are dropped)."""
        names = list(modalities)
        for name in names:
            self.modality(name)
        if not names:
            raise DataError("select(): at least one modality is needed")
        keep = self.availability[names].any(axis=1)
        mods = {
            name: self.mdata.mod[name][
                self.mdata.mod[name].obs_names.isin(self.patients[keep])
            ].copy()
            for name in names
        }
        return Cohort.from_modalities(
            mods,
            self.obs.loc[keep].copy(),
            kinds={name: self.kinds[name] for name in names},
            target=self.target,
            uns=dict(self.mdata.uns),
        )

    def hide(self, modality: str, patients: Iterable[Any]) -> Cohort:
        """A cohort in which ``patients`` (ids) lack ``modality``, as if never measured.

        For robustness experiments (what does the model do when a modality goes missing at
        prediction time?). Patients left with no modality are an error, not dropped.

        Raises
        ------
        DataError
            Unknown modality or patient, or a patient would be left with no modality.
        """
        adata = self.modality(modality)
        hidden = pd.Index(list(patients))
        unknown = hidden.difference(self.patients)
        if len(unknown):
            raise DataError(
                f"hide({modality!r}): unknown patients {list(unknown[:5])}"
                + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            )
        avail = self.availability
        others = avail.drop(columns=modality).loc[hidden].any(axis=1)
        stranded = others.index[~others.to_numpy()]
        if len(stranded):
            raise DataError(
                f"hide({modality!r}): patients {list(stranded[:5])} would have no modality left"
            )
        mods = {name: self.mdata.mod[name].copy() for name in self.modalities}
        mods[modality] = adata[~adata.obs_names.isin(hidden)].copy()
        out = Cohort.from_modalities(
            mods,
            self.obs.copy(),
            kinds=dict(self.kinds),
            target=self.target,
            uns=dict(self.mdata.uns),
        )
        if not out.patients.equals(self.patients):  # keep patient positions (splits) valid
            out = Cohort(out.mdata[self.patients].copy(), target=self.target)
        return out

    def fingerprint(self) -> str:
        """SHA-256 of the patients, labels, published split (``obs["split"]``, when there is
        one) and every modality's values and feature names."""
        h = hashlib.sha256()
        h.update("\x1f".join(map(str, self.patients)).encode())
        h.update(self.obs[self.target].astype(str).str.cat(sep="\x1f").encode())
        if "split" in self.obs.columns:
            h.update(b"\x1esplit\x1e" + self.obs["split"].astype(str).str.cat(sep="\x1f").encode())
        for name in self.modalities:
            adata = self.mdata.mod[name]
            h.update(name.encode())
            h.update("\x1f".join(map(str, adata.obs_names)).encode())
            h.update("\x1f".join(map(str, adata.var_names)).encode())
            x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
            h.update(np.ascontiguousarray(x).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ I/O
    def write(self, path: str | Path) -> None:
        """Save as ``.h5mu``."""
        self.mdata.write(str(path))

    @classmethod
    def read(cls, path: str | Path, *, target: str = "label") -> Cohort:
        """Read a cohort saved with :meth:`write` (or any conforming ``.h5mu``)."""
        from graphfuse.data._tables import _read_h5mu, _require_file

        _require_file(Path(path), "cohort file")
        return cls(_read_h5mu(Path(path), f"cohort file {path}"), target=target)

    def __repr__(self) -> str:
        avail = self.availability.mean().round(2).to_dict()
        counts = self.obs[self.target].value_counts().to_dict()
        mods = ", ".join(
            f"{name} ({self.kinds[name]}, {self.modality(name).n_vars} features, "
            f"{avail[name]:.0%} of patients)"
            for name in self.modalities
        )
        return f"Cohort({self.n_patients} patients, target {self.target!r} {counts}; {mods})"


def require_patients(have: Iterable[Any], need: Iterable[Any], *, what: str, where: str) -> None:
    """Refuse a table that lacks some of the patients a result covers (a one-paragraph
    :class:`DataError` naming the first missing ones)."""
    have_set = {str(p) for p in have}
    missing = [str(p) for p in need if str(p) not in have_set]
    if missing:
        shown = ", ".join(repr(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"{where} lacks {len(missing)} patient(s) of {what}: {shown}{more}; write into "
            "the MuData the result was computed from (or one holding all its patients: extra "
            "patients are fine and get NaN)"
        )
