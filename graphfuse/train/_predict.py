"""Predictions of a trained model for every patient of its graph (eval mode, no gradients).

They are computed on the model's device (the graph is moved there when it is elsewhere,
:func:`graphfuse._device.to_device`) and returned as NumPy arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse._device import device_of, to_device
from graphfuse.models import FusionModel

__all__ = ["predict_proba", "predict_risk"]


@torch.no_grad()
def predict_proba(model: FusionModel, data: HeteroData) -> np.ndarray:
    """Class probabilities of every patient (eval mode), ``(n_patients, n_classes)``."""
    model.eval()
    out = model(to_device(data, device_of(model)))
    return torch.softmax(out, dim=1).cpu().numpy()


@torch.no_grad()
def predict_risk(model: FusionModel, data: HeteroData) -> np.ndarray:
    """Risk score of every patient (eval mode) from a survival model's one output, ``(n,)``."""
    model.eval()
    return model(to_device(data, device_of(model)))[:, 0].cpu().numpy()
