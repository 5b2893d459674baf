"""MOGONET: per-modality GCN classifiers fused by a View Correlation Discovery Network."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import GCNConv

from graphfuse.graphs import PATIENT, edge_type, feature_key
from graphfuse.models._base import MODELS, TORCH_TASKS, FusionModel, ModelParams

__all__ = ["MOGONET"]


class MOGONETParams(ModelParams):
    hidden: list[int] = Field(default_factory=lambda: [400, 400, 200], min_length=1, max_length=8)
    """Width of each GCN layer of a modality's encoder (the paper's ``[400, 400, 200]``)."""
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    negative_slope: float = Field(0.25, ge=0.0, lt=1.0)
    """Of the leaky ReLU after each GCN layer and in the VCDN."""
    vcdn_hidden: int | None = Field(None, ge=1, le=65536)
    """Hidden width of the VCDN; ``None``: ``n_classes ** n_modalities`` as in the paper,
    at least 8."""
    aux_weight: float = Field(1.0, ge=0.0)
    """Weight of the per-modality classifiers' cross-entropy losses
    (:meth:`MOGONET.auxiliary_loss`); 0 trains them through the fused output only."""


@MODELS.register("mogonet")
class MOGONET(FusionModel):
    """MOGONET (Wang et al., Nat. Commun. 12:3445, 2021).

    Each modality ``m`` has a GCN encoder (``hidden`` layers, leaky ReLU, dropout) on its
    patient-similarity graph and a linear classifier giving per-modality class logits.
    The View Correlation Discovery Network (VCDN) turns each modality's logits into a
    class-probability vector ``p_m`` (softmax; for a single output, e.g. a survival risk,
    the sigmoid), takes the outer product of all ``p_m`` (the cross-modality label
    correlations, ``n_classes ** n_modalities`` entries), flattens it and maps it through
    a two-layer MLP to the fused output.

    **Missing modalities**: a patient lacking modality ``m`` enters the VCDN with the
    non-informative uniform vector ``p_m = 1 / n_classes`` (0.5 for a single output) — it
    scales every entry of the outer product equally, so the fused prediction rests on the
    modalities the patient has. Its (absent) features never enter any encoder, and it has
    no edges in ``m``'s graph.

    **Training** as in the paper, every per-modality classifier is also trained by its own
    cross-entropy on the patients having the modality: the trainer adds
    :meth:`auxiliary_loss` to the fused loss. The paper alternates per-modality and VCDN
    updates after a pre-training phase; here all are optimised jointly, one loss, one
    optimiser.

    Parameters
    ----------
    in_dims
        Features per modality.
    n_classes
        Outputs (classes; 1 for a survival risk score).
    **params
        See :class:`MOGONETParams`.

    Examples
    --------
    >>> model = MOGONET({"mrna": 200, "methylation": 200, "mirna": 200}, 2)
    >>> model.vcdn[0].in_features, model.vcdn[0].out_features
    (8, 8)
    """

    Params = MOGONETParams
    tasks = TORCH_TASKS

    def __init__(self, in_dims: dict[str, int], n_classes: int, **params: Any) -> None:
        super().__init__(in_dims, n_classes, **params)
        p = self.params
        self.encoders = nn.ModuleDict(
            {
                m: nn.ModuleList(
                    GCNConv(a, b) for a, b in zip([d, *p.hidden[:-1]], p.hidden, strict=True)
                )
                for m, d in self.in_dims.items()
            }
        )
        self.classifiers = nn.ModuleDict(
            {m: nn.Linear(p.hidden[-1], n_classes) for m in self.in_dims}
        )
        width = n_classes ** len(self.in_dims)
        vcdn_hidden = p.vcdn_hidden or max(width, 8)
        self.vcdn = nn.Sequential(
            nn.Linear(width, vcdn_hidden),
            nn.LeakyReLU(p.negative_slope),
            nn.Linear(vcdn_hidden, n_classes),
        )
        self._last: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None

    def view_logits(self, data: HeteroData) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-modality classifier logits ``{modality: (patients, n_classes)}`` and the
        availability mask ``(patients, modalities)`` (columns in :attr:`modalities` order).

        Rows of patients lacking a modality are meaningless in its logits (they are
        replaced by the uniform vector in the fusion).
        """
        store = data[PATIENT]
        order = list(data.modalities)
        p = self.params
        logits, have_cols = {}, []
        for m, convs in self.encoders.items():
            have = store.available[:, order.index(m)]
            have_cols.append(have)
            h = torch.where(have[:, None], store[feature_key(m)], 0.0)
            edges = data[edge_type(m)]
            for conv in convs:
                h = F.leaky_relu(conv(h, edges.edge_index, edges.edge_weight), p.negative_slope)
                h = F.dropout(h, p.dropout, self.training)
            logits[m] = self.classifiers[m](h)
        return logits, torch.stack(have_cols, dim=1)

    def forward(self, data: HeteroData) -> torch.Tensor:
        logits, have = self.view_logits(data)
        if self.training:
            self._last = (logits, have)  # for auxiliary_loss; kept in training only
        c = self.n_classes
        x: torch.Tensor | None = None
        for j, z in enumerate(logits.values()):
            prob = torch.softmax(z, dim=1) if c > 1 else torch.sigmoid(z)
            uniform = 1.0 / c if c > 1 else 0.5
            prob = torch.where(have[:, j : j + 1], prob, uniform)
            x = prob if x is None else (x[:, :, None] * prob[:, None, :]).flatten(1)
        assert x is not None
        return self.vcdn(x)

    def auxiliary_loss(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sum over modalities of each per-modality classifier's cross-entropy, times
        ``aux_weight``, from the last forward pass in training mode.

        Parameters
        ----------
        y
            Class of every patient.
        mask
            Patients to compute it on (the training patients); of those, each modality's
            loss uses the patients having the modality.

        Returns
        -------
        Tensor
            A scalar; 0 with a single output (survival: the per-modality heads are then
            trained through the fused risk only).
        """
        if self._last is None:
            raise RuntimeError("mogonet.auxiliary_loss needs a forward pass in training mode")
        logits, have = self._last
        self._last = None
        total = torch.zeros(())
        if self.n_classes == 1 or self.params.aux_weight == 0:
            return total
        for j, z in enumerate(logits.values()):
            rows = mask & have[:, j]
            if rows.any():
                total = total + F.cross_entropy(z[rows], y[rows])
        return self.params.aux_weight * total
