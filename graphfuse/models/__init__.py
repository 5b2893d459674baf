"""Model stage: fusion models over patient ``HeteroData``, by registered name."""

from graphfuse.models._base import MODELS, FusionModel, ModelParams, build_model
from graphfuse.models._checkpoint import load_checkpoint, save_checkpoint
from graphfuse.models._gcn_fusion import GCNFusion
from graphfuse.models._mlp import EarlyFusionMLP, LateFusionMLP

__all__ = [
    "MODELS",
    "EarlyFusionMLP",
    "FusionModel",
    "GCNFusion",
    "LateFusionMLP",
    "ModelParams",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]
