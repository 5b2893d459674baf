"""Training-time modality dropout: hide whole modalities of whole patients.

Each training epoch, every modality a training patient has is hidden with probability
``p`` — never all of a patient's modalities: a patient whose draw hides everything keeps
one of its modalities, picked at random. The model sees a shallow copy of the graph whose
``data["patient"].available`` says so; it reads the mask as it does for a modality that
was never measured, so it learns to predict from whatever a patient has. Evaluation uses
the true mask. This is modality-level dropout as in ModDrop (Neverova et al., IEEE TPAMI
2016) and multimodal transformers such as 3MAT.
"""

from __future__ import annotations

import copy

import torch
from torch_geometric.data import HeteroData

from graphfuse.graphs import PATIENT

__all__ = ["drop_modalities"]


def drop_modalities(
    data: HeteroData, p: float, generator: torch.Generator, *, mask: torch.Tensor | None = None
) -> HeteroData:
    """A shallow copy of ``data`` with modalities hidden at random for some patients.

    Parameters
    ----------
    data
        Patient graph with ``data["patient"].available`` (patients x modalities, bool).
    p
        Probability of hiding each available modality of each patient in ``mask``.
    generator
        The draws' source (seed it for reproducible training); the draws are made on its
        device and moved to the graph's.
    mask
        Patients that may lose modalities (``None``: ``train_mask``); others keep theirs.

    Returns
    -------
    HeteroData
        Shares every tensor with ``data`` except ``available``; ``data`` is unchanged.
        Every patient keeps at least one modality it had.

    Examples
    --------
    >>> g = HeteroData()
    >>> g["patient"].available = torch.ones(4, 3, dtype=torch.bool)
    >>> g["patient"].train_mask = torch.tensor([True, True, False, False])
    >>> out = drop_modalities(g, 0.9, torch.Generator().manual_seed(0))
    >>> out["patient"].available.sum(1).tolist()[2:], bool(out["patient"].available.any(1).all())
    ([3, 3], True)
    """
    store = data[PATIENT]
    available = store.available
    if mask is None:
        mask = store.train_mask
    hide = _uniform(available, generator) < p
    hide &= available & mask[:, None]
    kept = available & ~hide
    stranded = available.any(dim=1) & ~kept.any(dim=1)
    if stranded.any():  # keep one of the modalities each such patient had, at random
        scores = _uniform(available, generator)
        scores = torch.where(available, scores, -1.0)
        pick = scores[stranded].argmax(dim=1)
        kept[stranded.nonzero()[:, 0], pick] = True
    out = copy.copy(data)
    out[PATIENT].available = kept
    return out


def _uniform(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform draws shaped as ``like`` on its device, drawn on the generator's device (the
    CPU's for a seeded ``torch.Generator()``: the same draws whatever device ``like`` is on)."""
    return torch.rand(like.shape, generator=generator, device=generator.device).to(like.device)
