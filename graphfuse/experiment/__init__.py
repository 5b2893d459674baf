"""The orchestrator: ``fit(config)`` chains data, graphs, model, training and tracking;
``cross_validate`` repeats it over folds; ``explain_run`` explains a tracked run; ``tune``
searches hyper-parameters with Optuna; ``benchmark_explainers`` tests explainers against
gene-set collections.

A fit's :class:`Pipeline` (``result.pipeline()``, or :func:`load_pipeline` of a run)
scores, explains and embeds new patients; an :class:`EnsemblePipeline` averages several
(fold ensembles); ``predict_run`` is ``graphfuse predict``.

Long work (``explain_run``, ``benchmark_explainers``, ``cross_validate``, ``tune``) takes
``progress=True`` (a rich bar on standard error, :class:`RichProgress`) or a callable
``progress(stage, done, total, info)`` (:data:`ProgressCallback`).

The CLI and notebooks call these same functions::

    from graphfuse.config import load_config
    from graphfuse.experiment import fit

    result = fit(load_config("configs/ad.yaml"))
    result.metrics["test"]["roc_auc"]
"""

from graphfuse._fanout import FanOut, task_seeds
from graphfuse.experiment._advice import (
    Advice,
    CostModel,
    ExplainerAdvice,
    advise,
    choose_graph,
    fit_cost_model,
)
from graphfuse.experiment._benchmark import (
    COLLECTIONS,
    METHODS,
    BenchmarkResult,
    ad_reference,
    benchmark_explainers,
)
from graphfuse.experiment._benchmark_controls import (
    coefficient_ranking,
    consensus_ranking,
    model_free_ranking,
    permuted_cohort,
)
from graphfuse.experiment._benchmark_seeds import SeedsBenchmarkResult, benchmark_seeds
from graphfuse.experiment._cv import CVResult, cross_validate
from graphfuse.experiment._ensemble import ENSEMBLE_FORMAT, EnsemblePipeline, load_pipeline_folder
from graphfuse.experiment._explain import ExplainResult, explain_run
from graphfuse.experiment._fit import FitResult, fit
from graphfuse.experiment._intervals import fit_intervals
from graphfuse.experiment._pipeline import PIPELINE_FORMAT, Pipeline, Scored
from graphfuse.experiment._predict import (
    OUTPUT_FORMATS,
    PredictResult,
    explain_new,
    load_pipeline,
    predict_run,
    read_new_data,
)
from graphfuse.experiment._prepare import (
    SPLITS,
    Prepared,
    annotate_graph,
    build_graph,
    prepare,
    read_outcome,
    seed_everything,
    split_cohort,
)
from graphfuse.experiment._progress import ProgressCallback, RichProgress
from graphfuse.experiment._pyfunc import from_wide_table, wide_table
from graphfuse.experiment._tune import TuneResult, tune
from graphfuse.experiment._tune_search import check_space, trial_config, trials_frame
from graphfuse.experiment._tune_storage import (
    JOURNAL_NAME,
    default_storage,
    open_storage,
    redact,
)

__all__ = [
    "COLLECTIONS",
    "ENSEMBLE_FORMAT",
    "JOURNAL_NAME",
    "METHODS",
    "OUTPUT_FORMATS",
    "PIPELINE_FORMAT",
    "SPLITS",
    "Advice",
    "BenchmarkResult",
    "CVResult",
    "CostModel",
    "EnsemblePipeline",
    "ExplainResult",
    "ExplainerAdvice",
    "FanOut",
    "FitResult",
    "Pipeline",
    "PredictResult",
    "Prepared",
    "ProgressCallback",
    "RichProgress",
    "Scored",
    "SeedsBenchmarkResult",
    "TuneResult",
    "ad_reference",
    "advise",
    "annotate_graph",
    "benchmark_explainers",
    "benchmark_seeds",
    "build_graph",
    "check_space",
    "choose_graph",
    "coefficient_ranking",
    "consensus_ranking",
    "cross_validate",
    "default_storage",
    "explain_new",
    "explain_run",
    "fit",
    "fit_cost_model",
    "fit_intervals",
    "from_wide_table",
    "load_pipeline",
    "load_pipeline_folder",
    "model_free_ranking",
    "open_storage",
    "permuted_cohort",
    "predict_run",
    "prepare",
    "read_new_data",
    "read_outcome",
    "redact",
    "seed_everything",
    "split_cohort",
    "task_seeds",
    "trial_config",
    "trials_frame",
    "tune",
    "wide_table",
]
