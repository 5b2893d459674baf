"""Base class and registry of patient-similarity graph builders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from graphfuse._params import StrictModel
from graphfuse.errors import DataError
from graphfuse.registry import Registry

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = [
    "BUILDERS",
    "FUSED_BUILDERS",
    "BuilderParams",
    "FusedGraphBuilder",
    "PatientGraphBuilder",
    "check_rows",
    "saved",
]


class BuilderParams(StrictModel):
    """Base of a builder's parameters: unknown keys are errors."""


class PatientGraphBuilder(ABC):
    """Builds one modality's patient-similarity edges.

    A builder is given one modality's preprocessed features of the patients that have
    it, and the positions (within those rows) of the patients it may *fit* on. Every
    patient gets neighbours drawn from the fitted patients only, so in the inductive
    setting (fit on training patients) validation, test and new patients are attached
    to training neighbours and never influence the training patients' graph.

    **Attaching new patients.** :meth:`edges` keeps what it fitted; :meth:`attach` then
    connects new rows to the fitted rows without refitting, and :meth:`edges` computes
    its own held-out rows' edges through it, so attaching them later gives the same
    edges and weights. :meth:`state` gives what was fitted beyond the fitted rows'
    features (JSON-ready values and arrays, no pickle) and :meth:`restore` takes it back,
    with those features, in a new builder. A new row receives edges from fitted rows only,
    and its edges do not depend on which other rows are attached with it.

    Subclasses set ``Params`` (a :class:`BuilderParams`) and implement :meth:`edges`,
    :meth:`attach` and :meth:`restore` (and :meth:`state` when they fit anything beyond
    the rows).

    Attributes
    ----------
    n_fitted_
        Number of fitted rows new rows are attached to (``None`` before :meth:`edges`
        or :meth:`restore`).
    """

    Params: ClassVar[type[BuilderParams]] = BuilderParams
    registry_name: ClassVar[str]
    n_fitted_: int | None = None

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)

    @abstractmethod
    def edges(self, x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Edges among the rows of ``x``.

        Parameters
        ----------
        x
            ``float32`` rows x features, no missing values.
        fit
            Sorted row positions the builder may fit on and draw neighbours from.

        Returns
        -------
        edge_index, edge_weight
            ``int64`` array ``(2, E)`` of (source, target) row positions — messages flow
            from source to target — and ``float32`` weights ``(E,)``. No edge may leave a
            row outside ``fit`` towards a row inside ``fit``; the edges of the rows outside
            ``fit`` are those :meth:`attach` gives them.
        """

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What the latest :meth:`edges` (or :meth:`restore`) fitted beyond the fitted rows.

        Returns
        -------
        values, arrays
            JSON-ready scalars, and numpy arrays (for ``.npz`` or safetensors), that
            :meth:`restore` takes back. The fitted rows' features are not among them: the
            caller saves those (``x[fit]`` of the :meth:`edges` call) once for every graph.

        Raises
        ------
        RuntimeError
            Before any :meth:`edges` or :meth:`restore` call.
        """
        self._check_fitted("state")
        return {}, {}

    @abstractmethod
    def restore(
        self, x_ref: np.ndarray, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> Self:
        """Prepare to :meth:`attach` new rows to saved fitted rows, without refitting.

        Parameters
        ----------
        x_ref
            The fitted rows' features: ``x[fit]`` of the :meth:`edges` call, in order.
        values, arrays
            What :meth:`state` returned, after a JSON and ``.npz`` round trip.

        Returns
        -------
        Self
            This builder, ready to :meth:`attach`.
        """

    @abstractmethod
    def attach(self, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges from the fitted rows to new rows.

        Parameters
        ----------
        x_new
            ``float32`` new rows x features (the fitted rows' features, no missing values).

        Returns
        -------
        ref_pos, new_pos, weight
            ``int64`` positions among the fitted rows (rows of ``x_ref``, or ``x[fit]`` of
            the latest :meth:`edges` call) and among the rows of ``x_new``, and ``float32``
            weights, grouped by new row. No edge joins two new rows, and a new row's
            edges do not depend on the other rows of ``x_new``.
        """

    def _check_fitted(self, method: str) -> None:
        if self.n_fitted_ is None:
            raise RuntimeError(
                f"{type(self).__name__}.{method}() needs fitted rows: call edges() or "
                "restore() first"
            )


def check_rows(x: np.ndarray, n_features: int | None, what: str) -> np.ndarray:
    """``x`` as ``float32`` rows x features, checked for shape and missing values.

    ``n_features`` is the number of features the rows must have (``None``: any);
    ``what`` names the rows in the error (``"the new rows of knn"``, say).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"{what} must be a 2-D rows x features array, not of shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(
            f"{what} have {x.shape[1]} features, but the fitted rows have {n_features}: "
            "new rows must be preprocessed like the fitted ones, features in the same order"
        )
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(
            f"{what}: {int(bad.sum())} rows hold missing or infinite values (the first is "
            f"row {int(np.flatnonzero(bad)[0])}); only rows of patients that have the "
            "modality are attached, and none may be missing"
        )
    return x


def saved(values: Mapping[str, Any], key: str, what: str) -> Any:
    """``values[key]`` of a saved state, or a :class:`DataError` naming what lacks it."""
    if key not in values:
        raise DataError(
            f"the saved state of {what} lacks {key!r} (it has {sorted(values)}); restore "
            "takes what state() returned for the same builder and parameters"
        )
    return values[key]


#: Registered patient-similarity graph builders, by config name.
BUILDERS: Registry[PatientGraphBuilder] = Registry("graph builder")


class FusedGraphBuilder(ABC):
    """Builds one patient-similarity graph from all modalities together.

    Where a :class:`PatientGraphBuilder` sees one modality, a fused builder (Similarity
    Network Fusion, say) sees every modality's features and the availability mask and
    returns a single edge set over all patients, stored beside the per-modality graphs
    as edge type ``("patient", "similar_fused", "patient")``. The inductive contract is
    the same: it fits on the patients in ``fit`` only, and every patient gets neighbours
    drawn from them.

    New patients are attached as by a :class:`PatientGraphBuilder`: :meth:`fuse` keeps
    what it fitted, computes its held-out patients' edges through :meth:`attach`, and
    :meth:`state` / :meth:`restore` carry the fitted state to a new builder.

    Subclasses set ``Params`` (a :class:`BuilderParams`) and implement :meth:`fuse`,
    :meth:`attach` and :meth:`restore` (and :meth:`state` when they fit anything).

    Attributes
    ----------
    n_fitted_
        Number of fitted patients (``len(fit)``) new patients are attached to (``None``
        before :meth:`fuse` or :meth:`restore`).
    """

    Params: ClassVar[type[BuilderParams]] = BuilderParams
    registry_name: ClassVar[str]
    n_fitted_: int | None = None

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)

    @abstractmethod
    def fuse(
        self, xs: Mapping[str, np.ndarray], available: np.ndarray, fit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fused edges among all patients.

        Parameters
        ----------
        xs
            Per modality, ``float32`` patients x features for *all* patients (rows of
            patients lacking the modality are ignored; they may hold NaN).
        available
            Boolean patients x modalities, columns in the order of ``xs``.
        fit
            Sorted patient positions the builder may fit on and draw neighbours from.

        Returns
        -------
        edge_index, edge_weight
            As :meth:`PatientGraphBuilder.edges`, over patient positions: no edge leaves
            a patient outside ``fit`` towards one inside it, and the patients outside
            ``fit`` get the edges :meth:`attach` gives them.
        """

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What the latest :meth:`fuse` (or :meth:`restore`) fitted, beyond the features.

        Returns
        -------
        values, arrays
            JSON-ready scalars and numpy arrays that :meth:`restore` takes back, with the
            fitted patients' features and availability (saved by the caller).

        Raises
        ------
        RuntimeError
            Before any :meth:`fuse` or :meth:`restore` call.
        """
        self._check_fitted("state")
        return {}, {}

    @abstractmethod
    def restore(
        self,
        xs_ref: Mapping[str, np.ndarray],
        available_ref: np.ndarray,
        values: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
    ) -> Self:
        """Prepare to :meth:`attach` new patients to saved fitted patients.

        Parameters
        ----------
        xs_ref
            Per modality, the fitted patients' features (rows: ``fit`` of the
            :meth:`fuse` call, in order; rows of patients lacking it may hold NaN).
        available_ref
            Their availability, fitted patients x modalities in the order of ``xs_ref``.
        values, arrays
            What :meth:`state` returned, after a JSON and ``.npz`` round trip.

        Returns
        -------
        Self
            This builder, ready to :meth:`attach`.
        """

    @abstractmethod
    def attach(
        self, xs_new: Mapping[str, np.ndarray], available_new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges from the fitted patients to new patients.

        Parameters
        ----------
        xs_new
            Per modality, the new patients' features (rows of patients lacking it may
            hold NaN); any of the fitted modalities.
        available_new
            Boolean new patients x modalities, columns in the order of ``xs_new``.

        Returns
        -------
        ref_pos, new_pos, weight
            ``int64`` positions among the fitted patients (rows of ``xs_ref``, or ``fit``
            of the latest :meth:`fuse` call) and among the new patients, and ``float32``
            weights, grouped by new patient. No edge joins two new patients, one without
            any modality gets none, and a patient's edges do not depend on the others.
        """

    def _check_fitted(self, method: str) -> None:
        if self.n_fitted_ is None:
            raise RuntimeError(
                f"{type(self).__name__}.{method}() needs fitted patients: call fuse() or "
                "restore() first"
            )


#: Registered fused (multi-modality) graph builders, by config name (``graph.fused.name``).
FUSED_BUILDERS: Registry[FusedGraphBuilder] = Registry("fused graph builder")
