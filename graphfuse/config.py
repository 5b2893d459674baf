"""Typed, validated experiment configs read from YAML.

An experiment config has a ``seed``, a ``task`` (``classification`` or ``survival``) and
the sections ``data``, ``graph``, ``model``, ``train``, ``tracking`` (and ``tune``) — each
a pydantic model that forbids unknown keys. The
``graph`` and ``model`` sections name a registered component (``name: knn``) and
take that component's own parameters beside the name; those are validated against
the component's ``Params`` model, so a typo in any key is an error that names the
file, the key and the valid keys.

Examples
--------
>>> cfg = load_config("configs/ad_quick.yaml", overrides=["train.epochs=5"])  # doctest: +SKIP
>>> cfg.train.epochs  # doctest: +SKIP
5
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from graphfuse._knowledge_config import KnowledgeConfig
from graphfuse._tune_config import ParamSpace, TuneConfig
from graphfuse.errors import ConfigError, RegistryError

__all__ = [
    "ClinicalPreprocessConfig",
    "DataConfig",
    "ExperimentConfig",
    "FusedGraphConfig",
    "GeneMapConfig",
    "GraphConfig",
    "ImagingPreprocessConfig",
    "KnowledgeConfig",
    "MissingConfig",
    "ModelConfig",
    "MogonetConfig",
    "MogonetViewConfig",
    "OmicsPreprocessConfig",
    "ParamSpace",
    "PreprocessConfig",
    "SelectConfig",
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
    "parse_overrides",
    "resolve_components",
]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MissingConfig(StrictModel):
    """Fraction of patients lacking each optional modality in the synthetic cohort."""

    imaging: float = Field(0.2, ge=0.0, le=0.95)
    methylation: float = Field(0.15, ge=0.0, le=0.95)


class SyntheticConfig(StrictModel):
    """Parameters of the built-in synthetic Alzheimer's-disease-like cohort."""

    n_patients: int = Field(600, ge=20, le=1_000_000)
    n_genes: int = Field(2000, ge=50, le=50_000)
    n_pathways: int = Field(200, ge=10, le=5_000)
    n_regions: int = Field(100, ge=10, le=2_000)
    probes_per_gene: float = Field(0.5, gt=0.0, le=5.0)
    n_disease_pathways: int = Field(5, ge=1, le=50)
    effect_size: float = Field(1.0, ge=0.0, le=10.0)
    prevalence: float = Field(0.5, gt=0.0, lt=1.0)
    clinical_missing: float = Field(0.05, ge=0.0, le=0.5)
    missing: MissingConfig = Field(default_factory=MissingConfig)
    survival: bool = False
    """Add a survival outcome driven by the disease pathways: ``obs`` columns ``time`` and
    ``event`` (for ``task: survival`` with ``data.survival: {time: time, event: event}``)."""
    censoring: float = Field(0.3, ge=0.0, lt=1.0)
    """Share of censored patients among those at average risk (``survival`` only)."""


class SelectConfig(StrictModel):
    """Feature selection of one omics modality, computed on training patients only.

    ``hvg``: scanpy's highly-variable genes (``flavor`` ``seurat`` or ``cell_ranger``, both
    expect log-scale data); ``variance``: the ``n`` features of largest training variance;
    ``anova``: the ``n`` features of largest ANOVA F between classes of training patients
    (labels of training patients only), as MOGONET preselects features.
    """

    method: Literal["hvg", "variance", "anova"]
    n: int = Field(..., ge=1, le=1_000_000)
    """Features to keep (all are kept when the modality has no more than ``n``)."""
    flavor: Literal["seurat", "cell_ranger"] | None = None
    """``hvg`` only; ``null`` means ``seurat``."""

    @field_validator("flavor")
    @classmethod
    def _flavor_for_hvg_only(cls, flavor: str | None, info: ValidationInfo) -> str | None:
        method = info.data.get("method")
        if flavor is not None and method != "hvg":
            raise ValueError(f"flavor applies to method 'hvg' only, not {method!r}")
        return flavor


class OmicsPreprocessConfig(StrictModel):
    """Steps for one omics modality, in this order; all off by default except scaling."""

    normalize_total: bool | float = False
    """Library-size normalisation per patient (scanpy ``normalize_total``): ``true`` scales
    each patient's total to the median total of training patients, a number to that total."""
    log1p: bool = False
    """``log(1 + x)`` (scanpy ``log1p``), for counts; leave off for log-scale data or betas."""
    select: SelectConfig | None = None
    """Feature selection on training patients, e.g. ``{method: hvg, n: 1000}``."""
    scale: bool | None = None
    """Standardise on training patients; ``null`` follows ``preprocess.scale``."""
    clip: float | None = Field(None, gt=0.0)
    """After scaling, clip values to ``[-clip, clip]`` (scanpy ``scale``'s ``max_value``)."""

    @field_validator("normalize_total")
    @classmethod
    def _positive_target(cls, total: bool | float) -> bool | float:
        if not isinstance(total, bool) and total <= 0:
            raise ValueError("a target total must be > 0")
        return total


class ImagingPreprocessConfig(StrictModel):
    """Steps for every imaging modality."""

    scale: bool | None = None
    """Standardise on training patients; ``null`` follows ``preprocess.scale``."""


class ClinicalPreprocessConfig(StrictModel):
    """Encoding of every clinical modality (by ``var["type"]``; absent = all numeric)."""

    scale: bool | None = None
    """Standardise numeric and ordinal columns; ``null`` follows ``preprocess.scale``."""
    unseen: Literal["warn", "error"] = "warn"
    """A category not seen among training patients: ``warn`` (all-zero one-hot block,
    with a warning giving the count) or ``error``."""


class PreprocessConfig(StrictModel):
    """Preprocessing, fitted on training patients only and applied to all.

    Per kind: ``omics`` maps omics modality names to their steps (unlisted omics
    modalities are only imputed and scaled); ``imaging`` and ``clinical`` apply to every
    modality of that kind.
    """

    scale: bool = True
    """Standardise every modality's features on training patients (a kind or modality
    section's own ``scale`` overrides it)."""
    impute: Literal["median", "none"] = "median"
    """``median``: missing values of a feature become its training median (mode for binary
    and categorical columns), and a ``<feature>__missing`` indicator column is added;
    ``none``: missing values are an error."""
    omics: dict[str, OmicsPreprocessConfig] = Field(default_factory=dict)
    """Omics modality name -> steps, e.g. ``{expression: {log1p: true, select: {...}}}``."""
    imaging: ImagingPreprocessConfig = Field(default_factory=ImagingPreprocessConfig)
    clinical: ClinicalPreprocessConfig = Field(default_factory=ClinicalPreprocessConfig)


Kind = Literal["omics", "imaging", "clinical"]


class GeneMapConfig(StrictModel):
    """How an omics modality's features map to gene symbols (``var["gene"]``).

    IDs come from the feature names (``ids: features``) or a ``var`` column of an
    ``.h5ad``/``.h5mu`` input (``ids: var`` + ``column``); ``strip_prefix`` and Ensembl
    version suffixes (``.6``) are removed; a ``table`` (path under the data root, e.g.
    ``genemap/ensembl-gene-index.csv.gz``) then translates IDs to symbols. Features left
    unmapped are reported with a warning; a mapping that maps nothing is an error.
    """

    ids: Literal["features", "var", "none"] = "features"
    """``features``, ``var`` or ``none`` (not mapped: ``var["gene"]`` is NaN; ``genes: none``
    is short for ``genes: {ids: none}``)."""
    column: str | None = None
    """The ``var`` column holding gene IDs (``ids: var`` only)."""
    strip_prefix: str | None = None
    strip_version: bool = True
    table: str | None = None
    from_column: str | None = None
    """The table's ID column; ``null``: its first column."""
    to_column: str | None = None
    """The table's symbol column; ``null``: its second column."""

    @model_validator(mode="after")
    def _column_with_var(self) -> GeneMapConfig:
        if (self.ids == "var") != (self.column is not None):
            raise ValueError("genes.column is needed with ids: var, and only then")
        return self


def _genes_shorthand(value: Any) -> Any:
    return {"ids": "none"} if value == "none" else value


def _check_genes(kind: str, genes: GeneMapConfig | None, name: str) -> None:
    if kind == "omics" and genes is None:
        raise ValueError(
            f"omics modality {name!r}: say how its features map to genes: genes: {{ids: "
            "features}} (names are symbols), a mapping table, or genes: none"
        )
    if kind != "omics" and genes is not None:
        raise ValueError(f"{kind} modality {name!r}: genes: is for omics modalities only")


def _unique_names(items: list[Any], what: str) -> None:
    names = [item.name for item in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what}: modality names must be unique; repeated: {dup}")


class MogonetViewConfig(StrictModel):
    """One view (``<view>_tr.csv``, ...) of a MOGONET folder, read as a modality."""

    view: int = Field(..., ge=1)
    name: str = Field(..., min_length=1)
    kind: Kind = "omics"
    genes: GeneMapConfig | None = None
    """Omics: required; ``none`` leaves features unmapped (``var["gene"]`` NaN)."""

    _genes = field_validator("genes", mode="before")(_genes_shorthand)

    @model_validator(mode="after")
    def _genes_for_omics(self) -> MogonetViewConfig:
        _check_genes(self.kind, self.genes, self.name)
        return self


class MogonetConfig(StrictModel):
    """A cohort in MOGONET's folder layout; its published train/test split is kept."""

    folder: str = Field(..., min_length=1)
    """The folder (relative to the data root unless absolute)."""
    classes: list[str] | None = None
    """Names of label codes 0, 1, ... in order (the second is the positive class)."""
    views: list[MogonetViewConfig] = Field(default_factory=list)
    """Empty: every view found, named ``view1``, ..., omics, not mapped to genes."""

    @model_validator(mode="after")
    def _unique(self) -> MogonetConfig:
        if self.views:
            _unique_names(self.views, "data.mogonet.views")
            numbers = [v.view for v in self.views]
            if len(set(numbers)) != len(numbers):
                raise ValueError(f"data.mogonet.views: view numbers repeat: {numbers}")
        return self


class TableModalityConfig(StrictModel):
    """One modality of a ``tables`` cohort: one file, patients as rows."""

    name: str = Field(..., min_length=1)
    kind: Kind
    path: str = Field(..., min_length=1)
    """CSV/TSV (may be .gz), Parquet, .h5ad, .h5mu (with ``key``) or .npy (with ``ids``)."""
    id_column: str | None = None
    """Patient ID column; ``null``: ``data.tables.id_column`` (AnnData: ``obs_names``)."""
    key: str | None = None
    """The modality inside a ``.h5mu`` file."""
    ids: str | None = None
    """``.npy`` only: a text file with one patient ID per row of the array."""
    columns: list[str] | None = None
    """Feature columns to use; ``null``: all but the ID column."""
    drop: list[str] = Field(default_factory=list)
    """Columns to leave out."""
    genes: GeneMapConfig | None = None
    """Omics: required; ``none`` leaves features unmapped (``var["gene"]`` NaN)."""
    types: dict[str, Literal["numeric", "binary", "ordinal", "categorical"]] = Field(
        default_factory=dict
    )
    """Clinical: column -> type, overriding inference (``ordinal`` is never inferred)."""
    categories: dict[str, list[str]] = Field(default_factory=dict)
    """Clinical: column -> its levels in code order."""

    _genes = field_validator("genes", mode="before")(_genes_shorthand)

    @model_validator(mode="after")
    def _kind_options(self) -> TableModalityConfig:
        _check_genes(self.kind, self.genes, self.name)
        if self.kind != "clinical" and (self.types or self.categories):
            raise ValueError(f"modality {self.name!r}: types/categories are for clinical only")
        return self


class TablesConfig(StrictModel):
    """A cohort from the user's files: a labels table plus one file per modality."""

    labels: str = Field(..., min_length=1)
    """The labels table (CSV/TSV/Parquet, or an .h5ad/.h5mu file's obs)."""
    id_column: str | None = None
    """Patient ID column of the labels table and (unless they name their own) modalities."""
    target: str = Field("label", min_length=1)
    """The labels table's class column."""
    classes: list[str | int] | None = None
    """Classes in code order (the second of two is the positive class); ``null``: sorted."""
    split_column: str | None = None
    """A column with a published split (``train``/``test``), used instead of a random one."""
    unmatched: Literal["warn", "error"] = "warn"
    """Patients in a modality but not the labels (or the reverse): left out with a
    warning giving the counts, or an error."""
    na_values: list[str] = Field(default_factory=list)
    """Extra strings read as missing in every table (pandas' defaults always are)."""
    modalities: list[TableModalityConfig] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TablesConfig:
        _unique_names(self.modalities, "data.tables.modalities")
        return self


class SurvSetConfig(StrictModel):
    """A data set of the optional SurvSet package (GPL-licensed; ``pip install SurvSet``).

    Columns with an ``omics`` prefix become omics modalities (the rest of the name is the
    gene symbol), the other ``fac_*``/``num_*`` covariates one ``clinical`` modality;
    ``obs`` holds SurvSet's ``time`` and ``event``.
    """

    dataset: str = Field(..., min_length=1)
    """SurvSet's name of the data set, e.g. ``gse1992``."""
    omics: dict[str, str] = Field(default_factory=dict)
    """Omics modality name -> column prefix, e.g. ``{expression: num_HS_}``."""
    drop: list[str] = Field(default_factory=list)
    """Columns to leave out (full SurvSet names, e.g. ``fac_size``)."""
    types: dict[str, Literal["numeric", "binary", "ordinal", "categorical"]] = Field(
        default_factory=dict
    )
    """Clinical: variable (without ``fac_``/``num_``) -> type, overriding inference."""
    categories: dict[str, list[str]] = Field(default_factory=dict)
    """Clinical: variable -> its levels in code order."""


class SurvivalConfig(StrictModel):
    """The survival outcome of ``task: survival``: two columns of the patient table.

    For ``tables`` they are columns of the labels table; the synthetic cohort
    (``synthetic.survival: true``) and SurvSet name them ``time`` and ``event``.
    """

    time: str = Field(..., min_length=1)
    """Column of the time to event or censoring (a positive number)."""
    event: str = Field(..., min_length=1)
    """Column saying whether the event was observed (1/true) or censored (0/false)."""


class DataConfig(StrictModel):
    """Where the cohort comes from and which modalities to use.

    ``source`` picks the section that describes the cohort: ``synthetic`` (the built-in
    cohort), ``mogonet`` (a folder in MOGONET's layout), ``tables`` (your own files) or
    ``survset`` (a data set of the optional SurvSet package).
    Relative paths in ``mogonet`` and ``tables`` are relative to the data root
    (``$GRAPHFUSE_DATA``, else ``../shared/data`` beside the project); absolute paths
    are used as they are.
    """

    source: Literal["synthetic", "mogonet", "tables", "survset"] = "synthetic"
    synthetic: SyntheticConfig | None = None
    """``source: synthetic``: its parameters (defaults filled in)."""
    mogonet: MogonetConfig | None = None
    tables: TablesConfig | None = None
    survset: SurvSetConfig | None = None
    survival: SurvivalConfig | None = None
    """``task: survival``: the time and event columns, e.g. ``{time: os_months, event:
    os_event}``."""
    modalities: list[str] | None = None
    """Modalities to use, by name; ``null`` uses every modality of the cohort."""
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)

    @model_validator(mode="before")
    @classmethod
    def _synthetic_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("source", "synthetic") == "synthetic":
            if data.get("synthetic") is None:
                data = {**data, "synthetic": {}}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        for section in ("synthetic", "mogonet", "tables", "survset"):
            given = getattr(self, section) is not None
            if section == self.source and not given:
                raise ValueError(f"source is {section!r} but the data.{section} section is missing")
            if section != self.source and given:
                raise ValueError(
                    f"data.{section} is given but source is {self.source!r}; remove it or set "
                    f"source: {section}"
                )
        return self


class ComponentConfig(BaseModel):
    """A section naming a registered component plus that component's parameters.

    ``params`` holds the component's validated parameters with defaults filled in.
    """

    model_config = ConfigDict(extra="forbid")
    registry_module: ClassVar[str]
    registry_attr: ClassVar[str]

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        own = set(cls.model_fields) - {"params"}
        params = dict(data.pop("params", None) or {})
        for key in [k for k in data if k not in own]:
            params[key] = data.pop(key)
        data["params"] = params
        return data

    @classmethod
    def registry(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls.registry_module), cls.registry_attr)

    def component(self) -> type:
        """The registered class this section names."""
        return self.registry().get(self.name)

    def flat(self) -> dict[str, Any]:
        """The section as it reads in YAML: ``name``, own fields and params side by side."""
        out = self.model_dump(exclude={"params"})
        out.update(self.params)
        return out


class FusedGraphConfig(ComponentConfig):
    """A graph fused from all modalities (``graph.fused``): builder ``name`` and parameters."""

    registry_module: ClassVar[str] = "graphfuse.graphs"
    registry_attr: ClassVar[str] = "FUSED_BUILDERS"

    name: str = "snf"

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data  # fused: snf


class GraphConfig(ComponentConfig):
    """Patient-similarity graph builder (``name``, applied to each modality) and its
    parameters, plus an optional graph fused from all modalities (``fused``)."""

    registry_module: ClassVar[str] = "graphfuse.graphs"
    registry_attr: ClassVar[str] = "BUILDERS"

    name: str = "knn"
    transductive: bool = False
    """``false`` (default): fit on training patients and attach the others to training
    neighbours. ``true``: MOGONET's setting, all patients' features used to build the graph."""
    fused: FusedGraphConfig | None = None
    """Also build one graph from all modalities (edge type ``similar_fused``), e.g.
    ``fused: {name: snf, k: 10}``; ``null`` (default): per-modality graphs only."""
    knowledge: KnowledgeConfig | None = None
    """Extend the patient graph into a knowledge-graph heterograph (genes, gene sets,
    variables; for models with ``graph_kind = "knowledge"`` such as ``hetero``), e.g.
    ``knowledge: {gene_sets: {pathway: reactome}}``; ``null`` (default): patient graph."""

    def flat(self) -> dict[str, Any]:
        out = super().flat()
        del out["fused"], out["knowledge"]  # last: after the per-modality builder's parameters
        out["fused"] = self.fused.flat() if self.fused is not None else None
        if self.knowledge is not None:  # left out when absent, as before the section existed
            out["knowledge"] = self.knowledge.model_dump(mode="json")
        return out


class ModelConfig(ComponentConfig):
    """Model (``name``) and its parameters."""

    registry_module: ClassVar[str] = "graphfuse.models"
    registry_attr: ClassVar[str] = "MODELS"

    name: str = "gcn_fusion"


class TrainConfig(StrictModel):
    """Optimisation, splits and early stopping."""

    epochs: int = Field(300, ge=1, le=100_000)
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(1e-2, ge=0.0, le=1.0)
    patience: int = Field(40, ge=1, le=100_000)
    monitor: Literal["val_loss", "val_roc_auc", "val_c_index"] = "val_loss"
    """Early stopping's validation metric: ``val_loss``, ``val_roc_auc`` (classification)
    or ``val_c_index`` (survival)."""
    modality_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Each epoch, hide each modality a training patient has with this probability (never
    all of them) so the model learns to predict from what a patient has; seeded by
    ``seed``; evaluation uses the true availability."""
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    """Unused when the cohort has a published split (``obs["split"]``: MOGONET folders,
    ``tables.split_column``): its test patients are the test set and ``val_fraction`` is
    then a fraction of its training patients."""
    threads: int | None = Field(None, ge=1, le=1024)
    """torch intra-op threads during the fit; ``null``: 1 below 2,000 patients (measured
    fastest and steadiest there), else torch's default of one per core."""
    refit: bool = False
    """``true``: after the fit has chosen the stopping epoch on validation patients, refit
    from the same seed on training + validation patients together (preprocessing, graph and
    model; a scikit-learn baseline is fitted once) for exactly that many epochs, without
    early stopping, and score the test patients with the refitted model. Validation metrics
    stay those of the first fit (after the refit, validation patients are training patients).
    ``false`` (default): the early-stopped model is the result."""


class TrackingConfig(StrictModel):
    """MLflow tracking."""

    enabled: bool = True
    uri: str | None = None
    """Tracking URI; ``null`` uses ``MLFLOW_TRACKING_URI`` or else ``sqlite:///mlflow.db``."""
    experiment: str = Field("graphfuse", min_length=1)
    run_name: str | None = None


class ExperimentConfig(StrictModel):
    """A whole experiment: what ``graphfuse fit`` runs."""

    seed: int = Field(0, ge=0, le=2**32 - 1)
    task: Literal["classification", "survival"] = "classification"
    """``classification`` (the target's classes) or ``survival`` (a risk score trained with
    the Cox partial likelihood; needs ``data.survival``)."""
    data: DataConfig = Field(default_factory=DataConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    tune: TuneConfig | None = None
    """What ``graphfuse tune`` searches (:mod:`graphfuse.tune`); ignored by ``fit``."""

    source: str | None = Field(None, exclude=True)
    """Where the config was read from (not part of the experiment)."""

    @field_validator("data")
    @classmethod
    def _survival_outcome(cls, data: DataConfig, info: ValidationInfo) -> DataConfig:
        if info.data.get("task") != "survival":
            return data
        if data.survival is None:
            raise ValueError(
                "task: survival needs data.survival, the time and event columns of the patient "
                "table, e.g. survival: {time: os_months, event: os_event}"
            )
        if data.source == "synthetic" and data.synthetic and not data.synthetic.survival:
            raise ValueError(
                "task: survival on the synthetic cohort needs data.synthetic.survival: true "
                "(it has no outcome otherwise)"
            )
        return data

    @field_validator("train")
    @classmethod
    def _monitor_of_task(cls, train: TrainConfig, info: ValidationInfo) -> TrainConfig:
        task = info.data.get("task", "classification")
        wrong = {"classification": "val_c_index", "survival": "val_roc_auc"}.get(task)
        if train.monitor == wrong:
            valid = "val_loss, val_c_index" if task == "survival" else "val_loss, val_roc_auc"
            raise ValueError(f"monitor {wrong!r} is not a {task} metric; use one of {valid}")
        return train

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-ready data, defaults filled in."""
        out = self.model_dump(mode="json", exclude={"graph", "model"})
        out["graph"] = self.graph.flat()
        out["model"] = self.model.flat()
        keys = ("seed", "task", "data", "graph", "model", "train", "tracking")
        return {key: out[key] for key in keys} | ({"tune": out["tune"]} if self.tune else {})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------- loading


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``key.sub=value`` strings into ``{"key.sub": value}``; values are YAML scalars.

    Examples
    --------
    >>> parse_overrides(["train.epochs=5", "graph.metric=euclidean", "tracking.uri=null"])
    {'train.epochs': 5, 'graph.metric': 'euclidean', 'tracking.uri': None}
    """
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--set {item!r}: expected KEY.SUB=VALUE, e.g. --set train.epochs=50")
        try:
            parsed[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    return parsed


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``dotted = "a.b.c"``, creating missing sections.

    Raises
    ------
    ConfigError
        A step of the path is a value, not a section.
    """
    node = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"{where} is a value ({child!r}), not a section")
        node = child
    node[parts[-1]] = value


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        try:
            set_path(raw, dotted, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {dotted}=...: {exc}") from None
    return raw


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] | dict[str, Any] = (),
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    Parameters
    ----------
    path
        A YAML file; ``None`` starts from the defaults.
    overrides
        ``["train.epochs=5", ...]`` as given to ``--set``, or an already parsed
        ``{"train.epochs": 5}``.

    Returns
    -------
    ExperimentConfig
        The validated config, with registered components' defaults filled in.

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, unknown key, wrong type or value out of range;
        the message names the file and the key and says what is allowed.
    """
    source = str(path) if path is not None else "<defaults>"
    raw: Any = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{source}: expected a mapping of sections (seed, data, graph, model, train, "
                f"tracking) at the top level, got {type(raw).__name__}"
            )
    if not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    raw = _apply_overrides(raw, overrides)
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        message = format_validation_errors(exc, ExperimentConfig, (), source, overrides)
        raise ConfigError(message) from None
    cfg.source = source
    return resolve_components(cfg, overrides)


def resolve_components(
    config: ExperimentConfig, overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Validate the ``graph`` and ``model`` sections' parameters against their components.

    Fills in the components' defaults, in place. :func:`load_config` calls it; call it on a
    config built in Python (``ExperimentConfig(...)``) — :func:`graphfuse.experiment.fit`
    does. Validating twice changes nothing.

    Raises
    ------
    ConfigError
        Unknown component name or invalid parameter, naming the key and the valid choices.
    """
    source = config.source or "<config>"
    graph = config.graph
    if graph.name not in graph.registry() and graph.name in FusedGraphConfig.registry():
        raise ConfigError(
            _prefix(source, "graph.name", overrides or {})
            + f"{graph.name!r} fuses all modalities into one graph: give it as graph.fused "
            "beside a per-modality builder, e.g. "
            f"graph: {{name: knn, fused: {{name: {graph.name}}}}}"
        )
    for section in ("graph", "model"):
        _resolve_component(getattr(config, section), section, source, overrides or {})
    if graph.fused is not None:
        _resolve_component(graph.fused, "graph.fused", source, overrides or {})
    return config


def _resolve_component(
    section: ComponentConfig, key: str, source: str, overrides: dict[str, Any]
) -> None:
    try:
        cls = section.component()
    except RegistryError as exc:
        raise ConfigError(_prefix(source, f"{key}.name", overrides) + str(exc)) from None
    params_model: type[BaseModel] = cls.Params
    try:
        params = params_model.model_validate(section.params)
    except ValidationError as exc:
        own = sorted(set(type(section).model_fields) - {"params"})
        raise ConfigError(
            format_validation_errors(exc, params_model, (key,), source, overrides, also_valid=own)
        ) from None
    section.params = params.model_dump(mode="json")


def _prefix(source: str, dotted: str, overrides: dict[str, Any]) -> str:
    via = " (from --set)" if dotted in overrides else ""
    return f"{source}: {dotted}{via}: "


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking ``loc`` from ``model``, if any."""
    current: Any = model
    keyed = False  # the previous part was a dict[str, Model] field: this part is its key
    for part in loc:
        if keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
        keyed = typing.get_origin(current) in (dict, list)  # the next part is a key or index
        for arg in typing.get_args(current) or ():  # Optional[Model] and the like
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def format_validation_errors(
    exc: ValidationError,
    model: type[BaseModel],
    base: tuple[str, ...],
    source: str,
    overrides: dict[str, Any],
    also_valid: list[str] | None = None,
) -> str:
    """A pydantic error as graphfuse's one-paragraph config error text.

    Each line names ``source``, the dotted key (``base`` + the error's location, marked
    "from --set" when it came from ``overrides``) and what is allowed: for an unknown key the
    valid keys of that section (plus ``also_valid``), otherwise pydantic's message and the
    value given. Stages that validate their own options (e.g. the preprocessor) call it so
    their errors read like the config's.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        dotted = ".".join(base + loc) or "(top level)"
        head = _prefix(source, dotted, overrides)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = sorted(parent.model_fields) if parent is not None else []
            if parent is not None and issubclass(parent, ComponentConfig):
                valid = sorted(set(valid) - {"params"})
            if also_valid and len(loc) == 1:
                valid = sorted(set(valid) | set(also_valid))
            lines.append(head + f"unknown key; valid keys here: {', '.join(valid)}")
        else:
            shown = "input" in err and err["type"] != "missing"
            shown = shown and not isinstance(err["input"], dict)  # not a whole section
            got = f" (got {err['input']!r})" if shown else ""
            lines.append(head + err["msg"] + got)
    return "invalid config:\n  " + "\n  ".join(lines)
