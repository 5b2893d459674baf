"""Omics and imaging preprocessing: per-patient transforms (scanpy), feature selection
and scaling, every statistic from training patients only.

Steps, in order (each optional except imputation of missing values):

1. impute a missing value with the feature's training median (features never observed
   among training patients are dropped);
2. library-size normalisation (scanpy ``normalize_total``): each patient's values are
   divided by that patient's own total, so it has **no fitted state** — except that
   ``normalize_total=True`` takes the target total from the median total of training
   patients (one fitted number, ``target_sum_``);
3. ``log1p`` (scanpy), stateless;
4. drop features constant among training patients (with a warning naming them);
5. feature selection on training patients: highly-variable genes (scanpy
   ``highly_variable_genes``, flavours ``seurat`` / ``cell_ranger``), largest variance, or
   largest ANOVA F between the classes of training patients (MOGONET's preselection,
   Wang et al. 2021, *Nat. Commun.* 12:3445);
6. standardisation with training mean and standard deviation, optionally clipped
   (scanpy ``scale``'s ``max_value``);
7. ``<feature>__missing`` 0/1 columns for kept features with missing values among
   training patients.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd

from graphfuse.data._preprocess_base import (
    Impute,
    ModalityPipeline,
    fit_scaler,
    nan_median,
    warn_dropped,
)
from graphfuse.errors import DataError

__all__ = ["SELECT_METHODS", "NumericPipeline"]

#: Feature-selection methods; ``hvg`` flavours that need no extra package.
SELECT_METHODS = ("hvg", "variance", "anova")
HVG_FLAVORS = ("seurat", "cell_ranger")


class NumericPipeline(ModalityPipeline):
    """Impute, normalise, log-transform, select and scale one omics or imaging modality.

    Parameters
    ----------
    name
        The modality's name.
    kind
        ``"omics"`` or ``"imaging"`` (recorded; imaging configs only set ``scale``).
    impute
        ``"median"``: training median plus ``<feature>__missing`` columns; ``"none"``.
    scale
        Standardise on training patients.
    normalize_total
        ``False``; ``True`` (target = median total of training patients); or a target total.
    log1p
        Apply ``log(1 + x)``.
    select
        ``None`` or ``{"method": "hvg" | "variance" | "anova", "n": int, "flavor": ...}``.
    clip
        After scaling, clip to ``[-clip, clip]``.

    Attributes
    ----------
    observed_
        Input feature positions observed among training patients (all later steps use them).
    fill_
        Training median of each observed feature (imputation value).
    target_sum_
        Library-size target (``None`` when ``normalize_total`` is off).
    scores_
        ``pandas.Series``: selection score (normalised dispersion, variance or F) of each
        feature that reached the selection step; empty without selection.
    columns_
        Input feature positions of the output's value columns.
    mean_, scale_
        Training mean and deviation of each output value column (0 and 1 without scaling).
    indicator_
        Input feature positions that get a ``__missing`` column.
    spread_
        Training standard deviation of each observed feature's input values (before any
        step; :meth:`unlike_training` compares new patients' values against it).
    features_out_, dropped_, steps_
        See :class:`ModalityPipeline`.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(20, (30, 8)).astype(np.float32)
    >>> var = pd.DataFrame(index=[f"g{i}" for i in range(8)])
    >>> pipe = NumericPipeline("rna", normalize_total=1e4, log1p=True,
    ...                        select={"method": "variance", "n": 3})
    >>> pipe.fit(counts[:20], var, np.arange(20) % 2).transform(counts).shape
    (30, 3)
    """

    def __init__(
        self,
        name: str,
        *,
        kind: Literal["omics", "imaging"] = "omics",
        impute: Impute = "median",
        scale: bool = True,
        normalize_total: bool | float = False,
        log1p: bool = False,
        select: dict[str, Any] | None = None,
        clip: float | None = None,
    ) -> None:
        super().__init__(name, impute=impute, scale=scale)
        self.kind = kind
        self.normalize_total = normalize_total
        self.log1p = log1p
        self.select = _check_select(dict(select) if select else None)
        self.clip = clip
        self.observed_ = np.zeros(0, dtype=np.int64)
        self.fill_ = np.zeros(0, dtype=np.float32)
        self.target_sum_: float | None = None
        self.scores_ = pd.Series(dtype=np.float64)
        self.columns_ = np.zeros(0, dtype=np.int64)
        self.mean_ = np.zeros(0, dtype=np.float32)
        self.scale_ = np.ones(0, dtype=np.float32)
        self.indicator_ = np.zeros(0, dtype=np.int64)
        self.spread_ = np.zeros(0, dtype=np.float32)
        self._post = np.zeros(0, dtype=np.int64)  # output positions within observed_

    # ------------------------------------------------------------------ fit
    def fit(self, x: np.ndarray, var: pd.DataFrame, y: np.ndarray) -> NumericPipeline:
        names = np.asarray(var.index.astype(str))
        self.features_in_ = names.tolist()
        self.n_fit_ = len(x)
        self.dropped_, self.steps_ = {}, []
        observed = ~np.isnan(x)
        self.observed_ = np.flatnonzero(observed.any(axis=0))
        never = names[~observed.any(axis=0)].tolist()
        self._drop("never_observed", never)
        self.fill_ = nan_median(x[:, self.observed_])
        self.spread_ = np.nanstd(x[:, self.observed_], axis=0).astype(np.float32)
        n_missing = int((~observed[:, self.observed_].all(axis=0)).sum())
        self.steps_.append({"step": "impute", "strategy": self.impute, "features": n_missing})

        self.target_sum_ = None
        if self.normalize_total is not False:
            if self.normalize_total is True:
                totals = self._imputed(x).sum(axis=1, dtype=np.float64)
                self.target_sum_ = float(np.median(totals))
            else:
                self.target_sum_ = float(self.normalize_total)
            self.steps_.append(
                {
                    "step": "normalize_total",
                    "target_sum": self.target_sum_,
                    "target_from": "training median" if self.normalize_total is True else "config",
                }
            )
        if self.log1p:
            self.steps_.append({"step": "log1p"})
        xo = self._per_patient(x)

        varies = np.ptp(xo, axis=0) > 0
        keep = np.flatnonzero(varies)
        constant = names[self.observed_][~varies].tolist()
        self._drop("constant", constant)
        warn_dropped(self.name, never, constant)
        if not len(keep):
            raise DataError(f"modality {self.name!r}: no feature varies among training patients")
        self.steps_.append({"step": "drop_constant", "features": len(constant)})

        sel = self._fit_select(xo[:, keep], names[self.observed_][keep], y)
        self._post = keep[sel]
        self.columns_ = self.observed_[self._post]
        xs = xo[:, self._post]
        self.mean_, self.scale_ = fit_scaler(xs, self.scale)
        if self.scale:
            self.steps_.append({"step": "scale", "clip": self.clip})
        elif self.clip is not None:
            self.steps_.append({"step": "clip", "clip": self.clip})

        with_missing = ~observed[:, self.columns_].all(axis=0)
        self.indicator_ = (
            self.columns_[with_missing] if self.impute == "median" else np.zeros(0, np.int64)
        )
        if len(self.indicator_):
            self.steps_.append({"step": "missing_indicators", "features": len(self.indicator_)})
        self.features_out_ = names[self.columns_].tolist() + [
            f"{n}__missing" for n in names[self.indicator_].tolist()
        ]
        return self

    def _fit_select(self, x: np.ndarray, names: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Positions (within ``x``'s columns) of the selected features, in input order."""
        self.scores_ = pd.Series(dtype=np.float64)
        if self.select is None:
            return np.arange(x.shape[1])
        method, n = self.select["method"], int(self.select["n"])
        step: dict[str, Any] = {"step": "select", "method": method, "n": n}
        if method == "hvg":
            step["flavor"] = self.select["flavor"]
            try:
                scores = _hvg_scores(x, names, self.select["flavor"], min(n, x.shape[1]), self.name)
            except DataError:
                if n < x.shape[1]:
                    raise
                scores = np.full(x.shape[1], np.nan)  # every feature is kept anyway
        elif method == "variance":
            scores = x.var(axis=0, dtype=np.float64)
        else:
            scores = _anova_scores(x, y, self.name)
        self.scores_ = pd.Series(scores, index=names, name=method)
        if n >= x.shape[1]:
            chosen = np.arange(x.shape[1])
        else:
            ranked = np.where(np.isnan(scores), -np.inf, scores)
            chosen = np.sort(np.argsort(-ranked, kind="stable")[:n])
        step["kept"] = len(chosen)
        self.steps_.append(step)
        self._drop("not_selected", np.delete(names, chosen).tolist())
        return chosen

    # ------------------------------------------------------------------ transform
    def transform(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] != len(self.features_in_):
            raise DataError(
                f"modality {self.name!r}: {x.shape[1]} features, but preprocessing was fitted "
                f"on {len(self.features_in_)}"
            )
        missing = np.isnan(x)
        xs = self._per_patient(x)[:, self._post]
        with np.errstate(over="ignore", invalid="ignore"):  # refused by check_transformed
            xs = (xs - self.mean_) / self.scale_
        if self.clip is not None:
            np.clip(xs, -self.clip, self.clip, out=xs)
        parts = [xs, missing[:, self.indicator_].astype(np.float32)]
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ saved state
    def needed(self) -> list[str]:
        """Input features :meth:`transform` reads: the kept ones, or every observed one
        when the library size (``normalize_total``) sums over them."""
        names = np.asarray(self.features_in_, dtype=object)
        used = self.observed_ if self.target_sum_ is not None else self.columns_
        return names[np.sort(used)].tolist()

    def unlike_training(self, x: np.ndarray) -> float:
        """How far rows of input values lie from the training patients' values: the median,
        over rows and observed features, of ``|x - training median| / training deviation``
        (about 0.7 for rows like the training rows; NaN values and constant features are
        left out; NaN when nothing is left). Over at most 1,000 evenly spaced rows."""
        if len(x) > 1000:
            x = x[np.linspace(0, len(x) - 1, 1000).astype(np.int64)]
        xo = x[:, self.observed_]
        ok = self.spread_ > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(xo[:, ok] - self.fill_[ok]) / self.spread_[ok]
        z = z[~np.isnan(z)]
        return float(np.median(z)) if z.size else float("nan")

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything :meth:`fit` learnt, as JSON-ready values and numeric arrays
        (:meth:`from_state` rebuilds the fitted pipeline from them)."""
        values = {
            "pipeline": "numeric",
            "name": self.name,
            "kind": self.kind,
            "impute": self.impute,
            "scale": self.scale,
            "normalize_total": self.normalize_total,
            "log1p": self.log1p,
            "select": self.select,
            "clip": self.clip,
            **self._fitted_values(),
            "target_sum": self.target_sum_,
            "scores_features": [str(f) for f in self.scores_.index],
            "scores_name": self.scores_.name,
        }
        arrays = {
            "observed": self.observed_,
            "fill": self.fill_,
            "spread": self.spread_,
            "scores": self.scores_.to_numpy(dtype=np.float64),
            "columns": self.columns_,
            "mean": self.mean_,
            "scale": self.scale_,
            "indicator": self.indicator_,
            "post": self._post,
        }
        return values, arrays

    @classmethod
    def from_state(cls, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> NumericPipeline:
        """The fitted pipeline :meth:`state` describes."""
        pipe = cls(
            values["name"],
            kind=values["kind"],
            impute=values["impute"],
            scale=values["scale"],
            normalize_total=values["normalize_total"],
            log1p=values["log1p"],
            select=values["select"],
            clip=values["clip"],
        )
        pipe._restore_fitted(values)
        pipe.target_sum_ = values["target_sum"]
        pipe.scores_ = pd.Series(
            arrays["scores"], index=values["scores_features"], name=values["scores_name"]
        )
        pipe.observed_ = arrays["observed"].astype(np.int64)
        pipe.fill_ = arrays["fill"].astype(np.float32)
        pipe.spread_ = arrays["spread"].astype(np.float32)
        pipe.columns_ = arrays["columns"].astype(np.int64)
        pipe.mean_ = arrays["mean"].astype(np.float32)
        pipe.scale_ = arrays["scale"].astype(np.float32)
        pipe.indicator_ = arrays["indicator"].astype(np.int64)
        pipe._post = arrays["post"].astype(np.int64)
        return pipe

    # ------------------------------------------------------------------ steps
    def _imputed(self, x: np.ndarray) -> np.ndarray:
        xo = x[:, self.observed_]
        return np.where(np.isnan(xo), self.fill_, xo).astype(np.float32, copy=False)

    def _per_patient(self, x: np.ndarray) -> np.ndarray:
        """Imputation and the stateless per-patient steps, on the observed features."""
        xo = self._imputed(x)
        if self.target_sum_ is None and not self.log1p:
            return xo
        import scanpy as sc

        if (xo < 0).any():
            j = int(np.flatnonzero((xo < 0).any(axis=0))[0])
            step = "normalize_total" if self.target_sum_ is not None else "log1p"
            raise DataError(
                f"modality {self.name!r}: {step} needs non-negative values (counts), but "
                f"feature {self.features_in_[self.observed_[j]]!r} has {xo[:, j].min():g}"
            )
        if self.target_sum_ is not None:
            totals = xo.sum(axis=1, dtype=np.float64)
            if (totals == 0).any():
                raise DataError(
                    f"modality {self.name!r}: normalize_total: {int((totals == 0).sum())} "
                    "patient(s) have a total of 0"
                )
            xo = sc.pp.normalize_total(_anndata(xo), target_sum=self.target_sum_, inplace=False)[
                "X"
            ]
        if self.log1p:
            xo = sc.pp.log1p(np.array(xo, dtype=np.float32))
        return np.asarray(xo, dtype=np.float32)


def _check_select(select: dict[str, Any] | None) -> dict[str, Any] | None:
    if select is None:
        return None
    method = select.get("method")
    if method not in SELECT_METHODS:
        raise ValueError(f"select.method {method!r}: expected one of {SELECT_METHODS}")
    unknown = set(select) - {"method", "n", "flavor"}
    if unknown:
        raise ValueError(f"select: unknown key(s) {sorted(unknown)}; valid: method, n, flavor")
    if not isinstance(select.get("n"), int) or select["n"] < 1:
        raise ValueError(f"select.n must be an integer >= 1, got {select.get('n')!r}")
    flavor = select.get("flavor")
    if method == "hvg":
        flavor = flavor or "seurat"
        if flavor not in HVG_FLAVORS:
            raise ValueError(f"select.flavor {flavor!r}: expected one of {HVG_FLAVORS}")
    elif flavor is not None:
        raise ValueError(f"select.flavor applies to method 'hvg' only, not {method!r}")
    return {"method": method, "n": select["n"], "flavor": flavor}


def _anndata(x: np.ndarray, names: np.ndarray | None = None) -> Any:
    import anndata as ad

    var = pd.DataFrame(index=names if names is not None else [f"f{i}" for i in range(x.shape[1])])
    obs = pd.DataFrame(index=[f"p{i}" for i in range(x.shape[0])])
    return ad.AnnData(np.asarray(x, dtype=np.float32), obs=obs, var=var)


def _hvg_scores(x: np.ndarray, names: np.ndarray, flavor: str, n: int, name: str) -> np.ndarray:
    """Normalised dispersion of each feature over training rows (scanpy), log-scale input.

    A modality too small for the flavour (``cell_ranger`` bins features by mean into 20
    bins) is a :class:`DataError` naming it, not scanpy's exception.
    """
    import scanpy as sc

    with warnings.catch_warnings():
        # fewer finite dispersions than n: the NaN ones rank last below, as scanpy does
        warnings.filterwarnings("ignore", "`n_top_genes` > number of normalized", UserWarning)
        # constant features: log(0) dispersion, NaN score, ranked last below
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
        try:
            table = sc.pp.highly_variable_genes(
                _anndata(x, names), flavor=flavor, n_top_genes=n, inplace=False
            )
        except (ValueError, IndexError, KeyError) as exc:
            raise DataError(
                f"modality {name!r}: select method 'hvg' (flavor {flavor!r}) cannot rank its "
                f"{x.shape[1]} feature(s) over {x.shape[0]} training patient(s) (scanpy: "
                f"{str(exc)[:200] or type(exc).__name__}); 'cell_ranger' bins features by mean "
                "into 20 bins and needs many features with distinct means: use flavor "
                "'seurat' or method 'variance' for a modality this small"
            ) from exc
    return table["dispersions_norm"].to_numpy(dtype=np.float64)


def _anova_scores(x: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    """ANOVA F of each feature between the classes of the training rows."""
    from sklearn.feature_selection import f_classif

    if len(np.unique(y)) < 2:
        raise DataError(
            f"modality {name!r}: select method 'anova' needs training patients of at least "
            "two classes"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero within-class variance -> inf
        f, _ = f_classif(x, y)
    return np.asarray(f, dtype=np.float64)
