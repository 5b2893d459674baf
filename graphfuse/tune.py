"""Hyper-parameter search, ``graphfuse tune``: see :func:`graphfuse.experiment.tune`.

The search lives in the experiment stage (``graphfuse/experiment/_tune.py`` and
``_tune_search.py``); this module keeps ``graphfuse.tune`` and its names importable.
"""

from graphfuse.experiment._tune import TuneResult, tune
from graphfuse.experiment._tune_search import (
    JOURNAL_NAME,
    _pruner,
    check_space,
    default_storage,
    open_storage,
    redact,
    trial_config,
    trials_frame,
)

__all__ = [
    "JOURNAL_NAME",
    "TuneResult",
    "_pruner",
    "check_space",
    "default_storage",
    "open_storage",
    "redact",
    "trial_config",
    "trials_frame",
    "tune",
]
