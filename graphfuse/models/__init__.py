"""Model stage: fusion models over patient ``HeteroData``, by registered name."""

from graphfuse.models._attention import AttentionFusion
from graphfuse.models._base import (
    MODELS,
    TORCH_TASKS,
    FusionModel,
    ModalityFusionModel,
    ModelParams,
    OutputKind,
    PropagationLayer,
    build_model,
    graph_kind,
)
from graphfuse.models._checkpoint import load_checkpoint, model_from_spec, save_checkpoint
from graphfuse.models._eval import eval_mode
from graphfuse.models._gcn_fusion import GCNFusion
from graphfuse.models._hetero import HeteroGNN
from graphfuse.models._missing import MissingCompleter
from graphfuse.models._mlp import EarlyFusionMLP, LateFusionMLP
from graphfuse.models._mogonet import MOGONET
from graphfuse.models._sklearn import LogisticBaseline, RandomForestBaseline, SklearnModel

__all__ = [
    "MODELS",
    "MOGONET",
    "TORCH_TASKS",
    "AttentionFusion",
    "EarlyFusionMLP",
    "FusionModel",
    "GCNFusion",
    "HeteroGNN",
    "LateFusionMLP",
    "LogisticBaseline",
    "MissingCompleter",
    "ModalityFusionModel",
    "ModelParams",
    "OutputKind",
    "PropagationLayer",
    "RandomForestBaseline",
    "SklearnModel",
    "build_model",
    "eval_mode",
    "graph_kind",
    "load_checkpoint",
    "model_from_spec",
    "save_checkpoint",
]
