"""Base class and registry of fusion models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse._params import StrictModel
from graphfuse.errors import ConfigError
from graphfuse.graphs import PATIENT
from graphfuse.registry import Registry

__all__ = ["MODELS", "TORCH_TASKS", "FusionModel", "ModelParams", "build_model", "graph_kind"]

#: Tasks a torch model with one output per class supports: for ``survival`` it is built with
#: ``n_classes=1`` and its single output is a risk score.
TORCH_TASKS = frozenset({"classification", "survival"})


class ModelParams(StrictModel):
    """Base of a model's hyper-parameters: unknown keys are errors."""


class FusionModel(nn.Module, ABC):
    """A model over a patient ``HeteroData``: ``forward(data) -> logits`` (patients x classes).

    A subclass declares its hyper-parameters as ``Params``, the tasks it supports
    (``tasks``), the kind of graph it reads (``graph_kind``: ``"patient"`` for a patient
    similarity graph, ``"knowledge"`` for a knowledge-graph heterograph) and whether it is
    trained by gradient (``differentiable``; a model fitted in closed form or by a
    scikit-learn estimator sets it to ``False`` and defines ``fit_direct(data)``), and
    builds itself from the graph's modalities and feature sizes. Its constructor
    arguments are recorded (:meth:`spec`) so a trained model can be rebuilt from JSON
    plus a state dict (:func:`graphfuse.models.load_checkpoint`).
    """

    Params: ClassVar[type[ModelParams]] = ModelParams
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    graph_kind: ClassVar[str] = "patient"
    differentiable: ClassVar[bool] = True
    registry_name: ClassVar[str]

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__()
        self.in_dims = dict(in_dims)
        self.n_classes = n_classes
        self.params = self.Params(**params)

    @property
    def modalities(self) -> list[str]:
        return list(self.in_dims)

    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this model (JSON-ready)."""
        return {
            "name": self.registry_name,
            "in_dims": self.in_dims,
            "n_classes": self.n_classes,
            "params": self.params.model_dump(mode="json"),
        }

    @classmethod
    def graph_args(cls, data: HeteroData) -> dict[str, Any]:
        """Constructor arguments taken from the graph besides feature sizes (e.g. a knowledge
        graph's node counts); a model using them records them in :meth:`spec`
        (``"graph_args"``) so a checkpoint rebuilds it. Default: none."""
        return {}

    @abstractmethod
    def forward(self, data: HeteroData) -> torch.Tensor:
        """Logits for every patient node, ``(n_patients, n_classes)``."""


#: Registered models, by config name.
MODELS: Registry[FusionModel] = Registry("model")


def build_model(
    name: str, data: HeteroData, n_classes: int, *, task: str = "classification", **params: Any
) -> FusionModel:
    """Build a registered model sized for ``data``'s modalities.

    Raises
    ------
    ConfigError
        The model does not support ``task``, or reads another kind of graph than ``data``
        (:func:`graph_kind`).
    """
    cls = MODELS.get(name)
    if task not in cls.tasks:
        raise ConfigError(
            f"model {name!r} does not support task {task!r}; it supports {sorted(cls.tasks)}"
        )
    kind = graph_kind(data)
    if kind != cls.graph_kind:
        raise ConfigError(
            f"model {name!r} reads a {cls.graph_kind!r} graph, but the graph given is a "
            f"{kind!r} graph (node types {sorted(data.node_types)}); "
            + (
                "add a graph.knowledge section to the config"
                if kind == "patient"
                else "remove graph.knowledge from the config or pick a patient-graph model"
            )
        )
    in_dims = {m: len(data.feature_names[m]) for m in data.modalities}
    return cls(in_dims, n_classes, **cls.graph_args(data), **params)


def graph_kind(data: HeteroData) -> str:
    """``"knowledge"`` if ``data`` has node types besides ``"patient"`` (genes, pathways, ...),
    else ``"patient"`` (a patient-similarity graph).

    Examples
    --------
    >>> data = HeteroData()
    >>> data["patient"].num_nodes = 3
    >>> graph_kind(data)
    'patient'
    >>> data["gene"].num_nodes = 5
    >>> graph_kind(data)
    'knowledge'
    """
    return "knowledge" if set(data.node_types) - {PATIENT} else "patient"
