"""graphfuse: graph-based fusion of multimodal biomedical data.

The pipeline (see ``docs/index.md``)::

    Cohort -> graph builder -> HeteroData -> model -> trainer -> metrics -> (explainers)

Importing :mod:`graphfuse` is cheap: it applies the CPU thread policy (before torch
is loaded) and nothing else. The stages live in sub-packages: :mod:`graphfuse.data`,
:mod:`graphfuse.graphs`, :mod:`graphfuse.models`, :mod:`graphfuse.train`, and the
orchestrator :mod:`graphfuse.experiment`. ``graphfuse.load_pipeline(run_id)`` loads a
tracked run's fitted pipeline to score new patients (imported on first use).
"""

from graphfuse._threads import apply_thread_policy

apply_thread_policy()

__version__ = "0.1.0"

__all__ = ["__version__", "load_pipeline"]


def __getattr__(name: str) -> object:
    """``graphfuse.load_pipeline``: loaded on first use, so ``import graphfuse`` stays cheap."""
    if name == "load_pipeline":
        from graphfuse.experiment import load_pipeline

        return load_pipeline
    raise AttributeError(f"module 'graphfuse' has no attribute {name!r}")
