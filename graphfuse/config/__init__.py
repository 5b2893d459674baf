"""Typed, validated experiment configs read from YAML.

An experiment config has a ``seed``, a ``task`` (``classification`` or ``survival``) and
the sections ``data``, ``graph``, ``model``, ``train``, ``tracking`` (and ``tune``) — each
a pydantic model that forbids unknown keys (:class:`StrictModel`). The
``graph`` and ``model`` sections name a registered component (``name: knn``) and
take that component's own parameters beside the name; those are validated against
the component's ``Params`` model, so a typo in any key is an error that names the
file, the key and the valid keys.

Each stage owns its parameter models and this package assembles them: the ``data``
section is the data stage's (:mod:`graphfuse.data`), the ``graph`` and ``model``
sections look their components up in :data:`graphfuse.graphs.BUILDERS`,
:data:`graphfuse.graphs.FUSED_BUILDERS` and :data:`graphfuse.models.MODELS`. The
package's modules: ``_knowledge`` (``graph.knowledge``), ``_tune`` (``tune``) and
``_experiment`` (the whole config, loading and overrides).

Examples
--------
>>> cfg = load_config("configs/ad_quick.yaml", overrides=["train.epochs=5"])  # doctest: +SKIP
>>> cfg.train.epochs  # doctest: +SKIP
5
"""

from graphfuse._params import StrictModel
from graphfuse.config._benchmark import BenchmarkConfig, RankingReferenceConfig, ReferenceConfig
from graphfuse.config._experiment import (
    ComponentConfig,
    ExperimentConfig,
    FusedGraphConfig,
    GraphConfig,
    ModelConfig,
    TrackingConfig,
    TrainConfig,
    load_config,
    load_data_section,
    parse_overrides,
    resolve_components,
    set_path,
)
from graphfuse.config._knowledge import InteractionsConfig, KnowledgeConfig
from graphfuse.config._tune import ParamSpace, TuneConfig
from graphfuse.data import (
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
from graphfuse.errors import format_validation_errors

__all__ = [
    "BenchmarkConfig",
    "BioNeuralNetConfig",
    "ClinicalPreprocessConfig",
    "ComponentConfig",
    "DataConfig",
    "ExperimentConfig",
    "FusedGraphConfig",
    "GeneMapConfig",
    "GraphConfig",
    "ImagingPreprocessConfig",
    "InteractionsConfig",
    "KnowledgeConfig",
    "MissingConfig",
    "ModelConfig",
    "MogonetConfig",
    "MogonetViewConfig",
    "OmicsPreprocessConfig",
    "ParamSpace",
    "PreprocessConfig",
    "RankingReferenceConfig",
    "ReferenceConfig",
    "SelectConfig",
    "StrictModel",
    "SurvSetConfig",
    "SurvivalConfig",
    "SyntheticConfig",
    "TableModalityConfig",
    "TablesConfig",
    "TrackingConfig",
    "TrainConfig",
    "TuneConfig",
    "format_validation_errors",
    "load_config",
    "load_data_section",
    "parse_overrides",
    "resolve_components",
    "set_path",
]
