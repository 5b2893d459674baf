"""Hyper-parameter search, ``graphfuse tune``: see :func:`graphfuse.experiment.tune`.

The search lives in the experiment stage (``graphfuse/experiment/_tune.py`` and
``_tune_search.py``); this module keeps ``graphfuse.tune`` and its names importable.
"""

from graphfuse.experiment._tune import TuneResult, tune
from graphfuse.experiment._tune_search import _pruner, check_space, trial_config, trials_frame
from graphfuse.experiment._tune_storage import (
    JOURNAL_NAME,
    default_storage,
    open_storage,
    redact,
    worker_seed,
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
    "worker_seed",
]
