"""Base class and registry of fusion models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse._params import StrictModel
from graphfuse.errors import ConfigError
from graphfuse.graphs import PATIENT
from graphfuse.registry import Registry

__all__ = [
    "MODELS",
    "TORCH_TASKS",
    "FusionModel",
    "ModalityFusionModel",
    "ModelParams",
    "OutputKind",
    "PropagationLayer",
    "build_model",
    "graph_kind",
]

#: Tasks a torch model with one output per class supports: for ``survival`` it is built with
#: ``n_classes=1`` and its single output is a risk score.
TORCH_TASKS = frozenset({"classification", "survival"})


#: What a model's ``forward`` returns per patient: class ``"logits"``, class
#: ``"log_probabilities"`` or one ``"risk"`` score (a model built with one output).
OutputKind = Literal["logits", "log_probabilities", "risk"]


class ModelParams(StrictModel):
    """Base of a model's hyper-parameters: unknown keys are errors."""


class FusionModel(nn.Module, ABC):
    """A model over a patient ``HeteroData``: ``forward(data)`` -> ``(n_patients, n_outputs)``.

    A subclass declares, as class attributes,

    - its hyper-parameters (``Params``) and the tasks it supports (``tasks``);
    - the kind of graph it reads (``graph_kind``: ``"patient"`` for a patient-similarity
      graph, ``"knowledge"`` for a knowledge-graph heterograph);
    - what its outputs are (``class_outputs``: ``"logits"`` or ``"log_probabilities"``;
      :attr:`output_kind` is ``"risk"`` for a model built with one output);
    - whether it is trained by gradient (``differentiable``). A model fitted in closed
      form or by a scikit-learn estimator sets it to ``False`` and must define
      ``fit_direct(data)`` (checked when the class is defined);

    and builds itself from the graph's modalities and feature sizes. Its constructor
    arguments are recorded (:meth:`spec`) so a trained model can be rebuilt from JSON
    plus a state dict (:func:`graphfuse.models.load_checkpoint`).

    The trainer's hooks are methods with defaults a model overrides when it needs them:
    :meth:`pretrain` (a phase before the epochs), :meth:`param_groups` (optimiser groups),
    :meth:`auxiliary_loss` (extra losses of the last training forward pass). Explainers
    read :meth:`receptive_field`.
    """

    Params: ClassVar[type[ModelParams]] = ModelParams
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    graph_kind: ClassVar[str] = "patient"
    differentiable: ClassVar[bool] = True
    class_outputs: ClassVar[Literal["logits", "log_probabilities"]] = "logits"
    registry_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.differentiable and not callable(getattr(cls, "fit_direct", None)):
            raise TypeError(
                f"{cls.__qualname__} declares differentiable = False but defines no "
                "fit_direct(data): the trainer could not fit it"
            )

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__()
        self.in_dims = dict(in_dims)
        self.n_classes = n_classes
        self.params = self.Params(**params)

    @property
    def modalities(self) -> list[str]:
        return list(self.in_dims)

    @property
    def output_kind(self) -> OutputKind:
        """``"risk"`` for a model with one output (a survival risk score), else
        :attr:`class_outputs` (``"logits"`` or ``"log_probabilities"``)."""
        return "risk" if self.n_classes == 1 else self.class_outputs

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
        """Outputs for every patient node, ``(n_patients, n_outputs)`` (:attr:`output_kind`)."""

    # ----------------------------------------------------------- trainer hooks

    def pretrain(self, data: HeteroData, mask: torch.Tensor, *, weight_decay: float = 0.0) -> int:
        """A training phase of the model's own before the trainer's epochs, on the patients
        in ``mask``; returns the epochs it ran. Default: none (0)."""
        return 0

    def param_groups(self, lr: float) -> Iterable[torch.nn.Parameter] | list[dict[str, Any]]:
        """What the trainer's Adam optimiser updates: parameters, or parameter groups with
        their own learning rates. Default: every parameter at ``lr``."""
        return self.parameters()

    def auxiliary_loss(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """A loss the trainer adds to the task's loss, from the last forward pass in
        training mode (``y``: every patient's class; ``mask``: the training patients).
        Default: 0."""
        return torch.zeros((), device=y.device)

    def patient_embedding(self, data: HeteroData) -> torch.Tensor | None:
        """Every patient's embedding, ``(n_patients, dim)``: the representation the output
        layer reads. ``None``: the model has none to give (default)."""
        return None

    # ------------------------------------------------------------ explainer facts

    def receptive_field(self) -> int | None:
        """Edge hops beyond which a patient's features cannot change another patient's
        output, if the model knows it (e.g. its number of message-passing layers);
        ``None``: unknown. Explainers use it to batch perturbations, after checking it
        against a measurement. Default: ``None``."""
        return None


@dataclass(frozen=True)
class PropagationLayer:
    """One encoder layer that is linear in its input before an elementwise activation.

    ``z = A (h W^T) + b + h R^T`` and ``h' = activation(z)``, with ``A`` given by its
    entries ``A[dst, src] = edge_weight`` (``edge_index = [src, dst]``; repeated entries
    add up). Layers of one modality that share ``A`` share the ``edge_index`` and
    ``edge_weight`` tensor objects. What :meth:`ModalityFusionModel.propagation` returns;
    the incremental perturbation engine of :mod:`graphfuse.explain` evaluates a model
    from it.

    Attributes
    ----------
    edge_index, edge_weight
        ``(2, E)`` source and target nodes and ``(E,)`` weights of the propagation matrix.
    weight
        ``W``, ``(out, in)``.
    bias
        ``b``, ``(out,)``, or ``None``.
    root
        ``R``, ``(out, in)``: a separate map of the node's own input, or ``None``.
    activation
        The elementwise activation.
    """

    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None
    root: torch.Tensor | None
    activation: Callable[[torch.Tensor], torch.Tensor]


class ModalityFusionModel(FusionModel):
    """A model made of one encoder per modality followed by a fusion of their embeddings.

    ``forward(data) = fuse(*encode(data))``, where

    - :meth:`embed` gives every patient's embedding per modality,
      ``(patients, modalities, hidden)`` (rows of a modality a patient lacks are 0), and
      the availability mask ``(patients, modalities)``, modalities in :attr:`modalities`
      order;
    - :meth:`complete` stands in for absent modalities (default: nothing), giving the
      embeddings and the mask of filled slots the fusion reads (:meth:`encode`);
    - :meth:`fuse` maps them to the outputs.

    A patient's stand-ins never depend on its own features, and :meth:`fuse` treats every
    patient's row on its own, so a change of one patient's features reaches its output
    only through its own and its neighbours' embeddings. A model whose encoders are linear
    propagations followed by an activation also describes them (:meth:`propagation`), and
    explainers then evaluate feature perturbations incrementally.
    """

    @abstractmethod
    def embed(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality embeddings ``(patients, modalities, hidden)`` and the availability
        mask ``(patients, modalities)``; rows of absent modalities are 0."""

    def complete(
        self, h: torch.Tensor, mask: torch.Tensor, data: HeteroData
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stand-ins for the slots of absent modalities and the mask of filled slots.
        Default: none (``h`` and ``mask`` as given)."""
        return h, mask

    def encode(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        """The embeddings and mask the fusion reads: :meth:`complete` of :meth:`embed`."""
        return self.complete(*self.embed(data), data)

    @abstractmethod
    def fuse(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Outputs ``(patients, n_outputs)`` from embeddings ``(patients, modalities,
        hidden)`` and the mask of filled slots; each row on its own."""

    def forward(self, data: HeteroData) -> torch.Tensor:
        return self.fuse(*self.encode(data))

    def patient_embedding(self, data: HeteroData) -> torch.Tensor:
        """The mean of a patient's filled embedding slots (:meth:`encode`), ``(n_patients,
        hidden)``: its modalities' embeddings and any stand-ins, absent ones left out."""
        h, mask = self.encode(data)
        weight = mask.to(h.dtype)[..., None]
        return (h * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1)

    def propagation(self, data: HeteroData, modality: str) -> list[PropagationLayer] | None:
        """The layers of ``modality``'s encoder on ``data`` as linear propagations
        (:class:`PropagationLayer`), in eval mode; ``None`` when they are not of that
        form. Default: ``None``."""
        return None


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
