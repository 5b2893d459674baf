"""Predictions of a trained model for every patient of its graph (eval mode, no gradients)."""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graphfuse.models import FusionModel

__all__ = ["predict_proba", "predict_risk"]


@torch.no_grad()
def predict_proba(model: FusionModel, data: HeteroData) -> np.ndarray:
    """Class probabilities of every patient (eval mode), ``(n_patients, n_classes)``."""
    model.eval()
    return torch.softmax(model(data), dim=1).numpy()


@torch.no_grad()
def predict_risk(model: FusionModel, data: HeteroData) -> np.ndarray:
    """Risk score of every patient (eval mode) from a survival model's one output, ``(n,)``."""
    model.eval()
    return model(data)[:, 0].numpy()
