"""graphfuse: graph-based fusion of multimodal biomedical data.

The pipeline (see ``docs/index.md``)::

    Cohort -> graph builder -> HeteroData -> model -> trainer -> metrics -> (explainers)

Importing :mod:`graphfuse` is cheap: it applies the CPU thread policy (before torch
is loaded) and nothing else. The stages live in sub-packages: :mod:`graphfuse.data`,
:mod:`graphfuse.graphs`, :mod:`graphfuse.models`, :mod:`graphfuse.train`, and the
orchestrator :mod:`graphfuse.experiment`. A tracked run's fitted pipeline, to score new
patients, loads with :func:`graphfuse.experiment.load_pipeline`.
"""

from graphfuse._threads import apply_thread_policy

apply_thread_policy()

__version__ = "0.1.0"

__all__ = ["__version__"]
