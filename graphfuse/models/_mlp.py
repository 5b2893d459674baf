"""Graph-free baselines: early fusion (concatenation) and late fusion (averaged predictions).

A graph model that does not beat these is not worth shipping; they take the same
``HeteroData`` (and ignore its edges), so every comparison is one config change.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models._base import MODELS, TORCH_TASKS, FusionModel, ModelParams

__all__ = ["EarlyFusionMLP", "LateFusionMLP"]


class MLPParams(ModelParams):
    hidden: int = Field(64, ge=1, le=4096)
    layers: int = Field(2, ge=1, le=8)
    """Linear layers (the last one outputs the classes)."""
    dropout: float = Field(0.5, ge=0.0, lt=1.0)


def _mlp(d_in: int, d_out: int, p: MLPParams) -> nn.Sequential:
    dims = [d_in] + [p.hidden] * (p.layers - 1) + [d_out]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers += [nn.ReLU(), nn.Dropout(p.dropout)]
    return nn.Sequential(*layers)


def _modality_inputs(
    data: HeteroData, modalities: list[str]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per modality: features with absent rows zeroed, and the availability column."""
    store = data[PATIENT]
    order = list(data.modalities)
    out = []
    for m in modalities:
        have = store.available[:, order.index(m)]
        out.append((torch.where(have[:, None], store[feature_key(m)], 0.0), have))
    return out


@MODELS.register("early_mlp")
class EarlyFusionMLP(FusionModel):
    """Concatenate every modality's features and the availability mask; one MLP.

    A patient lacking a modality has that block set to 0 **and** its availability flag
    (an input) set to 0, so the model can tell "absent" from "measured as zero" — the
    imputation is explicit, not silent.
    """

    Params = MLPParams
    tasks = TORCH_TASKS

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        self.net = _mlp(sum(self.in_dims.values()) + len(self.in_dims), n_classes, self.params)

    def forward(self, data: HeteroData) -> torch.Tensor:
        parts = _modality_inputs(data, self.modalities)
        x = torch.cat([x for x, _ in parts] + [torch.stack([h for _, h in parts], 1).float()], 1)
        return self.net(x)


@MODELS.register("late_mlp")
class LateFusionMLP(FusionModel):
    """One MLP per modality; the logits are averaged over the modalities a patient has."""

    Params = MLPParams
    tasks = TORCH_TASKS

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        self.nets = nn.ModuleDict({m: _mlp(d, n_classes, self.params) for m, d in in_dims.items()})

    def forward(self, data: HeteroData) -> torch.Tensor:
        total, count = 0.0, 0.0
        for (x, have), m in zip(
            _modality_inputs(data, self.modalities), self.modalities, strict=True
        ):
            w = have[:, None].float()
            total = total + self.nets[m](x) * w
            count = count + w
        return total / count.clamp(min=1.0)
