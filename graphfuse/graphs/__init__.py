"""Graph stage: patient-similarity graph builders assembled into ``HeteroData``."""

from graphfuse.graphs._base import BUILDERS, BuilderParams, PatientGraphBuilder
from graphfuse.graphs._knn import KNNBuilder
from graphfuse.graphs._knowledge import GENE, build_knowledge_graph, feature_gene_map
from graphfuse.graphs._patient import PATIENT, build_patient_graph, edge_type, feature_key

__all__ = [
    "BUILDERS",
    "GENE",
    "PATIENT",
    "BuilderParams",
    "KNNBuilder",
    "PatientGraphBuilder",
    "build_knowledge_graph",
    "build_patient_graph",
    "edge_type",
    "feature_gene_map",
    "feature_key",
]
