"""How far a patient's features reach: measured dependency radius, adjacency and conflicts.

Used to decide which perturbations may share one forward pass: two patients whose
features cannot reach each other's outputs can be perturbed in the same copy of the graph.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra
from torch_geometric.data import HeteroData

from graphfuse.explain._base import ExplainContext
from graphfuse.graphs import PATIENT

__all__ = ["dependency_radius"]

#: An output moved when it changed by more than this (relative to ``1 + |output|``).
_MOVED = 1e-6


def dependency_radius(ctx: ExplainContext) -> int | None:
    """Measured edge hops over which a patient's rows move other patients' outputs.

    Random rows of single patients and of random patient sets are perturbed; the
    radius is the most hops over which an output moved (0: outputs depend on own rows
    only). ``None`` when an output moved with no path from the perturbed patients
    (global dependence) or the graph has other node types. A measurement can miss a
    longer reach that no probe exercised, so :class:`_CopiesEngine` relies on it only
    to refute a model's declared ``receptive_field``.
    """
    data = ctx.data
    if set(data.node_types) != {PATIENT}:
        return None  # messages may pass through other node types
    n = ctx.n_nodes
    adjacency = _adjacency(data, n)
    senders = np.flatnonzero(np.diff(adjacency.indptr) > 0)
    feats = ctx.features()
    gen = torch.Generator().manual_seed(7)  # draws on the CPU (moved where they meet tensors)
    scale = {m: x.std(dim=0, keepdim=True).nan_to_num(0.0) + 0.1 for m, x in feats.items()}
    probes = []
    for _ in range(min(4, len(senders))):
        pick = torch.randint(0, len(senders), (1,), generator=gen, device=gen.device)
        probes.append(senders[pick.cpu().numpy()])
    for fraction in (0.05, 0.2, 0.5):
        chosen = torch.randperm(n, generator=gen, device=gen.device)
        probes.append(chosen[: max(1, round(fraction * n))].cpu().numpy())
    needed = 0
    with torch.no_grad():
        base = ctx.output(ctx.forward(feats))
        for chosen in probes:
            noisy = {}
            for m, x in feats.items():
                x = x.clone()
                noise = torch.randn(
                    len(chosen), x.shape[1], generator=gen, dtype=x.dtype, device=gen.device
                )
                x[chosen] += noise.to(x.device) * scale[m]
                noisy[m] = x
            out = ctx.output(ctx.forward(noisy))
            moved = ((out - base).abs() > _MOVED * (1 + base.abs())).cpu().numpy()
            moved[chosen] = False
            if not moved.any():
                continue
            dist = dijkstra(adjacency, unweighted=True, indices=chosen, min_only=True)
            hops = dist[moved]
            if not np.isfinite(hops).all():
                return None
            needed = max(needed, int(hops.max()))
    return needed


def _adjacency(data: HeteroData, n: int) -> sp.csr_matrix:
    """``A[src, dst] = 1`` for every patient-to-patient edge of any type."""
    src, dst = [], []
    for et in data.edge_types:
        if et[0] == PATIENT and et[2] == PATIENT:
            ei = data[et].edge_index.cpu().numpy()
            src.append(ei[0])
            dst.append(ei[1])
    s = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
    d = np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64)
    a = sp.csr_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(n, n))
    a.setdiag(0)
    a.eliminate_zeros()
    a.data[:] = 1
    return a


def _sends(data: HeteroData, n: int) -> np.ndarray:
    """Patients with an outgoing edge of any type (to a patient other than themselves, or to
    a gene, pathway or variable node of a knowledge graph): those can influence others."""
    out = np.diff(_adjacency(data, n).indptr) > 0
    for et in data.edge_types:
        if et[0] == PATIENT and et[2] != PATIENT:
            out[np.unique(data[et].edge_index[0].cpu().numpy())] = True
    return out


def _conflicts(data: HeteroData, n: int, radius: int) -> sp.csr_matrix:
    """``C[u, v]``: ``u`` lies within ``radius`` hops upstream of ``v`` or vice versa."""
    a = _adjacency(data, n)
    step = (a + sp.identity(n, dtype=np.int8, format="csr")).astype(bool).tocsr()
    reach = sp.identity(n, dtype=bool, format="csr")
    for _ in range(radius):
        reach = (reach @ step).astype(bool).tocsr()
    out = (reach + reach.T).astype(bool).tocsr()
    out.setdiag(False)
    out.eliminate_zeros()
    return out
