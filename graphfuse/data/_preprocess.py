"""Per-modality preprocessing fitted on training patients only.

:class:`Preprocessor` runs one pipeline per modality, chosen by the modality's kind:

- ``omics`` and ``imaging``: :class:`~graphfuse.data._preprocess_numeric.NumericPipeline`
  (imputation, optional scanpy ``normalize_total`` / ``log1p``, feature selection,
  scaling; imaging takes scaling only);
- ``clinical``: :class:`~graphfuse.data._preprocess_clinical.ClinicalPipeline`
  (numeric scaled, binary kept, ordinal ordered, categorical one-hot).

Every statistic — medians, modes, library-size target, highly-variable genes, variances,
ANOVA F (on training labels), scaler means and deviations, one-hot categories — comes from
the training patients that have the modality; the other patients are transformed, never
fitted on. Patients lacking a modality get NaN rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from graphfuse.data._cohort import Cohort
from graphfuse.data._config import PreprocessConfig
from graphfuse.data._preprocess_base import ModalityPipeline
from graphfuse.data._preprocess_clinical import ClinicalPipeline
from graphfuse.data._preprocess_numeric import NumericPipeline
from graphfuse.errors import ConfigError, DataError, format_validation_errors

__all__ = ["ModalityMatrix", "Preprocessor", "check_transformed"]


@dataclass
class ModalityMatrix:
    """One modality's preprocessed features for every patient of a cohort.

    Attributes
    ----------
    name, kind
        Modality name and kind.
    x
        ``float32`` patients x features; rows of patients lacking the modality are NaN.
    features
        Feature names (including ``<feature>__missing`` indicators added by imputation and
        ``<feature>=<category>`` one-hot columns).
    available
        Boolean per patient: has this modality.
    """

    name: str
    kind: str
    x: np.ndarray
    features: list[str]
    available: np.ndarray


class Preprocessor:
    """Preprocess each modality with statistics of training patients only.

    Parameters
    ----------
    scale
        Standardise features on training patients (default of every modality; a kind or
        modality section's own ``scale`` overrides it).
    impute
        ``"median"``: a missing value becomes the feature's training median (mode for
        binary and categorical columns) and, for features with missing values among
        training patients, a ``<feature>__missing`` 0/1 column is added. ``"none"``: a
        missing value is an error naming the modality, feature and patient.
    omics
        Omics modality name -> its steps (:class:`graphfuse.data.OmicsPreprocessConfig`
        or the same as a dict), e.g.
        ``{"rna": {"normalize_total": 1e4, "log1p": True, "select": {"method": "hvg",
        "n": 1000}}}``. Unlisted omics modalities are imputed and scaled only.
    imaging
        ``{"scale": bool | None}`` for every imaging modality.
    clinical
        ``{"scale": bool | None, "unseen": "warn" | "error"}`` for every clinical modality.

    Attributes
    ----------
    config
        The validated :class:`graphfuse.data.PreprocessConfig`.
    fitted_
        Modality -> its fitted pipeline (``NumericPipeline`` or ``ClinicalPipeline``), whose
        trailing-underscore attributes hold the state learnt from training patients:
        ``fill_``, ``target_sum_``, ``scores_`` (selection), ``columns_``, ``mean_``,
        ``scale_``, ``categories_``, ``features_out_``, ``dropped_``, ``steps_``.
    dropped_
        Modality -> features dropped for being constant or never observed among training
        patients (modalities that dropped none are absent).

    Raises
    ------
    ConfigError
        Invalid options, naming the key.

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort
    >>> cohort = make_synthetic_cohort(60, n_genes=100, n_pathways=10, seed=0)
    >>> pre = Preprocessor(omics={"expression": {"select": {"method": "variance", "n": 20}}})
    >>> mats = pre.fit(cohort, np.arange(40)).transform(cohort)
    >>> mats["expression"].x.shape
    (60, 20)
    >>> pre.summary()["expression"]["n_features_out"]
    20
    """

    def __init__(
        self,
        *,
        scale: bool = True,
        impute: Literal["median", "none"] = "median",
        omics: Mapping[str, Any] | None = None,
        imaging: Mapping[str, Any] | None = None,
        clinical: Mapping[str, Any] | None = None,
    ) -> None:
        raw: dict[str, Any] = {"scale": scale, "impute": impute, "omics": dict(omics or {})}
        if imaging is not None:
            raw["imaging"] = imaging
        if clinical is not None:
            raw["clinical"] = clinical
        try:
            config = PreprocessConfig.model_validate(_plain(raw))
        except ValidationError as exc:
            raise ConfigError(
                format_validation_errors(exc, PreprocessConfig, ("preprocess",), "Preprocessor", {})
            ) from None
        self._init(config)

    @classmethod
    def from_config(cls, config: PreprocessConfig) -> Preprocessor:
        """The preprocessor a config's ``data.preprocess`` section describes."""
        return cls(**config.model_dump())

    def _init(self, config: PreprocessConfig) -> None:
        self.config = config
        self.fitted_: dict[str, ModalityPipeline] = {}
        self.dropped_: dict[str, list[str]] = {}

    @property
    def scale(self) -> bool:
        return self.config.scale

    @property
    def impute(self) -> str:
        return self.config.impute

    # ------------------------------------------------------------------ pipelines
    def pipeline(self, name: str, kind: str) -> ModalityPipeline:
        """A fresh, unfitted pipeline for modality ``name`` of ``kind``, per the config."""
        cfg = self.config
        if kind == "omics":
            own = cfg.omics.get(name)
            if own is None:
                return NumericPipeline(name, impute=cfg.impute, scale=cfg.scale)
            return NumericPipeline(
                name,
                kind="omics",
                impute=cfg.impute,
                scale=cfg.scale if own.scale is None else own.scale,
                normalize_total=own.normalize_total,
                log1p=own.log1p,
                select=own.select.model_dump() if own.select is not None else None,
                clip=own.clip,
            )
        if kind == "imaging":
            scale = cfg.scale if cfg.imaging.scale is None else cfg.imaging.scale
            return NumericPipeline(name, kind="imaging", impute=cfg.impute, scale=scale)
        if kind == "clinical":
            scale = cfg.scale if cfg.clinical.scale is None else cfg.clinical.scale
            return ClinicalPipeline(
                name, impute=cfg.impute, scale=scale, unseen=cfg.clinical.unseen
            )
        raise DataError(f"modality {name!r}: no preprocessing for kind {kind!r}")

    # ------------------------------------------------------------------ fit / transform
    def fit(self, cohort: Cohort, train: np.ndarray) -> Preprocessor:
        """Learn each modality's statistics from the training patients.

        Parameters
        ----------
        cohort
            The whole cohort.
        train
            Integer positions of the training patients; only their values and labels
            are read to fit.

        Returns
        -------
        Preprocessor
            ``self``, with :attr:`fitted_` and :attr:`dropped_` set.
        """
        train = np.asarray(train)
        self._check_options(cohort)
        avail = cohort.availability
        y = cohort.y
        self.fitted_, self.dropped_ = {}, {}
        for name in cohort.modalities:
            x = cohort.matrix(name)
            features = cohort.modality(name).var_names.astype(str).tolist()
            self._check_values(cohort, name, x, features)
            rows = train[avail[name].to_numpy()[train]]
            if len(rows) < 2:
                raise DataError(
                    f"modality {name!r}: only {len(rows)} training patient(s) have it; "
                    "at least 2 are needed to fit preprocessing"
                )
            pipe = self.pipeline(name, cohort.kinds[name])
            pipe.fit(x[rows], cohort.modality(name).var, y[rows])
            self.fitted_[name] = pipe
            dropped = set(
                pipe.dropped_.get("never_observed", []) + pipe.dropped_.get("constant", [])
            )
            if dropped:
                self.dropped_[name] = [f for f in features if f in dropped]
        return self

    def transform(self, cohort: Cohort) -> dict[str, ModalityMatrix]:
        """Apply the fitted pipelines to every patient of ``cohort``.

        Returns
        -------
        dict
            Modality -> :class:`ModalityMatrix`; NaN rows for patients lacking it.
        """
        if not self.fitted_:
            raise RuntimeError("Preprocessor.transform() called before fit()")
        out = {}
        avail = cohort.availability
        for name, pipe in self.fitted_.items():
            x = cohort.matrix(name)
            features = cohort.modality(name).var_names.astype(str).tolist()
            if features != pipe.features_in_:
                raise DataError(
                    f"modality {name!r}: its features differ from those preprocessing was "
                    f"fitted on ({len(features)} vs {len(pipe.features_in_)} features)"
                )
            self._check_values(cohort, name, x, features)
            has = avail[name].to_numpy()
            full = np.full((cohort.n_patients, len(pipe.features_out_)), np.nan, np.float32)
            full[has] = check_transformed(pipe, pipe.transform(x[has]), cohort.patients[has])
            out[name] = ModalityMatrix(
                name, cohort.kinds[name], full, list(pipe.features_out_), has
            )
        return out

    def fit_transform(self, cohort: Cohort, train: np.ndarray) -> dict[str, ModalityMatrix]:
        """:meth:`fit` on ``train``, then :meth:`transform` every patient."""
        return self.fit(cohort, train).transform(cohort)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per modality: kind, steps with their parameters, features in and out, dropped.

        Plain JSON-ready data; :func:`graphfuse.experiment.fit` logs it to MLflow as
        ``preprocess.json``.
        """
        if not self.fitted_:
            raise RuntimeError("Preprocessor.summary() called before fit()")
        return {name: pipe.summary() for name, pipe in self.fitted_.items()}

    # ------------------------------------------------------------------ saved state
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything :meth:`fit` learnt, as JSON-ready values and numeric arrays (keys
        ``<modality>/<name>``); :meth:`from_state` rebuilds the fitted preprocessor.

        Raises
        ------
        RuntimeError
            Called before :meth:`fit`.
        """
        if not self.fitted_:
            raise RuntimeError("Preprocessor.state() called before fit()")
        values: dict[str, Any] = {"config": self.config.model_dump(mode="json"), "modalities": {}}
        arrays: dict[str, np.ndarray] = {}
        for name, pipe in self.fitted_.items():
            v, a = pipe.state()  # type: ignore[attr-defined]
            values["modalities"][name] = v
            arrays |= {f"{name}/{key}": value for key, value in a.items()}
        values["dropped"] = {k: list(v) for k, v in self.dropped_.items()}
        return values, arrays

    @classmethod
    def from_state(cls, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """The fitted preprocessor :meth:`state` describes (no training data needed)."""
        pre = cls.from_config(PreprocessConfig.model_validate(values["config"]))
        for name, v in values["modalities"].items():
            own = {k.split("/", 1)[1]: a for k, a in arrays.items() if k.split("/", 1)[0] == name}
            kind = ClinicalPipeline if v["pipeline"] == "clinical" else NumericPipeline
            pre.fitted_[name] = kind.from_state(v, own)
        pre.dropped_ = {k: list(v) for k, v in values["dropped"].items()}
        return pre

    # ------------------------------------------------------------------ checks
    def _check_options(self, cohort: Cohort) -> None:
        kinds = cohort.kinds
        wrong = {m: kinds[m] for m in self.config.omics if m in kinds and kinds[m] != "omics"}
        if wrong:
            m, kind = next(iter(wrong.items()))
            raise ConfigError(
                f"data.preprocess.omics.{m}: modality {m!r} is {kind}, not omics; "
                f"use data.preprocess.{kind}"
            )
        absent = [m for m in self.config.omics if m not in kinds]
        if absent:
            omics = [m for m, k in kinds.items() if k == "omics"]
            warnings.warn(
                f"data.preprocess.omics names modalities not in the cohort {absent} (ignored); "
                f"its omics modalities: {omics}",
                UserWarning,
                stacklevel=3,
            )

    def _check_values(self, cohort: Cohort, name: str, x: np.ndarray, features: list[str]) -> None:
        has = cohort.availability[name].to_numpy()
        xa = x[has]
        bad = np.isinf(xa)
        if self.impute == "none":
            bad |= np.isnan(xa)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            patient = cohort.patients[np.flatnonzero(has)[r]]
            what = "infinite" if np.isinf(xa[r, c]) else "missing (NaN)"
            hint = "" if np.isinf(xa[r, c]) else " (set data.preprocess.impute: median to impute)"
            raise DataError(
                f"modality {name!r}, feature {features[c]!r}, patient {patient!r}: value is "
                f"{what}; {int(bad.sum())} such value(s) in this modality{hint}"
            )

    def __repr__(self) -> str:
        state = f"fitted on {list(self.fitted_)}" if self.fitted_ else "not fitted"
        return f"Preprocessor({state})"


def check_transformed(pipe: ModalityPipeline, out: np.ndarray, patients: Any) -> np.ndarray:
    """``out`` (a pipeline's transform of ``patients``' rows) when every value is finite;
    else an error naming the modality, the output feature and the patient: a finite input
    can overflow float32 in a step (a value of 1e38 scaled by a deviation below 1)."""
    bad = ~np.isfinite(out)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"modality {pipe.name!r}, feature {pipe.features_out_[c]!r}, patient "
            f"{patients[r]!r}: preprocessing made the value {out[r, c]} (its input is finite "
            f"but too large for float32 arithmetic after "
            f"{', '.join(s['step'] for s in pipe.steps_) or 'its steps'}); no non-finite value "
            f"reaches a model ({int(bad.sum())} such value(s)); rescale the feature"
        )
    return out


def _plain(value: Any) -> Any:
    """Config models inside a dict -> plain data, so the whole is validated at once."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
