"""Scoring new patients without re-running the encoders over the training patients.

New patients never send an edge, so every training patient's encoder states are the same
whichever new patients are attached. For a model whose per-modality encoders describe
themselves as linear propagations (:meth:`~graphfuse.models.ModalityFusionModel.propagation`:
``gcn_fusion``, ``attention``, ``mogonet``), :class:`CachedEncoders` computes those states
once, when the pipeline is loaded, and per prediction only the new patients' rows, layer by
layer: ``z = A[new, :] (h W^T) + b + h R^T`` with ``h W^T`` of training patients taken from
the cache. The model's own :meth:`complete` and :meth:`fuse` then run as in its forward pass.

The description is checked against the model when the cache is built (the cached final
states must equal :meth:`embed` of the training graph); a model that does not match, or
does not describe its encoders, is scored by its full forward pass. Products of new rows
run in fixed-size chunks, padded, so a patient's output never depends on its batch.
"""

from __future__ import annotations

import torch
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models import FusionModel, ModalityFusionModel

__all__ = ["CachedEncoders"]

#: Rows of every product of new patients' rows (the last chunk padded with zeros).
_CHUNK = 64
#: Largest difference from the model's own encoder outputs the cache may show.
_TOLERANCE = 1e-4


def _rows(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``h @ weight.T`` in products of :data:`_CHUNK` rows (padded): each row's result is
    the same whatever the number of rows."""
    n = h.shape[0]
    out = torch.empty(n, weight.shape[0], dtype=h.dtype)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        block = h.new_zeros(_CHUNK, h.shape[1])
        block[: stop - start] = h[start:stop]
        out[start:stop] = (block @ weight.T)[: stop - start]
    return out


def _inputs(data: HeteroData, modality: str, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """A modality's features of ``rows`` (rows of patients lacking it set to 0) and who has it."""
    store = data[PATIENT]
    have = store.available[rows, list(data.modalities).index(modality)]
    x = store[feature_key(modality)][rows]
    return torch.where(have[:, None], x, torch.zeros((), dtype=x.dtype)), have


class CachedEncoders:
    """The training patients' encoder states of a model, to score new patients' rows only.

    Build with :meth:`build` (``None`` when the model cannot be scored so); call
    :meth:`forward` with the training graph extended by new patients.
    """

    def __init__(
        self,
        model: ModalityFusionModel,
        n_train: int,
        mapped: dict[str, list[torch.Tensor]],
        slots: torch.Tensor,
    ) -> None:
        self.model, self.n_train = model, n_train
        self._mapped = mapped  # modality -> per layer, training rows' h W^T
        self._slots = slots  # training patients' final states (n_train, modalities, hidden)

    @classmethod
    @torch.no_grad()
    def build(cls, model: FusionModel, graph: HeteroData) -> CachedEncoders | None:
        """The cache of ``model`` on its training graph, or ``None`` (not a propagation
        model, or its description does not reproduce its encoders)."""
        if not isinstance(model, ModalityFusionModel) or model.training:
            return None
        n = int(graph[PATIENT].num_nodes)
        mapped: dict[str, list[torch.Tensor]] = {}
        finals = []
        for m in model.modalities:
            layers = model.propagation(graph, m)
            if layers is None:
                return None
            h, have = _inputs(graph, m, slice(None))
            mapped[m] = []
            for layer in layers:
                p = h @ layer.weight.T
                z = torch.zeros(n, p.shape[1], dtype=p.dtype)
                src, dst = layer.edge_index
                z.index_add_(0, dst, p[src] * layer.edge_weight[:, None].to(p.dtype))
                if layer.bias is not None:
                    z = z + layer.bias
                if layer.root is not None:
                    z = z + h @ layer.root.T
                h = layer.activation(z)
                mapped[m].append(p)
            finals.append(h * have[:, None])
        slots = torch.stack(finals, dim=1)
        reference, mask = model.embed(graph)
        expected = reference * mask[..., None]
        if slots.shape != expected.shape:
            return None
        if not torch.allclose(slots, expected, rtol=0, atol=_TOLERANCE):
            return None
        return cls(model, n, mapped, slots)

    def module(self) -> torch.nn.Module:
        """:meth:`forward` as a module, where the task's ``predict`` takes a model."""
        return _Scorer(self)

    @torch.no_grad()
    def forward(self, data: HeteroData) -> torch.Tensor:
        """The model's outputs for every patient of ``data`` (the training graph with new
        patients appended), computing the encoders for the new patients only."""
        model, n_train = self.model, self.n_train
        n = int(data[PATIENT].num_nodes)
        new = slice(n_train, n)
        finals = []
        for j, m in enumerate(model.modalities):
            layers = model.propagation(data, m)
            assert layers is not None  # the model described them when the cache was built
            h, have = _inputs(data, m, new)
            for i, layer in enumerate(layers):
                p_new = _rows(h, layer.weight)
                src, dst = layer.edge_index
                into = dst >= n_train
                src, dst, w = src[into], dst[into] - n_train, layer.edge_weight[into]
                from_train = src < n_train
                p_src = torch.empty(len(src), p_new.shape[1], dtype=p_new.dtype)
                p_src[from_train] = self._mapped[m][i][src[from_train]]
                p_src[~from_train] = p_new[src[~from_train] - n_train]
                z = torch.zeros(n - n_train, p_new.shape[1], dtype=p_new.dtype)
                z.index_add_(0, dst, p_src * w[:, None].to(p_new.dtype))
                if layer.bias is not None:
                    z = z + layer.bias
                if layer.root is not None:
                    z = z + _rows(h, layer.root)
                h = layer.activation(z)
            finals.append(torch.cat([self._slots[:, j], h * have[:, None]]))
        slots = torch.stack(finals, dim=1)
        available = data[PATIENT].available
        order = list(data.modalities)
        mask = torch.stack([available[:, order.index(m)] for m in model.modalities], dim=1)
        return model.fuse(*model.complete(slots, mask, data))


class _Scorer(torch.nn.Module):
    """``CachedEncoders.forward`` as a module (what the task's ``predict`` calls)."""

    def __init__(self, cache: CachedEncoders) -> None:
        super().__init__()
        self.cache = cache
        self.inner = cache.model  # its parameters say where the scorer is

    def forward(self, data: HeteroData) -> torch.Tensor:
        return self.cache.forward(data)
