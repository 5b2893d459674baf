"""Typed, validated experiment configs read from YAML.

An experiment config has six sections — ``seed``, ``data``, ``graph``, ``model``,
``train``, ``tracking`` — each a pydantic model that forbids unknown keys. The
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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graphfuse.errors import ConfigError, RegistryError

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "GraphConfig",
    "MissingConfig",
    "ModelConfig",
    "PreprocessConfig",
    "SyntheticConfig",
    "TrackingConfig",
    "TrainConfig",
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


class PreprocessConfig(StrictModel):
    """Preprocessing, fitted on training patients only and applied to all."""

    scale: bool = True
    impute: Literal["median", "none"] = "median"
    """``median``: missing values of a feature become its training median, and a
    ``<feature>__missing`` indicator column is added; ``none``: missing values are an error."""


class DataConfig(StrictModel):
    """Where the cohort comes from and which modalities to use."""

    source: Literal["synthetic"] = "synthetic"
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    modalities: list[str] | None = None
    """Modalities to use, by name; ``null`` uses every modality of the cohort."""
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)


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


class GraphConfig(ComponentConfig):
    """Patient-similarity graph builder (``name``) and its parameters."""

    registry_module: ClassVar[str] = "graphfuse.graphs"
    registry_attr: ClassVar[str] = "BUILDERS"

    name: str = "knn"
    transductive: bool = False
    """``false`` (default): fit on training patients and attach the others to training
    neighbours. ``true``: MOGONET's setting, all patients' features used to build the graph."""


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
    monitor: Literal["val_loss", "val_roc_auc"] = "val_loss"
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    threads: int | None = Field(None, ge=1, le=1024)
    """torch intra-op threads during the fit; ``null``: 1 below 2,000 patients (measured
    fastest and steadiest there), else torch's default of one per core."""


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
    data: DataConfig = Field(default_factory=DataConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    source: str | None = Field(None, exclude=True)
    """Where the config was read from (not part of the experiment)."""

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML-ready data, defaults filled in."""
        out = self.model_dump(mode="json", exclude={"graph", "model"})
        out["graph"] = self.graph.flat()
        out["model"] = self.model.flat()
        return {key: out[key] for key in ("seed", "data", "graph", "model", "train", "tracking")}

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


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = raw
        parts = dotted.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"--set {dotted}=...: {where} is a value ({child!r}), not a section"
                )
            node = child
        node[parts[-1]] = value
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
        raise ConfigError(_format_errors(exc, ExperimentConfig, (), source, overrides)) from None
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
    for section in ("graph", "model"):
        _resolve_component(getattr(config, section), section, source, overrides or {})
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
            _format_errors(exc, params_model, (key,), source, overrides, also_valid=own)
        ) from None
    section.params = params.model_dump(mode="json")


def _prefix(source: str, dotted: str, overrides: dict[str, Any]) -> str:
    via = " (from --set)" if dotted in overrides else ""
    return f"{source}: {dotted}{via}: "


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking ``loc`` from ``model``, if any."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation
        for arg in typing.get_args(current) or ():  # Optional[Model] and the like
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _format_errors(
    exc: ValidationError,
    model: type[BaseModel],
    base: tuple[str, ...],
    source: str,
    overrides: dict[str, Any],
    also_valid: list[str] | None = None,
) -> str:
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
            got = f" (got {err['input']!r})" if "input" in err and err["type"] != "missing" else ""
            lines.append(head + err["msg"] + got)
    return "invalid config:\n  " + "\n  ".join(lines)
