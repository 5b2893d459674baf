"""The orchestrator: ``fit(config)`` chains data, graphs, model, training and tracking;
``cross_validate`` repeats it over folds; ``explain_run`` explains a tracked run.

The CLI and notebooks call these same functions::

    from graphfuse.config import load_config
    from graphfuse.experiment import fit

    result = fit(load_config("configs/ad.yaml"))
    result.metrics["test"]["roc_auc"]
"""

from graphfuse.experiment._cv import CVResult, cross_validate
from graphfuse.experiment._explain import ExplainResult, explain_run
from graphfuse.experiment._fit import (
    SPLITS,
    FitResult,
    Prepared,
    annotate_graph,
    build_graph,
    fit,
    prepare,
    seed_everything,
    split_cohort,
)

__all__ = [
    "SPLITS",
    "CVResult",
    "ExplainResult",
    "FitResult",
    "Prepared",
    "annotate_graph",
    "build_graph",
    "cross_validate",
    "explain_run",
    "fit",
    "prepare",
    "seed_everything",
    "split_cohort",
]
