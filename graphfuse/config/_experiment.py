"""The experiment config: its sections, reading it from YAML and ``--set`` overrides.

:class:`ExperimentConfig` gathers the sections; :func:`load_config` reads, overrides and
validates one; the ``graph`` and ``model`` sections (:class:`ComponentConfig`) name a
component of a stage's registry and are validated against that component's ``Params``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from graphfuse._device import DEVICE_PATTERN
from graphfuse._params import StrictModel
from graphfuse.config._benchmark import BenchmarkConfig
from graphfuse.config._knowledge import KnowledgeConfig
from graphfuse.config._tune import TuneConfig
from graphfuse.data import DataConfig
from graphfuse.errors import (
    ConfigError,
    RegistryError,
    config_key_prefix,
    format_validation_errors,
)
from graphfuse.graphs import BUILDERS, FUSED_BUILDERS
from graphfuse.models import MODELS
from graphfuse.registry import Registry
from graphfuse.train import TASKS

__all__ = [
    "ComponentConfig",
    "ExperimentConfig",
    "FusedGraphConfig",
    "GraphConfig",
    "ModelConfig",
    "TrackingConfig",
    "TrainConfig",
    "load_config",
    "load_data_section",
    "parse_overrides",
    "resolve_components",
    "set_path",
]


class ComponentConfig(StrictModel):
    """A section naming a registered component plus that component's parameters.

    ``params`` holds the component's validated parameters with defaults filled in;
    ``components`` is the stage's registry the ``name`` is looked up in.
    """

    components: ClassVar[Registry[Any]]

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
    def config_keys(cls) -> list[str]:
        """The keys of the section in YAML, besides the component's own parameters."""
        return sorted(set(cls.model_fields) - {"params"})

    def component(self) -> type:
        """The registered class this section names."""
        return self.components.get(self.name)

    def flat(self) -> dict[str, Any]:
        """The section as it reads in YAML: ``name``, own fields and params side by side."""
        out = self.model_dump(exclude={"params"})
        out.update(self.params)
        return out


class FusedGraphConfig(ComponentConfig):
    """A graph fused from all modalities (``graph.fused``): builder ``name`` and parameters."""

    components: ClassVar[Registry[Any]] = FUSED_BUILDERS

    name: str = "snf"

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data  # fused: snf


class GraphConfig(ComponentConfig):
    """Patient-similarity graph builder (``name``, applied to each modality) and its
    parameters, plus an optional graph fused from all modalities (``fused``)."""

    components: ClassVar[Registry[Any]] = BUILDERS

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

    components: ClassVar[Registry[Any]] = MODELS

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
    device: str = Field("auto", pattern=DEVICE_PATTERN)
    """Where the model is trained and scored: ``auto`` (a CUDA GPU when torch sees one,
    else the CPU), ``cpu``, ``cuda`` or ``cuda:N``. A GPU the machine does not have is an
    error when the fit starts. Random draws are made on the CPU, so a seed draws the same
    on every device; the fitted model and graph are handed back on the CPU."""
    threads: int | None = Field(None, ge=1, le=1024)
    """torch intra-op threads during the fit; ``null``: 1 below 2,000 patients (measured
    fastest and steadiest there), else torch's default of one per core."""
    refit: bool = False
    """``true``: after the fit has chosen the stopping epoch on validation patients, refit
    from the same seed on training + validation patients together (preprocessing, graph and
    model; a scikit-learn baseline is fitted once) for exactly that many epochs, without
    early stopping, and score the test patients with the refitted model. Validation metrics
    stay those of the first fit (after the refit, validation patients are training patients).
    ``false`` (default): the early-stopped model is the result. The same as
    ``ensemble: refit`` with ``selection: holdout``."""
    selection: Literal["holdout", "cv"] = "holdout"
    """How the number of epochs is chosen. ``holdout`` (default): early stopping on one
    validation set carved from the training patients (``val_fraction``). ``cv``: k-fold
    cross-validation inside the training patients (``inner_folds``; no validation set is
    carved): each inner fold fits its own preprocessing, graph and model and early-stops on
    its held-out fold; the number of epochs is the median of the folds' best epochs, and the
    run's validation metrics are the folds' out-of-fold predictions of every training
    patient."""
    inner_folds: int = Field(5, ge=2, le=20)
    """Folds of ``selection: cv`` (stratified by class, seeded by ``seed``)."""
    ensemble: Literal["none", "folds", "refit", "folds+refit"] | None = None
    """The final predictor. ``none``: the early-stopped model (``selection: holdout`` only);
    ``refit``: a model refitted on all training patients (with ``holdout``: training +
    validation) for the chosen number of epochs; ``folds``: the average of the inner folds'
    models (``selection: cv`` only), each with its own preprocessing and graph; ``folds+refit``:
    the average of both (equal weights). ``null`` (default): ``none`` for ``holdout`` (``refit``
    when ``refit: true``), ``refit`` for ``cv``."""

    @model_validator(mode="before")
    @classmethod
    def _resolve_ensemble(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        cv = data.get("selection", "holdout") == "cv"
        refit = data.get("refit", False)
        ensemble = data.get("ensemble")
        if ensemble is None:
            ensemble = "refit" if (cv or refit is True) else "none"
        if not isinstance(ensemble, str):
            return data  # the field's own validation names the valid choices
        if refit is True and "refit" not in ensemble:
            raise ValueError(
                f"refit: true asks for a refitted model but ensemble is {ensemble!r}; "
                "use ensemble: refit (or folds+refit) and leave refit out"
            )
        if not cv and "folds" in ensemble:
            raise ValueError(
                f"ensemble: {ensemble} averages the inner folds' models, which only "
                "selection: cv fits; use selection: cv, or ensemble: none / refit"
            )
        if cv and ensemble == "none":
            raise ValueError(
                "selection: cv chooses the number of epochs but fits no final model by itself; "
                "use ensemble: refit (the default), folds or folds+refit"
            )
        data["ensemble"] = ensemble
        if isinstance(refit, bool):  # the refitted model is part of the result: refit follows
            data["refit"] = "refit" in ensemble
        return data


with warnings.catch_warnings():
    # ``register`` is the config key; it shadows ABCMeta.register, which no config calls
    warnings.filterwarnings("ignore", 'Field name "register"', UserWarning)

    class TrackingConfig(StrictModel):
        """MLflow tracking."""

        enabled: bool = True
        uri: str | None = None
        """Tracking URI; ``null`` uses ``MLFLOW_TRACKING_URI`` or else ``sqlite:///mlflow.db``."""
        experiment: str = Field("graphfuse", min_length=1)
        run_name: str | None = None
        """The MLflow run's name; ``null``: ``<config stem>-<model>-s<seed>`` (the stem of a
        config without a file is ``config``). Runs of a larger job add what they are:
        ``-fold2`` (cross-validation), ``-trial3`` (tuning), ``-benchmark``."""
        register: str | None = Field(None, min_length=1)
        """Also register the run's MLflow model (``model``) in the model registry under
        this name (a new version per run); ``null``: do not register."""


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
    benchmark: BenchmarkConfig | None = None
    """What ``graphfuse benchmark explainers`` checks explanations against (the cohort's
    reference biology, :mod:`graphfuse.config._benchmark`); ignored by ``fit``."""

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
        monitors = TASKS.get(task).monitors
        if train.monitor not in monitors:
            raise ValueError(
                f"monitor {train.monitor!r} is not a {task} metric; use one of "
                + ", ".join(monitors)
            )
        return train

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-ready data, defaults filled in."""
        out = self.model_dump(mode="json", exclude={"graph", "model"})
        out["graph"] = self.graph.flat()
        out["model"] = self.model.flat()
        keys = ("seed", "task", "data", "graph", "model", "train", "tracking")
        extra = {k: out[k] for k in ("tune", "benchmark") if getattr(self, k) is not None}
        return {key: out[key] for key in keys} | extra

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
        Unreadable, empty or invalid YAML file, unknown key, wrong type or value out of
        range; the message names the file and the key and says what is allowed.
    """
    source = str(path) if path is not None else "<defaults>"
    raw: Any = {}
    if path is not None:
        raw = _read_yaml(path, "config file")
        if raw is None:
            raise ConfigError(
                f"{source}: the config file is empty (no sections); write the sections to "
                "set (seed, data, graph, model, train, tracking), or {} for every default "
                "(the built-in synthetic cohort)"
            )
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


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (where YAML itself
    would keep the last one without a word)."""


def _mapping_without_duplicates(loader: _UniqueKeys, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{loader.name}: key {key!r} appears twice in one section (lines {seen[key]} and "
                f"{line}); YAML would silently keep the last one: give it once"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_UniqueKeys.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _read_yaml(path: str | Path, what: str) -> Any:
    """The YAML document of ``path``; a missing file, invalid YAML or a key given twice in
    one mapping is a ``ConfigError``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: {what} not found")
    text = p.read_text(encoding="utf-8")
    loader = _UniqueKeys(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_data_section(path: str | Path) -> tuple[DataConfig, int]:
    """The ``data:`` section (and the top-level ``seed``, default 0) of a YAML file, e.g.
    the new patients of ``graphfuse predict --data new.yaml``; other sections are ignored,
    so an experiment config serves too.

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, no ``data:`` section, or an invalid one (naming the
        file and the key).
    """
    source = str(path)
    raw = _read_yaml(path, "file")
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise ConfigError(
            f"{source}: expected a data: section describing the new patients' tables (as in "
            "an experiment config)"
        )
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{source}: seed must be a non-negative integer, got {seed!r}")
    try:
        data = DataConfig.model_validate(raw["data"])
    except ValidationError as exc:
        raise ConfigError(
            format_validation_errors(exc, DataConfig, ("data",), source, {})
        ) from None
    return data, seed


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
    if graph.name not in graph.components and graph.name in FUSED_BUILDERS:
        raise ConfigError(
            config_key_prefix(source, "graph.name", overrides or {})
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
        raise ConfigError(config_key_prefix(source, f"{key}.name", overrides) + str(exc)) from None
    params_model: type[BaseModel] = cls.Params
    try:
        params = params_model.model_validate(section.params)
    except ValidationError as exc:
        own = type(section).config_keys()
        raise ConfigError(
            format_validation_errors(exc, params_model, (key,), source, overrides, also_valid=own)
        ) from None
    section.params = params.model_dump(mode="json")
