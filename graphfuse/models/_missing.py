"""What stands in for a modality a patient lacks, shared by the per-modality fusion models.

Three strategies (model parameter ``missing``):

``skip``
    The absent modality contributes nothing: it is left out of the fusion (not a zero
    vector counted in a mean). The default.
``learned``
    A learned "missing" embedding per modality stands in for the absent modality's
    embedding (a mask token, cf. 3MAT, Liu et al. 2023 and masked modelling in general).
``neighbors``
    The absent modality's embedding is completed from the patient's neighbours that have
    it, reached through the graphs of the modalities the patient *does* have: the
    unweighted mean of those neighbours' embeddings of the absent modality (cf. GTP-4o,
    Li et al. 2024, which completes missing modalities by graph message passing).
    A neighbour linked in several graphs counts once. A patient none of whose neighbours
    has the modality keeps it absent (as with ``skip``). In the inductive setting,
    held-out patients have no outgoing edges, so completion only ever borrows training
    patients' embeddings.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.data import HeteroData

from graphfuse.graphs import edge_type

__all__ = ["MissingCompleter", "MissingStrategy"]

MissingStrategy = Literal["skip", "learned", "neighbors"]


class MissingCompleter(nn.Module):
    """Fill the embedding slots of absent modalities according to a strategy.

    Parameters
    ----------
    modalities
        Modality names, in the order of the embedding tensor's second axis.
    hidden
        Embedding size.
    strategy
        ``"skip"``, ``"learned"`` or ``"neighbors"`` (module docstring).

    Examples
    --------
    >>> completer = MissingCompleter(["rna", "img"], 4, "learned")
    >>> h, mask = torch.ones(3, 2, 4), torch.tensor([[True, True], [True, False], [False, True]])
    >>> out, filled = completer(h, mask, None)
    >>> bool(filled.all()), out[1, 1].tolist()
    (True, [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, modalities: list[str], hidden: int, strategy: MissingStrategy) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.strategy = strategy
        if strategy == "learned":
            # zero at start: the token begins as "no information" and is learned from there
            self.tokens = nn.Parameter(torch.zeros(len(self.modalities), hidden))

    def forward(
        self, h: torch.Tensor, mask: torch.Tensor, data: HeteroData | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Complete ``h``.

        Parameters
        ----------
        h
            Embeddings ``(patients, modalities, hidden)``; slots of absent modalities are
            ignored (whatever they hold).
        mask
            Availability ``(patients, modalities)``, bool.
        data
            The patient graph (needed by ``neighbors`` only).

        Returns
        -------
        tuple of Tensor
            The completed embeddings (unfilled absent slots are zero) and the mask of slots
            that now hold an embedding (available or filled).
        """
        h = h * mask[..., None]
        if self.strategy == "skip":
            return h, mask
        if self.strategy == "learned":
            token = self.tokens.unsqueeze(0).expand_as(h)
            return torch.where(mask[..., None], h, token), torch.ones_like(mask)
        return self._from_neighbors(h, mask, data)

    def _from_neighbors(
        self, h: torch.Tensor, mask: torch.Tensor, data: HeteroData | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if data is None:
            raise ValueError("missing='neighbors' needs the patient graph")
        n = h.shape[0]
        # union of every modality graph's edges (source -> target), each pair once; a
        # patient only has edges in the graphs of modalities it has
        pairs = torch.cat([data[edge_type(m)].edge_index for m in self.modalities], dim=1)
        pairs = pairs[:, pairs[0] != pairs[1]]
        key = torch.unique(pairs[0] * n + pairs[1])
        src, dst = key // n, key % n
        out, filled = h, mask
        for j in range(len(self.modalities)):
            # messages about modality j: from neighbours having it to patients lacking it
            keep = mask[src, j] & ~mask[dst, j]
            s, d = src[keep], dst[keep]
            if s.numel() == 0:
                continue
            total = torch.zeros(n, h.shape[2], dtype=h.dtype, device=h.device)
            total = total.index_add(0, d, h[s, j])
            count = torch.zeros(n, dtype=h.dtype, device=h.device)
            count = count.index_add(0, d, torch.ones_like(d, dtype=h.dtype))
            got = count > 0
            mean = total / count.clamp(min=1)[:, None]
            column = torch.where(got[:, None], mean, out[:, j])
            out = torch.cat([out[:, :j], column[:, None], out[:, j + 1 :]], dim=1)
            filled = filled.clone()
            filled[:, j] = filled[:, j] | got
        return out, filled
