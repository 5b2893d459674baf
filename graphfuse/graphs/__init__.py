"""Graph stage: patient-similarity graph builders assembled into ``HeteroData``."""

from graphfuse.graphs._base import (
    BUILDERS,
    FUSED_BUILDERS,
    BuilderParams,
    FusedGraphBuilder,
    PatientGraphBuilder,
)
from graphfuse.graphs._info import GraphInfo, annotate, graph_info
from graphfuse.graphs._knn import KNNBuilder
from graphfuse.graphs._knowledge import (
    GENE,
    attach_knowledge,
    build_knowledge_graph,
    feature_gene_map,
)
from graphfuse.graphs._patient import (
    FUSED_EDGE,
    FUSED_STATE,
    PATIENT,
    build_patient_graph,
    edge_type,
    feature_key,
)
from graphfuse.graphs._search import NeighbourIndex
from graphfuse.graphs._snf import SNFBuilder
from graphfuse.graphs._store import (
    attach_patients,
    graph_from_state,
    graph_state,
    training_graph,
)
from graphfuse.graphs._threshold import ThresholdBuilder

__all__ = [
    "BUILDERS",
    "FUSED_BUILDERS",
    "FUSED_EDGE",
    "FUSED_STATE",
    "GENE",
    "PATIENT",
    "BuilderParams",
    "FusedGraphBuilder",
    "GraphInfo",
    "KNNBuilder",
    "NeighbourIndex",
    "PatientGraphBuilder",
    "SNFBuilder",
    "ThresholdBuilder",
    "annotate",
    "attach_knowledge",
    "attach_patients",
    "build_knowledge_graph",
    "build_patient_graph",
    "edge_type",
    "feature_gene_map",
    "feature_key",
    "graph_from_state",
    "graph_info",
    "graph_state",
    "training_graph",
]
