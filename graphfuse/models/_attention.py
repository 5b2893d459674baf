"""Per-modality GCN encoders fused by attention over the modalities each patient has."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse.models._base import MODELS
from graphfuse.models._gcn_fusion import GCNFusion, GCNFusionParams

__all__ = ["AttentionFusion"]


class AttentionParams(GCNFusionParams):
    attention_hidden: int = Field(32, ge=1, le=4096)
    """Width of the scoring network."""


@MODELS.register("attention")
class AttentionFusion(GCNFusion):
    """GCN encoders per modality, fused by a masked softmax over each patient's modalities.

    The encoders are those of :class:`~graphfuse.models.GCNFusion` (one GCN stack per
    modality graph, giving ``h_m`` per patient). Each embedding gets a score
    ``s_m = v^T tanh(W h_m) + b_m`` (``W``, ``v`` shared across modalities, ``b_m`` a learned
    per-modality bias); the fusion weights are the softmax of the scores over the
    modalities the patient has — absent ones get weight exactly 0 — and the fused
    embedding ``sum_m a_m h_m`` goes through an MLP head (additive attention, Bahdanau et
    al. 2015, as used for multimodal fusion e.g. by Ilse et al., ICML 2018).

    The weights are a per-patient, per-modality explanation:
    :meth:`attention_weights`. With ``missing="learned"`` or ``"neighbors"``, an absent
    modality whose embedding was stood in for takes part in the softmax like an
    available one (its weight says how much the stand-in was used).

    Parameters
    ----------
    in_dims
        Features per modality.
    n_classes
        Outputs (classes; 1 for a survival risk score).
    **params
        See :class:`AttentionParams` (those of ``gcn_fusion`` plus ``attention_hidden``).

    Examples
    --------
    >>> model = AttentionFusion({"expression": 100, "imaging": 20}, 2, hidden=16)
    >>> model.spec()["params"]["attention_hidden"]
    32
    """

    Params = AttentionParams

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        p = self.params
        self.score = nn.Sequential(
            nn.Linear(p.hidden, p.attention_hidden),
            nn.Tanh(),
            nn.Linear(p.attention_hidden, 1, bias=False),
        )
        self.modality_bias = nn.Parameter(torch.zeros(len(self.in_dims)))

    def _weights(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(h).squeeze(-1) + self.modality_bias
        scores = scores.masked_fill(~mask, float("-inf"))
        # a row with no modality at all would be all -inf: give it zero weights, not NaN
        return torch.softmax(scores, dim=1).nan_to_num(0.0)

    def fuse(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention-weighted sum over the filled slots, then the head."""
        weights = self._weights(h, mask)
        return self.head((weights[..., None] * h).sum(dim=1))

    def attention_weights(self, data: HeteroData) -> torch.Tensor:
        """Fusion weight of every modality for every patient, ``(patients, modalities)``.

        Columns follow :attr:`modalities`. A modality the patient lacks (and that was not
        stood in for, see the class docstring) has weight 0; each row sums to 1.
        Computed without gradients in the model's current mode (``model.eval()`` for the
        deterministic weights that go with its predictions).
        """
        with torch.no_grad():
            return self._weights(*self.encode(data))
