"""An :class:`~graphfuse.explain.Attribution` handed to other tools: ``shap``, PyG, scverse.

:func:`to_shap` builds a ``shap.Explanation`` (shap's plots), :func:`to_pyg` a PyG
``HeteroExplanation`` (node and edge masks), :func:`write` puts the scores into a
MuData/AnnData's slots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from graphfuse.data import require_patients
from graphfuse.errors import ConfigError, DataError
from graphfuse.explain._names import patient_ids
from graphfuse.graphs import PATIENT, feature_key

#: What the functions here take: a :class:`~graphfuse.explain.Attribution` (whose module
#: calls them, so it is not imported here).
Attribution = Any

__all__ = ["to_pyg", "to_shap", "write"]

#: Per-feature importance column :func:`write` adds to a modality's ``.var``.
IMPORTANCE = "importance"


def _log_odds(attribution: Attribution) -> np.ndarray:
    """The explained output per patient, recovered from the stored prediction."""
    pred = attribution.prediction
    if "risk" in pred.columns:
        return pred["risk"].to_numpy(dtype=np.float64)
    if "target" not in pred.columns:
        return np.zeros(len(pred))
    cols = [f"p_{t}" for t in pred["target"]]
    p = np.array([pred[c].iloc[i] for i, c in enumerate(cols)], dtype=np.float64)
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _feature_values(
    attribution: Attribution, modalities: list[str], data: Any
) -> dict[str, pd.DataFrame] | None:
    """Feature values of the explained patients per modality, from the explained graph or
    a ``modality -> DataFrame`` mapping; ``None`` without ``data``."""
    if data is None:
        return None
    if isinstance(data, Mapping):
        frames = dict(data)
    else:
        store = data[PATIENT]
        ids = pd.Index([str(p) for p in patient_ids(data)])
        order = list(data.modalities)
        frames = {}
        for m in modalities:
            x = store[feature_key(m)].detach().cpu().numpy().astype(np.float64)
            x[~store.available[:, order.index(m)].cpu().numpy()] = np.nan
            frames[m] = pd.DataFrame(x, index=ids, columns=list(data.feature_names[m]))
    out = {}
    patients = [str(p) for p in attribution.patients]
    for m in modalities:
        if m not in frames:
            raise DataError(f"to_shap(data=...): no feature values for modality {m!r}")
        frame = frames[m].set_axis([str(p) for p in frames[m].index], axis=0)
        require_patients(frame.index, patients, what=f"attribution {attribution.method!r}",
                       where=f"to_shap(data=...)[{m!r}]")  # fmt: skip
        cols = list(attribution.scores[m].columns)
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise DataError(
                f"to_shap(data=...)[{m!r}] lacks {len(absent)} explained feature(s), e.g. "
                f"{absent[0]!r}"
            )
        out[m] = frame.loc[patients, cols]
    return out


def to_shap(attribution: Attribution, modality: str | None = None, *, data: Any = None) -> Any:
    """The attribution as a ``shap.Explanation`` (see :meth:`Attribution.to_shap`)."""
    try:
        import warnings

        with warnings.catch_warnings():
            # shap's plotting module trips a matplotlib deprecation warning at import
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            import shap
    except ImportError as exc:
        raise ConfigError(
            "Attribution.to_shap needs the shap package, which graphfuse does not install "
            "by default: pip install 'graphfuse[shap]' (or pip install shap)"
        ) from exc
    mods = [modality] if modality is not None else attribution.modalities
    frames = [attribution._frame(m) for m in mods]
    values = np.concatenate([f.to_numpy(dtype=np.float64) for f in frames], axis=1)
    values = np.nan_to_num(values, nan=0.0)  # a modality a patient lacks contributes nothing
    names = [
        f"{m}: {c}" if len(mods) > 1 else str(c)
        for m, f in zip(mods, frames, strict=True)
        for c in f
    ]
    base = _log_odds(attribution) - values.sum(axis=1)
    feature_values = _feature_values(attribution, mods, data)
    x = None
    if feature_values is not None:
        x = np.concatenate([feature_values[m].to_numpy() for m in mods], axis=1)
    return shap.Explanation(
        values=values,
        base_values=base,
        data=x,
        feature_names=names,
        output_names=attribution.output,
    )


def to_pyg(attribution: Attribution) -> Any:
    """The attribution as a PyG ``HeteroExplanation`` (see :meth:`Attribution.to_pyg`)."""
    import torch
    from torch_geometric.explain import HeteroExplanation

    patients = [str(p) for p in attribution.patients]
    extra: list[str] = []
    known = set(patients)
    for frame in attribution.edge_scores.values():
        for p in (*frame["source"], *frame["target"]):
            if str(p) not in known:
                known.add(str(p))
                extra.append(str(p))
    nodes = patients + extra
    table = attribution.table().to_numpy(dtype=np.float64)
    mask = np.zeros((len(nodes), table.shape[1]), dtype=np.float32)
    mask[: len(patients)] = np.nan_to_num(table, nan=0.0)
    out = HeteroExplanation()
    store = out[PATIENT]
    store.node_mask = torch.as_tensor(mask, device="cpu")  # an explanation lives on the CPU
    store.num_nodes = len(nodes)
    store.patient = nodes
    store.feature_names = [f"{m}: {f}" for m, f in attribution.table().columns]
    position = {p: i for i, p in enumerate(nodes)}
    for name, frame in attribution.edge_scores.items():
        etype = (PATIENT, name, PATIENT) if "__" not in name else tuple(name.split("__"))
        src = [position[str(p)] for p in frame["source"]]
        dst = [position[str(p)] for p in frame["target"]]
        edge_index = torch.tensor([src, dst], dtype=torch.long, device="cpu")
        out[etype].edge_index = edge_index.reshape(2, -1)
        out[etype].edge_mask = torch.tensor(
            frame["score"].to_numpy(), dtype=torch.float32, device="cpu"
        )
    out.validate_masks()
    return out


def _target(target: Any, modality: str) -> Any:
    """The AnnData a modality's scores go into: the MuData's modality, or the AnnData."""
    import anndata as ad
    import mudata as md

    if isinstance(target, md.MuData):
        if modality not in target.mod:
            raise DataError(
                f"Attribution.write: the MuData has no modality {modality!r} (it has "
                f"{', '.join(target.mod) or 'none'})"
            )
        return target.mod[modality]
    if isinstance(target, ad.AnnData):
        return target
    raise DataError(
        "Attribution.write writes into a MuData or an AnnData; got " + type(target).__name__
    )


def write(
    attribution: Attribution, target: Any, *, modality: str | None = None, key: str | None = None
) -> None:
    """Write the attribution into a MuData/AnnData (see :meth:`Attribution.write`)."""
    import anndata as ad

    key = key or f"graphfuse_{attribution.method}"
    what = f"attribution {attribution.method!r}"
    if isinstance(target, ad.AnnData):
        if modality is None:
            if len(attribution.modalities) != 1:
                raise DataError(
                    f"Attribution.write into an AnnData: name the modality it holds "
                    f"(modality=...), one of {', '.join(attribution.modalities)}"
                )
            modality = attribution.modalities[0]
        mods = [modality]
    else:
        mods = [modality] if modality is not None else attribution.modalities
    for m in mods:
        attribution._frame(m)  # an unknown modality is an error naming those there are
    adatas = {m: _target(target, m) for m in mods}
    where = "the MuData" if len(adatas) > 1 or adatas[mods[0]] is not target else "the AnnData"
    require_patients(target.obs_names, attribution.patients, what=what, where=where)
    for m, adata in adatas.items():
        scores = attribution.scores[m].set_axis([str(p) for p in attribution.patients], axis=0)
        scored = scores.index[scores.notna().any(axis=1).to_numpy()]
        require_patients(adata.obs_names, scored, what=f"{what} (modality {m!r})",
                       where=f"modality {m!r}")  # fmt: skip
        if not set(scores.columns) & set(adata.var_names):
            raise DataError(
                f"Attribution.write: none of the {scores.shape[1]} features of modality "
                f"{m!r} (e.g. {scores.columns[0]!r}) is a var name of its AnnData (e.g. "
                f"{adata.var_names[0] if adata.n_vars else 'none'!r})"
            )
        frame = scores.reindex(adata.obs_names.astype(str))
        frame.index = adata.obs_names
        frame.columns = [str(c) for c in frame.columns]
        adata.obsm[key] = frame
        importance = attribution.feature_importance(m).droplevel(0)
        adata.var[f"{key}_{IMPORTANCE}"] = importance.reindex(adata.var_names).to_numpy()
    for grouping, frame in attribution.groups.items():
        groups = frame.set_axis([str(p) for p in frame.index], axis=0)
        groups = groups.reindex(target.obs_names.astype(str))
        groups.index = target.obs_names
        groups.columns = [str(c) for c in groups.columns]
        target.obsm[f"{key}_{grouping}"] = groups
    meta: dict[str, Any] = {
        "method": attribution.method,
        "signed": bool(attribution.signed),
        "output": attribution.output,
        "seconds": float(attribution.seconds),
        "params": json.dumps(attribution.params, default=str),
        "modalities": list(mods),
        "groups": list(attribution.groups),
    }
    if attribution.seed is not None:
        meta["seed"] = int(attribution.seed)
    target.uns[key] = meta
