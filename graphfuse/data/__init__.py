"""Data stage: cohorts, readers of the user's tables, the synthetic cohort, preprocessing.

The stage's parameters (``DataConfig`` and its sections, ``PreprocessConfig``) are the
``data`` section of an experiment config (:mod:`graphfuse.config` re-exports them).
"""

from graphfuse.data._clinical import CLINICAL_TYPES, encode_clinical
from graphfuse.data._cohort import MODALITY_KINDS, Cohort, require_patients
from graphfuse.data._collections import (
    GENE_SET_SOURCES,
    GeneSetSource,
    GmtDownloadSource,
    gene_set_cache_dir,
    gene_set_sources,
    load_gene_sets,
)
from graphfuse.data._config import (
    BioNeuralNetConfig,
    ClinicalPreprocessConfig,
    DataConfig,
    GeneMapConfig,
    ImagingPreprocessConfig,
    MissingConfig,
    MogonetConfig,
    MogonetViewConfig,
    OmicsPreprocessConfig,
    PreprocessConfig,
    SelectConfig,
    SurvivalConfig,
    SurvSetConfig,
    SyntheticConfig,
    TableModalityConfig,
    TablesConfig,
)
from graphfuse.data._genes import GeneMapping
from graphfuse.data._genesets import GeneSets, gene_id_type
from graphfuse.data._interactions import read_interactions
from graphfuse.data._labels import read_labels
from graphfuse.data._load import SOURCES, load_cohort
from graphfuse.data._mogonet import MogonetView, read_mogonet
from graphfuse.data._new import NewPatients, load_new_patients
from graphfuse.data._paths import data_path, data_root
from graphfuse.data._preprocess import ModalityMatrix, Preprocessor, check_transformed
from graphfuse.data._readers import cohort_from_modalities, read_modality
from graphfuse.data._synthetic import make_synthetic_cohort
from graphfuse.data._tables import read_csv_file, read_table

__all__ = [
    "CLINICAL_TYPES",
    "GENE_SET_SOURCES",
    "MODALITY_KINDS",
    "SOURCES",
    "BioNeuralNetConfig",
    "ClinicalPreprocessConfig",
    "Cohort",
    "DataConfig",
    "GeneMapConfig",
    "GeneMapping",
    "GeneSetSource",
    "GeneSets",
    "GmtDownloadSource",
    "ImagingPreprocessConfig",
    "MissingConfig",
    "ModalityMatrix",
    "MogonetConfig",
    "MogonetView",
    "MogonetViewConfig",
    "NewPatients",
    "OmicsPreprocessConfig",
    "PreprocessConfig",
    "Preprocessor",
    "SelectConfig",
    "SurvSetConfig",
    "SurvivalConfig",
    "SyntheticConfig",
    "TableModalityConfig",
    "TablesConfig",
    "check_transformed",
    "cohort_from_modalities",
    "data_path",
    "data_root",
    "encode_clinical",
    "gene_id_type",
    "gene_set_cache_dir",
    "gene_set_sources",
    "load_cohort",
    "load_gene_sets",
    "load_new_patients",
    "make_synthetic_cohort",
    "read_csv_file",
    "read_interactions",
    "read_labels",
    "read_modality",
    "read_mogonet",
    "read_table",
    "require_patients",
]
