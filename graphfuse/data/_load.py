"""Build a cohort from a config's ``data`` section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphfuse.data._cohort import Cohort
from graphfuse.data._synthetic import make_synthetic_cohort
from graphfuse.errors import ConfigError

if TYPE_CHECKING:
    from graphfuse.config import DataConfig

__all__ = ["load_cohort"]


def load_cohort(config: DataConfig, *, seed: int) -> Cohort:
    """The cohort a ``data`` config describes, restricted to its ``modalities``.

    Parameters
    ----------
    config
        The experiment's ``data`` section.
    seed
        Seed of generated cohorts (the experiment's seed).
    """
    if config.source == "synthetic":
        syn = config.synthetic.model_dump()
        cohort = make_synthetic_cohort(**syn, seed=seed)
    else:  # pragma: no cover - the config only admits known sources
        raise ConfigError(f"data.source: unknown source {config.source!r}")
    if config.modalities is not None:
        unknown = [m for m in config.modalities if m not in cohort.modalities]
        if unknown:
            raise ConfigError(
                f"data.modalities: {unknown} not in the cohort; it has {cohort.modalities}"
            )
        cohort = cohort.select(config.modalities)
    return cohort
