"""Base class, registry and shared machinery of explainers."""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from torch_geometric.data import HeteroData

from graphfuse._device import DeviceSetting, device_of, on_device
from graphfuse._params import StrictModel
from graphfuse.errors import ConfigError, DataError, format_validation_errors
from graphfuse.explain._attribution import Attribution
from graphfuse.explain._baselines import training_mean
from graphfuse.explain._names import class_names, patient_ids
from graphfuse.graphs import PATIENT, feature_key, graph_info
from graphfuse.models import FusionModel, eval_mode
from graphfuse.registry import Registry

__all__ = [
    "EXPLAINERS",
    "ExplainContext",
    "Explainer",
    "ExplainerOutput",
    "ExplainerParams",
    "build_explainer",
    "explain",
    "target_log_odds",
]


class ExplainerParams(StrictModel):
    """Base of an explainer's parameters: unknown keys are errors."""


@dataclass
class ExplainerOutput:
    """What an explainer's :meth:`Explainer._explain` computes: the raw score arrays that
    :meth:`Explainer.explain` turns into an :class:`Attribution` (no relation to PyG's
    ``Explanation``, which :meth:`Attribution.to_pyg` builds).

    ``features``: ``modality -> (explained patients, features)`` array of scores.
    ``edges``: optional ``edge type name -> DataFrame(source, target, score)`` over
    patient *positions* (the base class turns them into patient ids).
    ``groups``: optional ``grouping name -> DataFrame`` of explained patients (rows, in
    the order of ``ctx.patients``) x groups (columns) of scores, e.g. per modality or
    pathway (the base class indexes the rows by patient id).
    """

    features: dict[str, np.ndarray]
    edges: dict[str, pd.DataFrame] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)


class ExplainContext:
    """Everything an explainer needs, prepared once by :meth:`Explainer.explain`.

    Attributes
    ----------
    model
        The trained model, in eval mode (dropout off).
    data
        The patient graph the model was trained on.
    patients
        Positions of the explained patients (a subset of the graph's nodes).
    target
        Explained class of every patient of the graph (``(n_nodes,)`` long tensor);
        only ``target[patients]`` matters for the explanation.
    target_given
        Whether the caller named the target class (else it is the default: the positive
        class of two, or each patient's predicted class).
    seed, generator
        Seed of the explanation and a ``torch.Generator`` seeded with it (a CPU
        generator: draws are made on the CPU and moved to :attr:`device`, so a seed
        draws the same on every device).
    device
        Where the model and the graph are; every tensor an explainer makes goes there.
    modalities
        The model's modalities, in order.
    available
        ``(n_nodes, n_modalities)`` bool: which patient has which modality.
    """

    def __init__(
        self,
        model: FusionModel,
        data: HeteroData,
        patients: np.ndarray,
        target: torch.Tensor,
        seed: int,
    ) -> None:
        self.model = model
        self.data = data
        self.patients = patients
        self.target = target
        self.target_given = False
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device_of(data)
        self.modalities = list(model.modalities)
        order = list(data.modalities)
        store = data[PATIENT]
        self.available = torch.stack(
            [store.available[:, order.index(m)] for m in self.modalities], dim=1
        )

    @property
    def n_nodes(self) -> int:
        return int(self.data[PATIENT].num_nodes)

    def features(self) -> dict[str, torch.Tensor]:
        """Each modality's feature matrix, rows of patients lacking it set to 0 (not NaN)."""
        store = self.data[PATIENT]
        out = {}
        for i, m in enumerate(self.modalities):
            x = store[feature_key(m)]
            zero = torch.zeros((), dtype=x.dtype, device=x.device)
            out[m] = torch.where(self.available[:, i, None], x, zero)
        return out

    def train_mean(self) -> dict[str, torch.Tensor]:
        """Per modality, the mean feature vector of the *training* patients having it
        (the default baseline of perturbation methods; no label is used; see
        :mod:`graphfuse.explain._baselines`)."""
        return training_mean(self)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits of every node with the given feature matrices in place of the graph's."""
        return self.model(with_features(self.data, features))

    def output(self, logits: torch.Tensor) -> torch.Tensor:
        """The explained scalar per node: log-odds of its target class.

        ``log p_t - log(1 - p_t)``; for two classes this is the logit difference. A model
        with one output (a survival risk) is explained as that output.
        """
        target = self.target
        if logits.dim() == 3:  # (batch, nodes, classes)
            target = target.expand(logits.shape[0], -1)
        return target_log_odds(logits, target)


def target_log_odds(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Log-odds of each row's target class, ``log p_t - log(1 - p_t)``, from class logits
    or log-probabilities (``(..., classes)``, ``target`` of shape ``(...)``); a model's
    single output (a survival risk) is returned as it is.

    Examples
    --------
    >>> target_log_odds(torch.tensor([[0.0, 2.0]]), torch.tensor([1])).tolist()
    [2.0]
    """
    if outputs.shape[-1] == 1:
        return outputs[..., 0]
    logp = torch.log_softmax(outputs, dim=-1)
    lt = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    others = logp.scatter(-1, target.unsqueeze(-1), float("-inf"))
    return lt - torch.logsumexp(others, dim=-1)


def with_features(data: HeteroData, features: Mapping[str, torch.Tensor]) -> HeteroData:
    """A shallow copy of ``data`` whose patient features are replaced (``data`` is untouched)."""
    out = copy.copy(data)
    store = out[PATIENT]
    for m, x in features.items():
        store[feature_key(m)] = x
    return out


class Explainer(ABC):
    """One explanation method: ``explain(model, data) -> Attribution``.

    A subclass declares its parameters (``Params``), whether its scores are signed,
    whether it needs a differentiable model (``needs_gradients``) and whether it can
    explain models on knowledge-graph heterographs (``hetero``), and implements
    :meth:`_explain` on a prepared :class:`ExplainContext`.
    """

    Params: ClassVar[type[ExplainerParams]] = ExplainerParams
    signed: ClassVar[bool] = True
    needs_gradients: ClassVar[bool] = False
    seeded: ClassVar[bool] = False
    hetero: ClassVar[bool] = False
    registry_name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            text = format_validation_errors(
                exc, self.Params, (), f"explainer {self.registry_name!r}", {}
            )
            raise ConfigError(text) from None

    @classmethod
    def unsupported_reason(cls, model: FusionModel) -> str | None:
        """Why this explainer cannot explain ``model`` (``None`` if it can), from what the
        model class declares (``differentiable``, ``graph_kind``).

        Raises
        ------
        TypeError
            ``model`` is not a :class:`~graphfuse.models.FusionModel`.
        """
        check_model(model)
        if cls.needs_gradients and not model.differentiable:
            return "it needs gradients and the model is not differentiable"
        if model.graph_kind == "knowledge" and not cls.hetero:
            return "it does not explain models on knowledge-graph heterographs"
        return None

    @classmethod
    def supports(cls, model: FusionModel) -> bool:
        """Whether this explainer can explain ``model``."""
        return cls.unsupported_reason(model) is None

    def explain(
        self,
        model: FusionModel,
        data: HeteroData,
        *,
        patients: Sequence[int] | np.ndarray | None = None,
        target: int | str | None = None,
        seed: int = 0,
        device: DeviceSetting | None = None,
    ) -> Attribution:
        """Explain ``model``'s output for ``patients`` (default: all) of ``data``.

        Parameters
        ----------
        model
            A trained :class:`~graphfuse.models.FusionModel`.
        data
            Its patient graph.
        patients
            Positions of the patients to explain (default: every patient).
        target
            Class explained, by index or name (``data.classes``). Default: the positive
            (last) class for two classes, each patient's predicted class otherwise.
        seed
            Seed of every random draw the method makes.
        device
            Where to compute (``cpu``, ``cuda``, ``cuda:N``, ``auto`` or a
            :class:`torch.device`): the model is copied there unless it is there already
            (``model`` itself is not moved) and the graph is moved
            (:func:`graphfuse._device.on_device`). ``None`` (default): where the model
            is; the graph must be on the same device. Scores come back as NumPy arrays.

        Raises
        ------
        ConfigError
            The explainer does not support the model.
        DataError
            ``device`` is ``None`` and the model and graph are on different devices.
        """
        reason = self.unsupported_reason(model)
        if reason is not None:
            raise ConfigError(
                f"explainer {self.registry_name!r} cannot explain model "
                f"{model_name(model)!r}: {reason}"
            )
        name = getattr(type(self), "registry_name", type(self).__name__)
        model, data = on_device(model, data, device, who=f"explainer {name!r}")
        n = int(data[PATIENT].num_nodes)
        positions = _patients(patients, n)
        with eval_mode(model):
            with torch.no_grad():
                logits = model(data)
            target_t = _target(target, logits, data)
            ctx = ExplainContext(model, data, positions, target_t, seed)
            ctx.target_given = target is not None
            started = time.perf_counter()
            result = self._explain(ctx)
            seconds = time.perf_counter() - started
        return self._attribution(ctx, result, logits, seconds)

    @abstractmethod
    def _explain(self, ctx: ExplainContext) -> ExplainerOutput:
        """Compute scores for ``ctx.patients``."""

    def _attribution(
        self, ctx: ExplainContext, result: ExplainerOutput, logits: torch.Tensor, seconds: float
    ) -> Attribution:
        data = ctx.data
        ids = patient_ids(data)
        index = pd.Index(ids[ctx.patients], name="patient")
        scores = {}
        for i, m in enumerate(ctx.modalities):
            values = np.asarray(result.features[m], dtype=np.float64)
            expected = (len(ctx.patients), len(data.feature_names[m]))
            if values.shape != expected:
                raise RuntimeError(
                    f"explainer {self.registry_name!r} returned {values.shape} scores for "
                    f"modality {m!r}; expected {expected}"
                )
            values = values.copy()
            values[~ctx.available[ctx.patients, i].cpu().numpy()] = np.nan
            scores[m] = pd.DataFrame(values, index=index, columns=list(data.feature_names[m]))
        classes = class_names(data, logits.shape[1])
        if logits.shape[1] == 1:
            risk = logits[ctx.patients, 0].cpu().numpy()
            prediction = pd.DataFrame({"risk": risk}, index=index)
            output = "risk score"
        else:
            proba = torch.softmax(logits, dim=1)[ctx.patients].cpu().numpy()
            prediction = pd.DataFrame(proba, index=index, columns=[f"p_{c}" for c in classes])
            prediction["target"] = np.asarray(classes, dtype=object)[
                ctx.target[ctx.patients].cpu().numpy()
            ]
            output = "log-odds of the target class"
        edges = {}
        for name, frame in result.edges.items():
            frame = frame.copy()
            frame["source"] = ids[frame["source"].to_numpy()]
            frame["target"] = ids[frame["target"].to_numpy()]
            edges[name] = frame
        groups = {name: frame.set_axis(index, axis=0) for name, frame in result.groups.items()}
        genes = graph_info(data).feature_genes or {}
        return Attribution(
            method=self.registry_name,
            scores=scores,
            prediction=prediction,
            params=self.params.model_dump(mode="json"),
            seed=ctx.seed if self.seeded else None,
            seconds=seconds,
            signed=self.signed,
            output=output,
            edge_scores=edges,
            feature_genes={m: dict(g) for m, g in genes.items() if m in scores},
            groups=groups,
            diagnostics=dict(result.diagnostics),
        )


#: Registered explainers, by name.
EXPLAINERS: Registry[Explainer] = Registry("explainer")


def build_explainer(name: str, **params: Any) -> Explainer:
    """The registered explainer ``name`` with its parameters validated."""
    return EXPLAINERS.get(name)(**params)


def explain(
    model: FusionModel,
    data: HeteroData,
    method: str,
    *,
    patients: Sequence[int] | np.ndarray | None = None,
    target: int | str | None = None,
    seed: int = 0,
    device: DeviceSetting | None = None,
    **params: Any,
) -> Attribution:
    """Explain ``model`` on ``data`` with the registered explainer ``method``
    (:meth:`Explainer.explain`; ``device``: where to compute, default where the model is).

    Examples
    --------
    >>> from graphfuse.explain import EXPLAINERS
    >>> "saliency" in EXPLAINERS
    True
    """
    return build_explainer(method, **params).explain(
        model, data, patients=patients, target=target, seed=seed, device=device
    )


def check_model(model: Any) -> None:
    """Refuse anything but a :class:`~graphfuse.models.FusionModel` (its class declares
    what explainers read: ``modalities``, ``differentiable``, ``graph_kind``)."""
    if not isinstance(model, FusionModel):
        raise TypeError(
            "explainers explain graphfuse.models.FusionModel instances (graphfuse.models."
            f"build_model or a registered model class); got {type(model).__name__}"
        )


def model_name(model: FusionModel) -> str:
    """The model's registered name; its class name for a class that is not registered
    (``registry_name`` is set by ``MODELS.register``, e.g. test doubles have none)."""
    return getattr(type(model), "registry_name", type(model).__name__)


def _patients(patients: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if patients is None:
        return np.arange(n)
    pos = np.asarray(patients)
    if pos.dtype == bool:
        if len(pos) != n:
            raise DataError(f"patients mask has {len(pos)} entries; the graph has {n} patients")
        return np.flatnonzero(pos)
    if not np.issubdtype(pos.dtype, np.integer):
        raise DataError(f"patients must be positions (integers) or a mask; got {pos.dtype}")
    if len(pos) == 0:
        raise DataError("no patients to explain")
    bad = pos[(pos < 0) | (pos >= n)]
    if len(bad):
        raise DataError(f"patient positions {bad[:5].tolist()} out of range 0..{n - 1}")
    return pos.astype(np.int64)


def _target(target: int | str | None, logits: torch.Tensor, data: HeteroData) -> torch.Tensor:
    n, c = logits.shape
    if c == 1:
        return torch.zeros(n, dtype=torch.long, device=logits.device)
    if target is None:
        if c == 2:
            return torch.ones(n, dtype=torch.long, device=logits.device)
        return logits.argmax(dim=1)
    classes = class_names(data, c)
    if isinstance(target, str):
        if target not in classes:
            raise DataError(f"target class {target!r} is not one of {classes}")
        index = classes.index(target)
    else:
        index = int(target)
        if not 0 <= index < c:
            raise DataError(f"target class {index} out of range 0..{c - 1} (classes {classes})")
    return torch.full((n,), index, dtype=torch.long, device=logits.device)
