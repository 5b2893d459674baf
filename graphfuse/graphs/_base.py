"""Base class and registry of patient-similarity graph builders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from graphfuse._params import StrictModel
from graphfuse.registry import Registry

__all__ = [
    "BUILDERS",
    "FUSED_BUILDERS",
    "BuilderParams",
    "FusedGraphBuilder",
    "PatientGraphBuilder",
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

    Subclasses set ``Params`` (a :class:`BuilderParams`) and implement :meth:`edges`.
    """

    Params: ClassVar[type[BuilderParams]] = BuilderParams
    registry_name: ClassVar[str]

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
            row outside ``fit`` towards a row inside ``fit``.
        """


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

    Subclasses set ``Params`` (a :class:`BuilderParams`) and implement :meth:`fuse`.
    """

    Params: ClassVar[type[BuilderParams]] = BuilderParams
    registry_name: ClassVar[str]

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
            a patient outside ``fit`` towards one inside it.
        """


#: Registered fused (multi-modality) graph builders, by config name (``graph.fused.name``).
FUSED_BUILDERS: Registry[FusedGraphBuilder] = Registry("fused graph builder")
