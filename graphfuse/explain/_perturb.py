"""Outputs of patients whose own features are replaced, everything else held fixed.

The shared engine of perturbation explainers (sensitivity, SHAP) and of per-patient
gradients (saliency, integrated gradients): "what would patient ``p``'s output be if its
feature rows were these?", for many (patient, rows) pairs at once, **exactly** — equal to
one full-graph forward pass per pair (:func:`_reference_outputs`), only batched.

How a model is evaluated (:func:`perturbation_engine` picks, once per explanation):

``fast path``
    An exact incremental engine registered in :data:`FAST_PATHS` that supports the model
    by what the model declares (:meth:`Engine.supports`): models of per-modality
    encoders that describe them as linear propagations
    (:class:`graphfuse.models.ModalityFusionModel` — ``gcn_fusion``, ``attention``,
    ``mogonet``) get :mod:`graphfuse.explain._perturb_gcn`, where a changed row only
    changes a few nodes' hidden states, updated from precomputed layer states.
``rows``
    Models whose output for a patient depends on its own rows only (the graph-free
    baselines): all pairs are evaluated as the rows of one edgeless graph.
``copies``
    Any other model: pairs are packed into copies of the full graph, batched as one
    disjoint-union graph per forward pass. Pairs share a copy when their owners cannot
    influence each other's outputs: if the model declares a receptive field of ``r``
    edge hops, owners not within ``r`` hops of each other (a greedy colouring of that
    conflict graph); otherwise owners that send no messages — in the default inductive
    graphs, every held-out patient.

Every engine is checked when it is built: it must reproduce the model's own outputs and
a few random pairs of the reference loop, else the next one is used (with a warning).
Whether outputs depend on own rows only, on neighbours within some hops, or globally is
measured (:func:`~graphfuse.explain._reach.dependency_radius`); a declared receptive field
(:meth:`graphfuse.models.FusionModel.receptive_field`) that the measurement
contradicts is ignored.

Since every engine evaluates each pair independently of the others in its batch, the
gradient of the sum of a batch's outputs with respect to the replacement rows is each
pair's own gradient (:func:`own_row_gradients`); saliency and integrated gradients use it.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

import torch

from graphfuse.errors import DataError
from graphfuse.explain._base import ExplainContext
from graphfuse.explain._engines import (
    _TOLERANCE,
    Engine,
    NotApplicable,
    Rows,
    _CopiesEngine,
    _relative_error,
    _RowEngine,
)
from graphfuse.explain._reach import dependency_radius
from graphfuse.graphs import PATIENT, feature_key
from graphfuse.models import FusionModel
from graphfuse.registry import Registry

__all__ = [
    "FAST_PATHS",
    "Engine",
    "NotApplicable",
    "own_row_gradients",
    "path_outputs",
    "perturbation_engine",
    "perturbed_outputs",
    "register_fast_path",
    "replaced_outputs",
]

#: Exact fast engines, by name; each says which models it supports
#: (:meth:`Engine.supports`) and may still refuse a model instance's settings
#: (:class:`NotApplicable`), after which the generic engines are used.
FAST_PATHS: Registry[Engine] = Registry("fast perturbation engine")


def register_fast_path(name: str) -> Callable[[type[Engine]], type[Engine]]:
    """Class decorator registering an exact fast engine under ``name``
    (:data:`FAST_PATHS`)."""
    return FAST_PATHS.register(name)


_ENGINES: weakref.WeakKeyDictionary[ExplainContext, Engine] = weakref.WeakKeyDictionary()


@torch.no_grad()
def perturbed_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> torch.Tensor:
    """Explained output of patient ``owners[b]`` with its own features set to ``rows[m][b]``.

    Everything else — the graph, every other patient's features — is held fixed. Exact:
    equal (to float rounding) to one full-graph forward pass per pair, but batched
    (see the module docstring for how).

    Parameters
    ----------
    ctx
        The explanation context (model, graph, targets).
    owners
        ``(B,)`` node positions; a patient may appear many times.
    rows
        ``modality -> (B, features)`` replacement rows (a modality left out keeps the
        patient's own row). Rows of a modality the patient lacks have no effect.

    Returns
    -------
    torch.Tensor
        ``(B,)`` float64 explained outputs (:meth:`ExplainContext.output`).
    """
    engine = perturbation_engine(ctx)
    owners_t, rows_t = _check(ctx, owners, rows)
    parts = [
        engine.outputs(owners_t[s], {m: r[s] for m, r in rows_t.items()})
        for s in _slices(len(owners_t), engine.batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64, device=ctx.device)


@torch.no_grad()
def replaced_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    modality: str,
    columns: torch.Tensor,
    values: torch.Tensor,
) -> torch.Tensor:
    """Output of patient ``owners[b]`` with feature ``columns[b]`` of its ``modality`` row
    set to ``values[b]`` — :func:`perturbed_outputs` for single-feature changes, without
    building the rows (engines that can skip them do).

    Returns
    -------
    torch.Tensor
        ``(B,)`` float64 explained outputs.
    """
    engine = perturbation_engine(ctx)
    owners_t, _ = _check(ctx, owners, {})
    if modality not in ctx.modalities:
        raise DataError(f"unknown modality {modality!r}; the model has {', '.join(ctx.modalities)}")
    columns = torch.as_tensor(columns, dtype=torch.long, device=ctx.device).reshape(-1)
    values = torch.as_tensor(values, device=ctx.device).reshape(-1)
    if not len(columns) == len(values) == len(owners_t):
        raise DataError("replaced_outputs: owners, columns and values differ in length")
    parts = [
        engine.replaced(owners_t[s], modality, columns[s], values[s])
        for s in _slices(len(owners_t), engine.sparse_batch)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64, device=ctx.device)


@torch.no_grad()
def path_outputs(
    ctx: ExplainContext, owner: int, background: Rows, entry: Rows, steps: int
) -> torch.Tensor | None:
    """Outputs of patient ``owner`` along paths of coalitions (:meth:`Engine.paths`), or
    ``None`` where the engine has no faster way than evaluating each coalition's rows
    with :func:`perturbed_outputs`. Exact like it.

    Parameters
    ----------
    ctx
        The explanation context.
    owner
        Node position of the patient.
    background
        ``modality -> (features,)`` values a feature takes before it enters.
    entry
        ``modality -> (paths, features)`` integer step at which each feature takes the
        patient's own value (``< 0``: always the patient's own).
    steps
        Steps per path: outputs for ``k = 0 .. steps``.

    Returns
    -------
    torch.Tensor or None
        ``(paths, steps + 1)`` float64 outputs.
    """
    return perturbation_engine(ctx).paths(int(owner), background, entry, steps)


def own_row_gradients(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Outputs as :func:`perturbed_outputs` and each output's gradient w.r.t. its own rows.

    ``grads[m][b]`` is the derivative of patient ``owners[b]``'s output with respect to
    its modality-``m`` row, evaluated where that row is ``rows[m][b]`` — exact per
    patient (not the gradient of a sum of outputs, which mixes neighbouring patients).

    Returns
    -------
    tuple
        ``(B,)`` float64 outputs and ``modality -> (B, features)`` gradients, for the
        modalities in ``rows``.
    """
    engine = perturbation_engine(ctx)
    owners_t, rows_t = _check(ctx, owners, rows)
    outs, grads = [], {m: [] for m in rows_t}
    for s in _slices(len(owners_t), engine.batch):
        out, gs = engine.gradients(owners_t[s], {m: r[s] for m, r in rows_t.items()})
        outs.append(out)
        for m, g in gs.items():
            grads[m].append(g)
    out_all = torch.cat(outs) if outs else torch.zeros(0, dtype=torch.float64, device=ctx.device)
    return out_all, {m: torch.cat(g) for m, g in grads.items()}


def perturbation_engine(ctx: ExplainContext) -> Engine:
    """The engine evaluating ``ctx``'s perturbations (built and checked once per context)."""
    engine = _ENGINES.get(ctx)
    if engine is None:
        engine = _ENGINES[ctx] = _choose(ctx)
    return engine


def _choose(ctx: ExplainContext) -> Engine:
    model = ctx.model
    name = getattr(model, "registry_name", type(model).__name__)
    for fast in FAST_PATHS:
        factory = FAST_PATHS.get(fast)
        if factory.supports(model):
            engine = _checked(ctx, name, lambda factory=factory: factory(ctx))
            if engine is not None:
                return engine
    measured = dependency_radius(ctx)
    if measured == 0:
        engine = _checked(ctx, name, lambda: _RowEngine(ctx))
        if engine is not None:
            return engine
    declared = model.receptive_field() if isinstance(model, FusionModel) else None
    if measured is None:
        sharing: int | str | None = None
    elif declared is not None and measured <= int(declared):
        sharing = int(declared)
    else:
        sharing = "silent"
    engine = _checked(ctx, name, lambda: _CopiesEngine(ctx, sharing))
    return engine if engine is not None else _CopiesEngine(ctx, None, copies=1)


def _checked(ctx: ExplainContext, name: str, make: Callable[[], Engine]) -> Engine | None:
    try:
        engine = make()
    except NotApplicable:
        return None
    problem = _verify(ctx, engine)
    if problem is None:
        return engine
    warnings.warn(
        f"perturbation engine {engine.name!r} disagrees with model {name!r} ({problem}); "
        "falling back to a slower exact engine",
        RuntimeWarning,
        stacklevel=4,
    )
    return None


def _verify(ctx: ExplainContext, engine: Engine) -> str | None:
    """Why ``engine`` is not exact for ``ctx`` (``None``: it reproduced every check)."""
    n = ctx.n_nodes
    gen = torch.Generator().manual_seed(20240917)  # draws on the CPU, then moved

    def draw(fn, *args, **kwargs) -> torch.Tensor:
        return fn(*args, generator=gen, device=gen.device, **kwargs).to(ctx.device)

    with torch.no_grad():
        base = ctx.output(ctx.forward(engine.base)).double()
        nodes = draw(torch.randperm, n)[: min(n, 256)]
        own = {m: x[nodes] for m, x in engine.base.items()}
        got = engine.outputs(nodes, own)
        err = _relative_error(got, base[nodes])
        if err > _TOLERANCE:
            return f"unperturbed outputs differ by {err:.2g}"
        # random pairs, a patient twice, rows taken from other patients plus noise
        k = min(n, 6)
        owners = draw(torch.randperm, n)[:k]
        owners = torch.cat([owners, owners[:1]])
        rows = {}
        for m, x in engine.base.items():
            donors = draw(torch.randint, 0, n, (len(owners),))
            noise = draw(torch.randn, len(owners), x.shape[1], dtype=x.dtype)
            rows[m] = x[donors] + 0.5 * noise
        got = engine.outputs(owners, rows)
        want = _reference_outputs(ctx, owners, rows)
    err = _relative_error(got, want)
    if err > _TOLERANCE:
        return f"perturbed outputs differ from the reference by {err:.2g}"
    return None


def _check(
    ctx: ExplainContext, owners: torch.Tensor, rows: Rows
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    owners_t = torch.as_tensor(owners, dtype=torch.long, device=ctx.device).reshape(-1)
    n = ctx.n_nodes
    if len(owners_t) and (int(owners_t.min()) < 0 or int(owners_t.max()) >= n):
        raise DataError(f"perturbation owners must be node positions 0..{n - 1}")
    out = {}
    for m, r in rows.items():
        if m not in ctx.modalities:
            raise DataError(
                f"perturbation rows for unknown modality {m!r}; the model has "
                f"{', '.join(ctx.modalities)}"
            )
        width = int(ctx.data[PATIENT][feature_key(m)].shape[1])
        r = torch.as_tensor(r, device=ctx.device)
        if r.shape != (len(owners_t), width):
            raise DataError(
                f"perturbation rows of modality {m!r} have shape {tuple(r.shape)}; "
                f"expected ({len(owners_t)}, {width})"
            )
        out[m] = r
    return owners_t, out


def _slices(total: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, total)) for i in range(0, total, size)]


@torch.no_grad()
def _reference_outputs(
    ctx: ExplainContext,
    owners: torch.Tensor,
    rows: Rows,
) -> torch.Tensor:
    """The definition :func:`perturbed_outputs` must equal: one full forward per pair."""
    base = ctx.features()
    out = torch.empty(len(owners), dtype=torch.float64, device=ctx.device)
    for b, p in enumerate(torch.as_tensor(owners, device=ctx.device).tolist()):
        feats = dict(base)
        for m, r in rows.items():
            x = base[m].clone()
            x[p] = r[b]
            feats[m] = x
        out[b] = ctx.output(ctx.forward(feats))[p]
    return out
