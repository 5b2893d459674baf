"""Data stage: cohorts, the synthetic cohort with planted truth, preprocessing."""

from graphfuse.data._cohort import MODALITY_KINDS, Cohort
from graphfuse.data._genesets import GeneSets, gene_id_type
from graphfuse.data._interactions import read_interactions
from graphfuse.data._load import load_cohort
from graphfuse.data._preprocess import ModalityMatrix, Preprocessor
from graphfuse.data._synthetic import make_synthetic_cohort

__all__ = [
    "MODALITY_KINDS",
    "Cohort",
    "GeneSets",
    "ModalityMatrix",
    "Preprocessor",
    "gene_id_type",
    "load_cohort",
    "make_synthetic_cohort",
    "read_interactions",
]
