"""MOGONET: per-modality GCN classifiers fused by a View Correlation Discovery Network."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT, edge_type, feature_key
from graphfuse.models._base import (
    MODELS,
    TORCH_TASKS,
    ModalityFusionModel,
    ModelParams,
    PropagationLayer,
)

__all__ = ["MOGONET", "propagation_matrix"]


class _GraphConv(nn.Module):
    """MOGONET's graph convolution: ``A (x W) + b`` with ``A`` the row-normalised
    adjacency plus self-loops (its ``GraphConvolution`` layer; xavier-normal weights)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(d_in, d_out)))
        self.bias = nn.Parameter(torch.zeros(d_out))

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1]

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(adjacency, x @ self.weight) + self.bias


def propagation_matrix(edge_index: torch.Tensor, edge_weight: torch.Tensor, n: int) -> torch.Tensor:
    """MOGONET's ``A``: edge weights plus a self-loop of weight 1 per patient, each row
    (receiving patient) divided by its sum; sparse ``(n, n)``, ``A[dst, src]``.

    Differentiable in ``edge_weight`` (edge-masking explainers scale it).

    Examples
    --------
    >>> a = propagation_matrix(torch.tensor([[0], [1]]), torch.tensor([3.0]), 2)
    >>> a.to_dense().tolist()
    [[1.0, 0.0], [0.75, 0.25]]
    """
    device = edge_index.device
    loops = torch.arange(n, device=device)
    src = torch.cat([edge_index[0], loops])
    dst = torch.cat([edge_index[1], loops])
    weight = torch.cat([edge_weight.to(torch.float32), torch.ones(n, device=device)])
    total = torch.zeros(n, device=device).index_add(0, dst, weight)
    values = weight / total[dst]
    return torch.sparse_coo_tensor(
        torch.stack([dst, src]), values, (n, n), check_invariants=False, device=device
    ).coalesce()


def _dropout(h: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout; the same as ``F.dropout`` in distribution, several times faster
    on CPU (one uniform draw per element instead of ``bernoulli_``)."""
    if not training or p == 0.0:
        return h
    return h * (torch.rand_like(h) >= p) * (1.0 / (1.0 - p))


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
    view_probability: Literal["softmax", "sigmoid"] = "softmax"
    """What turns a modality's logits into the vector entering the VCDN's outer product:
    a softmax (a probability vector) or, as MOGONET's code, a sigmoid per class."""
    fusion_gradient: bool = True
    """Let the fused loss reach the per-modality encoders; ``false`` detaches the VCDN's
    input, so encoders and classifiers learn from their own losses only and the VCDN from
    the fused loss only — MOGONET's alternating updates, done in one step."""
    vcdn_lr_ratio: float = Field(1.0, gt=0.0, le=1000.0)
    """The VCDN's learning rate as a multiple of ``train.lr`` (MOGONET: 1e-3 / 5e-4 = 2);
    the trainer reads it through :meth:`MOGONET.param_groups`."""
    pretrain_epochs: int = Field(0, ge=0, le=100_000)
    """Epochs of pre-training each modality's encoder and classifier on its own
    cross-entropy (training patients only) before the joint training
    (:meth:`MOGONET.pretrain`; MOGONET: 500)."""
    pretrain_lr: float = Field(1e-3, gt=0.0, le=10.0)
    """Adam learning rate of the pre-training (MOGONET: 1e-3)."""


@MODELS.register("mogonet")
class MOGONET(ModalityFusionModel):
    """MOGONET (Wang et al., Nat. Commun. 12:3445, 2021).

    Each modality ``m`` has a GCN encoder on its patient-similarity graph — MOGONET's
    graph convolution ``A (h W) + b`` with ``A`` the edge weights plus self-loops,
    row-normalised (:func:`propagation_matrix`), leaky ReLU, dropout between layers — and
    a linear classifier giving per-modality class logits. The paper's encoder widths are
    ``[400, 400, 200]`` (BRCA; the default) and ``[200, 200, 100]`` (ROSMAP), and it builds
    the graphs with its similarity threshold (``graph: {name: threshold}``; ``k: 1`` is its
    ROSMAP setting, ``adj_parameter = 2``).
    The View Correlation Discovery Network (VCDN) turns each modality's logits into a
    class-probability vector ``p_m`` (softmax — the paper's code takes a sigmoid per class,
    which is not a probability vector and has no uniform stand-in; for a single output, e.g.
    a survival risk, the sigmoid), takes the outer product of all ``p_m`` (the cross-modality label
    correlations, ``n_classes ** n_modalities`` entries), flattens it and maps it through
    a two-layer MLP to the fused output.

    **Missing modalities**: a patient lacking modality ``m`` enters the VCDN with the
    non-informative uniform vector ``p_m = 1 / n_classes`` (0.5 for a single output) — it
    scales every entry of the outer product equally, so the fused prediction rests on the
    modalities the patient has. Its (absent) features never enter any encoder, and it has
    no edges in ``m``'s graph.

    **Training** as in the paper, every per-modality classifier is also trained by its own
    cross-entropy on the patients having the modality: the trainer adds
    :meth:`auxiliary_loss` to the fused loss. The paper pre-trains the per-modality
    encoders (``pretrain_epochs``, :meth:`pretrain`), then alternates per-modality updates
    (their own losses) and VCDN updates (the fused loss) with a larger VCDN learning rate.
    By default all parameters are optimised jointly by one loss; ``fusion_gradient:
    false`` detaches the VCDN's input so each part learns from its own loss only — the
    paper's alternation in one step — and ``vcdn_lr_ratio`` gives the VCDN its own
    learning rate (:meth:`param_groups`).

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
                    _GraphConv(a, b) for a, b in zip([d, *p.hidden[:-1]], p.hidden, strict=True)
                )
                for m, d in self.in_dims.items()
            }
        )
        self.classifiers = nn.ModuleDict(
            {m: nn.Linear(p.hidden[-1], n_classes) for m in self.in_dims}
        )
        for layer in self.classifiers.values():
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        width = n_classes ** len(self.in_dims)
        vcdn_hidden = p.vcdn_hidden or max(width, 8)
        self.vcdn = nn.Sequential(
            nn.Linear(width, vcdn_hidden),
            nn.LeakyReLU(p.negative_slope),
            nn.Linear(vcdn_hidden, n_classes),
        )
        self._last: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None

    def embed(self, data: HeteroData) -> tuple[torch.Tensor, torch.Tensor]:
        """Every modality's last encoder state ``(patients, modalities, hidden[-1])`` (0 in
        rows of patients lacking it) and the availability mask ``(patients, modalities)``,
        modalities in :attr:`modalities` order."""
        store = data[PATIENT]
        order = list(data.modalities)
        p = self.params
        out, have_cols = [], []
        for m, convs in self.encoders.items():
            have = store.available[:, order.index(m)]
            have_cols.append(have)
            h = torch.where(have[:, None], store[feature_key(m)], 0.0)
            edges = data[edge_type(m)]
            adjacency = propagation_matrix(edges.edge_index, edges.edge_weight, len(have))
            for i, conv in enumerate(convs):
                h = F.leaky_relu(conv(h, adjacency), p.negative_slope)
                if i < len(convs) - 1:  # as MOGONET: no dropout after the last layer
                    h = _dropout(h, p.dropout, self.training)
            out.append(h * have[:, None])
        return torch.stack(out, dim=1), torch.stack(have_cols, dim=1)

    def view_logits(self, data: HeteroData) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-modality classifier logits ``{modality: (patients, n_classes)}`` and the
        availability mask ``(patients, modalities)`` (columns in :attr:`modalities` order).

        Rows of patients lacking a modality are meaningless in its logits (they are
        replaced by the uniform vector in the fusion).
        """
        h, have = self.embed(data)
        return self._classify(h), have

    def _classify(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: classify(h[:, j]) for j, (m, classify) in enumerate(self.classifiers.items())}

    def fuse(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-modality classifiers, their class probabilities (uniform where absent), the
        outer product of those through the VCDN."""
        logits = self._classify(h)
        if self.training:
            self._last = (logits, mask)  # for auxiliary_loss; kept in training only
        c = self.n_classes
        x: torch.Tensor | None = None
        softmax = c > 1 and self.params.view_probability == "softmax"
        for j, z in enumerate(logits.values()):
            if not self.params.fusion_gradient:
                z = z.detach()
            prob = torch.softmax(z, dim=1) if softmax else torch.sigmoid(z)
            uniform = 1.0 / c if softmax else 0.5  # a sigmoid's output at logit 0
            prob = torch.where(mask[:, j : j + 1], prob, uniform)
            x = prob if x is None else (x[:, :, None] * prob[:, None, :]).flatten(1)
        assert x is not None
        return self.vcdn(x)

    def propagation(self, data: HeteroData, modality: str) -> list[PropagationLayer]:
        """Each graph convolution as ``leaky_relu(A (h W) + b)`` with MOGONET's ``A``
        (:func:`propagation_matrix`); dropout is off in eval mode."""
        edges = data[edge_type(modality)]
        n = data[PATIENT].available.shape[0]
        a = propagation_matrix(edges.edge_index, edges.edge_weight, n).coalesce()
        dst, src = a.indices()
        edge_index, edge_weight = torch.stack([src, dst]), a.values()
        act = partial(F.leaky_relu, negative_slope=self.params.negative_slope)
        return [
            PropagationLayer(edge_index, edge_weight, conv.weight.T, conv.bias, None, act)
            for conv in self.encoders[modality]
        ]

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups: encoders and classifiers at ``lr``, the VCDN at
        ``lr * vcdn_lr_ratio`` (read by :func:`graphfuse.train.train_model`)."""
        vcdn = list(self.vcdn.parameters())
        ids = {id(q) for q in vcdn}
        views = [q for q in self.parameters() if id(q) not in ids]
        return [
            {"params": views, "lr": lr},
            {"params": vcdn, "lr": lr * self.params.vcdn_lr_ratio},
        ]

    def pretrain(self, data: HeteroData, mask: torch.Tensor, *, weight_decay: float = 0.0) -> int:
        """Pre-train each modality's encoder and classifier on its own cross-entropy.

        ``pretrain_epochs`` full-batch Adam steps (``pretrain_lr``) of the per-modality
        losses (:meth:`auxiliary_loss` without ``aux_weight``) of the patients in ``mask``;
        the VCDN is untouched. Called by :func:`graphfuse.train.train_model` before its
        epochs; nothing is done with a single output (survival) or 0 epochs.

        Returns
        -------
        int
            Epochs run.
        """
        epochs = self.params.pretrain_epochs
        if epochs == 0 or self.n_classes == 1:
            return 0
        vcdn = {id(q) for q in self.vcdn.parameters()}
        views = [q for q in self.parameters() if id(q) not in vcdn]
        optimiser = torch.optim.Adam(views, lr=self.params.pretrain_lr, weight_decay=weight_decay)
        y = data[PATIENT].y
        self.train()
        for _ in range(epochs):
            optimiser.zero_grad()
            logits, have = self.view_logits(data)
            self._view_losses(logits, have, y, mask).backward()
            optimiser.step()
        return epochs

    @staticmethod
    def _view_losses(
        logits: dict[str, torch.Tensor], have: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        total = torch.zeros((), device=y.device)
        for j, z in enumerate(logits.values()):
            rows = mask & have[:, j]
            if rows.any():
                total = total + F.cross_entropy(z[rows], y[rows])
        return total

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
        total = torch.zeros((), device=y.device)
        if self.n_classes == 1 or self.params.aux_weight == 0:
            return total
        return self.params.aux_weight * self._view_losses(logits, have, y, mask)
