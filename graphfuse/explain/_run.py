"""``run``: several explainers over one model and its patient graph, in one loop.

The experiment stage (``explain_run``, the explainer benchmark) and the CLI explain
through this function, so every caller builds, validates and runs explainers alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from torch_geometric.data import HeteroData

from graphfuse._device import DeviceSetting, on_device
from graphfuse._threads import torch_threads
from graphfuse.explain._attribution import Attribution
from graphfuse.explain._base import Explainer, build_explainer
from graphfuse.explain._ticks import counting_patients
from graphfuse.models import FusionModel

__all__ = ["build_explainers", "run"]


def build_explainers(
    methods: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Explainer]:
    """The registered explainers ``methods``, each with its ``params[method]`` validated.

    Building them before any work is done makes a bad name or parameter fail early.

    Parameters
    ----------
    methods
        Registered explainer names, in the order to run them.
    params
        ``method -> its parameters``, e.g. ``{"shap": {"n_permutations": 64}}``.

    Returns
    -------
    dict
        ``method -> Explainer``, in the order of ``methods``.

    Raises
    ------
    RegistryError
        An unknown method (the message lists the registered ones).

    Examples
    --------
    >>> list(build_explainers(["saliency", "masking"]))
    ['saliency', 'masking']
    """
    params = params or {}
    return {m: build_explainer(m, **params.get(m, {})) for m in methods}


def run(
    model: FusionModel,
    data: HeteroData,
    methods: Sequence[str] | Mapping[str, Explainer],
    *,
    patients: Sequence[int] | np.ndarray | None = None,
    target: int | str | None = None,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    threads: int | None = None,
    callback: Callable[[str, Attribution], None] | None = None,
    device: DeviceSetting | None = None,
    progress: Callable[[str, int, int, Mapping[str, Any]], None] | None = None,
) -> dict[str, Attribution]:
    """Explain ``model`` on ``data`` with each of ``methods``, one after the other.

    Parameters
    ----------
    model, data
        A trained model and its patient graph.
    methods
        Registered explainer names (built with ``params``, :func:`build_explainers`), or
        ``name -> Explainer`` already built.
    patients, target, seed
        As in :meth:`graphfuse.explain.Explainer.explain`, the same for every method.
    params
        ``method -> its parameters``; only used for methods given by name.
    threads
        Torch threads while explaining (restored afterwards); ``None``: as they are.
    callback
        Called with ``(method, attribution)`` after each method, e.g. to log or show
        progress.
    device
        Where to explain (``train.device``'s values or a :class:`torch.device`): the
        model is copied there once for all methods (``model`` itself stays where it is)
        and the graph moved (:func:`graphfuse._device.on_device`). ``None``: where the
        model is (the graph must be there too).
    progress
        Called as ``progress("explain", done, total, {"method": name})`` before each
        method (``done`` of the ``total`` methods finished, ``name`` the one starting;
        ``done=0`` first) and ``progress("explain", total, total, {})`` at the end; while
        shap, sensitivity and integrated gradients work through their patients in batches,
        also ``progress("patients", done, total, {"method": name})`` after each batch. See
        ``graphfuse.experiment.RichProgress`` for a progress bar.

    Returns
    -------
    dict
        ``method -> Attribution``, in the order of ``methods``; each attribution's
        ``seconds`` is the method's compute time.

    Examples
    --------
    >>> from graphfuse.explain import run
    >>> callable(run)
    True
    """
    explainers = (
        dict(methods) if isinstance(methods, Mapping) else build_explainers(methods, params)
    )
    model, data = on_device(model, data, device, who="explain")
    attributions: dict[str, Attribution] = {}
    total = len(explainers)
    with torch_threads(threads):
        for i, (name, explainer) in enumerate(explainers.items()):
            hook = None
            if progress is not None:
                progress("explain", i, total, {"method": name})
                hook = _patients_hook(progress, name)
            with counting_patients(hook):
                attributions[name] = explainer.explain(
                    model, data, patients=patients, target=target, seed=seed
                )
            if callback is not None:
                callback(name, attributions[name])
    if progress is not None:
        progress("explain", total, total, {})
    return attributions


def _patients_hook(
    progress: Callable[[str, int, int, Mapping[str, Any]], None], name: str
) -> Callable[[int, int], None]:
    """``progress("patients", done, total, {"method": name})`` as a batch hook."""

    def hook(done: int, total: int) -> None:
        progress("patients", done, total, {"method": name})

    return hook
