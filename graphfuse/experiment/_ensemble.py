"""A fold ensemble: several fitted pipelines whose outputs are averaged.

An :class:`EnsemblePipeline` holds K members (the inner-fold fits of ``train.ensemble:
folds``, plus the refit on all training patients with ``folds+refit``), each a complete
:class:`~graphfuse.experiment.Pipeline` with its own fitted preprocessing, graph
builders' states, training graph and model. New patients are preprocessed, attached and
scored by every member; the ensemble's output is the weighted (by default equal) average
of the members' class probabilities — for survival, of their risk scores — and its
explanations are the same average of the members' attributions
(:func:`graphfuse.explain.average_attributions`).

Saved (:meth:`EnsemblePipeline.save`) as ``ensemble.json`` (members, weights, facts)
beside ``members/<name>/``, each a pipeline folder :meth:`Pipeline.save` wrote; nothing is
pickled. :func:`load_pipeline_folder` reads either kind of folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import graphfuse
from graphfuse._device import to_device
from graphfuse._threads import auto_threads, torch_threads
from graphfuse.data import NewPatients
from graphfuse.errors import DataError
from graphfuse.experiment._pipeline import Pipeline
from graphfuse.experiment._write import model_info, write_predictions
from graphfuse.train import task_class

if TYPE_CHECKING:
    from graphfuse.explain import Attribution

__all__ = ["ENSEMBLE_FORMAT", "EnsemblePipeline", "load_pipeline_folder"]

#: Version of the saved layout (``ensemble.json``'s ``format_version``).
ENSEMBLE_FORMAT = 1
_JSON, _MEMBERS = "ensemble.json", "members"
_KIND = "graphfuse-ensemble"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
#: Facts every member must share, checked when the ensemble is built.
_SHARED = ("task", "classes", "target", "modalities")


class EnsemblePipeline:
    """Fitted pipelines scoring, explaining and saving as one: the average of their outputs.

    It has :class:`~graphfuse.experiment.Pipeline`'s public surface (``task``,
    ``classes``, ``modalities``, ``run_id``, ``info``, ``config``, :meth:`input_features`,
    :meth:`predict`, :meth:`explain`, :meth:`save`, :meth:`load`), so
    :func:`~graphfuse.experiment.load_pipeline`, ``predict_run``, ``explain_new`` and
    ``graphfuse predict`` take either.

    Parameters
    ----------
    members
        The fitted pipelines, e.g. ``[fit(...).pipeline() for each fold]``. They must agree
        on task, classes, target and modalities.
    names
        One name per member, used as its folder name (letters, digits, ``_ . + -``);
        default ``member_0``, ``member_1``, ...
    weights
        The members' weights in the average (normalised to sum 1); ``None``: equal.
    info
        Facts of the ensemble as a whole, over the defaults (the first member's ``run_id``,
        the members' common data ``fingerprint``, else ``None``): ``run_id``,
        ``fingerprint`` and, for survival, ``risk_median`` (the median of the ensemble's
        averaged risk over the training patients, which splits ``high`` from ``low``
        risk; without it :meth:`predict` gives no ``risk_group``).

    Attributes
    ----------
    members, names
        The member pipelines and their names.
    info
        ``task``, ``classes``, ``target``, ``run_id``, ``fingerprint``, ``risk_median``,
        ``members`` (names), ``weights`` (normalised), ``graphfuse``, ``created``, and what
        ``info`` added.

    Raises
    ------
    DataError
        No members, members that disagree (naming the fact and the members), bad names or
        weights, or ``info`` contradicting the members' task, classes or target.

    Examples
    --------
    >>> ensemble = EnsemblePipeline([fold0.pipeline(), fold1.pipeline()])  # doctest: +SKIP
    >>> ensemble.predict("new_patients.h5mu")  # doctest: +SKIP
    """

    def __init__(
        self,
        members: Sequence[Pipeline],
        names: Sequence[str] | None = None,
        weights: Sequence[float] | None = None,
        *,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.members = list(members)
        if not self.members:
            raise DataError("an ensemble needs at least one member pipeline; got none")
        for i, m in enumerate(self.members):
            if not isinstance(m, Pipeline):
                raise DataError(
                    f"ensemble member {i} is a {type(m).__name__}, not a fitted Pipeline "
                    "(FitResult.pipeline() or load_pipeline)"
                )
        from graphfuse.explain import member_weights

        self.names = _member_names(names, len(self.members))
        self._weights = None if weights is None else [float(w) for w in weights]
        self.weights = member_weights(self._weights, len(self.members))
        _check_agree(self.members, self.names)
        first = self.members[0]
        defaults: dict[str, Any] = {
            "task": first.task,
            "classes": first.classes,
            "target": first.info.get("target"),
            "run_id": first.run_id,
            "fingerprint": _common(m.info.get("fingerprint") for m in self.members),
            "risk_median": None,
            "graphfuse": graphfuse.__version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        given = dict(info or {})
        for key in ("task", "classes", "target"):
            if key in given and given[key] != defaults[key]:
                raise DataError(
                    f"ensemble info gives {key} {given[key]!r}, its members have {defaults[key]!r}"
                )
        self.info = defaults | given
        self.info["members"] = list(self.names)
        self.info["weights"] = [float(w) for w in self.weights]

    # ------------------------------------------------------------------ facts
    @property
    def task(self) -> str:
        return str(self.info["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def modalities(self) -> list[str]:
        return self.members[0].modalities

    @property
    def kinds(self) -> dict[str, str]:
        return self.members[0].kinds

    @property
    def run_id(self) -> str | None:
        return self.info.get("run_id")

    @property
    def config(self) -> Any:
        """The first member's resolved config (every member shares model and graph
        settings; they differ in the patients they were fitted on)."""
        return self.members[0].config

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return (
            f"EnsemblePipeline({len(self)} members {', '.join(self.names)}: "
            f"{self.config.model.name} on {', '.join(self.modalities)}; task {self.task}; "
            f"run {self.run_id})"
        )

    def input_features(self) -> dict[str, list[str]]:
        """Modality -> the features new tables must have: the union of what the members'
        preprocessing reads (members that selected features differ)."""
        out: dict[str, dict[str, None]] = {}
        for member in self.members:
            for m, features in member.input_features().items():
                into = out.setdefault(m, {})
                for f in features:
                    into.setdefault(f, None)
        return {m: list(f) for m, f in out.items()}

    # ------------------------------------------------------------------ scoring
    def predict(
        self,
        new: Any,
        *,
        allow_missing_features: bool = False,
        write: bool = False,
        device: str | None = None,
    ) -> pd.DataFrame:
        """Score new patients with every member and average.

        Parameters are :meth:`Pipeline.predict`'s. ``write=True`` writes the averaged
        predictions into the MuData's slots (no ``graphfuse_embedding``: an ensemble has
        no single embedding) and ``uns["graphfuse"]["members"]``.

        Returns
        -------
        pandas.DataFrame
            :meth:`Pipeline.predict`'s columns: ``p_<class>`` the weighted average of the
            members' and ``prediction`` its most probable class (survival: ``risk`` the
            average, ``risk_group`` against ``info["risk_median"]`` where the ensemble has
            one); ``label``, ``modalities`` and ``neighbours_<graph>`` of the first member;
            ``imputed_features`` (with ``allow_missing_features``) the most any member
            imputed; ``members``, the number of members averaged.
        """
        patients = NewPatients.coerce(new)
        frames = [
            m.predict(patients, allow_missing_features=allow_missing_features, device=device)
            for m in self.members
        ]
        frame = self._average(frames)
        if write:
            self._write(new, frame)
        return frame

    def embed(self, new: Any, **kwargs: Any) -> pd.DataFrame:
        """Not available: each member embeds patients in its own space, and an average of
        unrelated spaces means nothing. Embed with one member
        (``ensemble.members[i].embed(new)``).

        Raises
        ------
        DataError
            Always.
        """
        raise DataError(
            f"an ensemble of {len(self)} pipelines has no single patient embedding (each "
            "member embeds in its own space); embed with one member: "
            "ensemble.members[i].embed(new), members " + ", ".join(self.names)
        )

    def explain(
        self,
        new: Any,
        method: str = "saliency",
        *,
        target: int | str | None = None,
        seed: int = 0,
        allow_missing_features: bool = False,
        device: str | None = None,
        progress: Any = None,
        **params: Any,
    ) -> Attribution:
        """Explain the ensemble's averaged output for new patients: each member's
        attribution (as :meth:`Pipeline.explain` computes it), weighted-averaged
        (:func:`graphfuse.explain.average_attributions`: union of features, a feature a
        member does not read scores 0 for it).

        The default target is the explainers' default for the ensemble: the positive class
        for two classes; with more, each patient's class predicted by the ensemble (the
        patients are explained in groups, one per predicted class; the edge scores of
        such groups are concatenated). ``progress`` is called per member.

        Returns
        -------
        graphfuse.explain.Attribution
            Over the new patients, named by their ids; ``params["ensemble"]`` names the
            members and weights.
        """
        from graphfuse.explain import explain_members

        patients = NewPatients.coerce(new)
        pairs, positions, threads = [], [], None
        for m in self.members:
            scored = m.attach(patients, allow_missing_features=allow_missing_features)
            dev = m._on(device)
            pairs.append((m.model, to_device(scored.data, dev)))
            positions.append(scored.positions)
            if threads is None:
                threads = auto_threads(m.n_train + patients.n_patients, m.config.train.threads)
        common = dict(weights=self._weights, names=self.names, seed=seed, threads=threads)
        common |= dict(params={method: params}, progress=progress)
        if target is not None or task_class(self.task).output == "risk" or len(self.classes) <= 2:
            return explain_members(pairs, [method], patients=positions, target=target, **common)[
                method
            ]
        predicted = self._predicted_class(pairs, positions, threads)
        parts = []
        for k, cls in enumerate(self.classes):
            rows = np.flatnonzero(predicted == k)
            if len(rows):
                where = [p[rows] for p in positions]
                out = explain_members(pairs, [method], patients=where, target=cls, **common)
                parts.append((cls, out[method]))
        ids = pd.Index([str(p) for p in patients.patients], name="patient")
        return _by_target(parts, ids)

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | Path) -> Path:
        """Write ``ensemble.json`` and ``members/<name>/`` (each :meth:`Pipeline.save`'s
        folder) into ``folder`` (created); returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for name, member in zip(self.names, self.members, strict=True):
            member.save(folder / _MEMBERS / name)
            entries.append({"name": name, "folder": f"{_MEMBERS}/{name}"})
        document = {
            "format": _KIND,
            "format_version": ENSEMBLE_FORMAT,
            "members": entries,
            "weights": self._weights,
            "info": {k: v for k, v in self.info.items() if k not in ("members", "weights")},
        }
        (folder / _JSON).write_text(json.dumps(document, indent=1, default=_json_default))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> EnsemblePipeline:
        """Read an ensemble :meth:`save` wrote (no pickle).

        Raises
        ------
        DataError
            Not an ensemble folder, another format version, or a member folder missing.
        """
        folder = Path(folder)
        path = folder / _JSON
        if not path.is_file():
            raise DataError(f"{folder}: not a saved graphfuse ensemble (expected {_JSON})")
        document = json.loads(path.read_text())
        if document.get("format") != _KIND:
            raise DataError(f"{path}: not a graphfuse ensemble file")
        if document.get("format_version") != ENSEMBLE_FORMAT:
            raise DataError(
                f"{path}: ensemble format version {document.get('format_version')}; this "
                f"graphfuse ({graphfuse.__version__}) reads version {ENSEMBLE_FORMAT}"
            )
        names, members = [], []
        for entry in document["members"]:
            name = str(entry["name"])
            where = folder / _MEMBERS / _member_names([name], 1)[0]
            if not where.is_dir():
                raise DataError(f"{path}: member {name!r} has no folder {where}")
            names.append(name)
            members.append(Pipeline.load(where))
        return cls(members, names, document.get("weights"), info=document.get("info") or {})

    # ------------------------------------------------------------------ helpers
    def _average(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        first = frames[0]
        for name, f in zip(self.names, frames, strict=True):
            if not f.index.equals(first.index):
                raise RuntimeError(f"member {name!r} scored other patients than the first")
        w = self.weights
        frame = first.copy()
        if task_class(self.task).output == "risk":
            risk = sum(wk * f["risk"].to_numpy(np.float64) for f, wk in zip(frames, w, strict=True))
            frame["risk"] = risk
            median = self.info.get("risk_median")
            if median is None:
                frame = frame.drop(columns=["risk_group"], errors="ignore")
            else:
                frame["risk_group"] = np.where(risk > float(median), "high", "low")
        else:
            cols = [f"p_{c}" for c in self.classes]
            proba = sum(wk * f[cols].to_numpy(np.float64) for f, wk in zip(frames, w, strict=True))
            frame[cols] = proba
            frame["prediction"] = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]
        if "imputed_features" in first.columns:
            counts = np.stack([f["imputed_features"].to_numpy() for f in frames])
            frame["imputed_features"] = counts.max(axis=0)
        frame["members"] = len(frames)
        return frame

    def _predicted_class(
        self, pairs: list[tuple[Any, Any]], positions: list[np.ndarray], threads: int | None
    ) -> np.ndarray:
        """The ensemble's predicted class (index) of each new patient."""
        task = task_class(self.task)
        with torch_threads(threads):
            proba = sum(
                wk * task.predict(model, data)[where]
                for (model, data), where, wk in zip(pairs, positions, self.weights, strict=True)
            )
        return np.asarray(proba).argmax(axis=1)

    def _write(self, new: Any, frame: pd.DataFrame) -> None:
        import mudata as md

        from graphfuse.data import Cohort

        mdata = new.mdata if isinstance(new, Cohort) else new
        if not isinstance(mdata, md.MuData):
            raise DataError(
                "predict(write=True) writes into a MuData (or a Cohort's); the new patients "
                f"were given as {type(new).__name__}"
            )
        info = model_info(self.run_id, self.config, self.classes, self.task)
        info |= {"members": list(self.names), "weights": [float(x) for x in self.weights]}
        write_predictions(mdata, frame.drop(columns=["members"]), self.classes, None, info)


def load_pipeline_folder(folder: str | Path) -> Pipeline | EnsemblePipeline:
    """The pipeline saved in ``folder``: an :class:`EnsemblePipeline` where it holds
    ``ensemble.json``, else a :class:`Pipeline` (``pipeline.json`` + ``arrays.npz``).

    Raises
    ------
    DataError
        Neither kind of saved pipeline.
    """
    folder = Path(folder)
    if (folder / _JSON).is_file():
        return EnsemblePipeline.load(folder)
    if not (folder / "pipeline.json").is_file():
        raise DataError(
            f"{folder}: not a saved graphfuse pipeline (expected pipeline.json and "
            f"arrays.npz, or an ensemble's {_JSON})"
        )
    return Pipeline.load(folder)


def _member_names(names: Sequence[str] | None, n: int) -> list[str]:
    labels = [f"member_{i}" for i in range(n)] if names is None else [str(x) for x in names]
    if len(labels) != n:
        raise DataError(f"{len(labels)} names for {n} ensemble members; give one per member")
    bad = [x for x in labels if not _NAME.match(x)]
    if bad:
        raise DataError(
            f"ensemble member names {bad} are not folder names: use letters, digits and "
            "'_', '.', '+', '-' (not first)"
        )
    if len(set(labels)) != n:
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise DataError(f"ensemble member names must be unique; {dup} appear more than once")
    return labels


def _common(values: Any) -> Any:
    """The one value all of ``values`` share, else ``None``."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _check_agree(members: list[Pipeline], names: list[str]) -> None:
    """Every member shares task, classes, target and modalities with the first."""
    first = members[0]

    def fact(p: Pipeline, key: str) -> Any:
        return p.info.get("target") if key == "target" else getattr(p, key)

    for name, member in zip(names[1:], members[1:], strict=True):
        for key in _SHARED:
            if fact(member, key) != fact(first, key):
                raise DataError(
                    f"ensemble member {name!r} has {key} {fact(member, key)!r}, member "
                    f"{names[0]!r} {fact(first, key)!r}: the members of an ensemble must share "
                    "task, classes, target and modalities"
                )


def _by_target(parts: list[tuple[str, Attribution]], ids: pd.Index) -> Attribution:
    """Attributions of groups of patients (one per explained class) as one, in ``ids``'
    order."""
    from graphfuse.explain import Attribution

    if len(parts) == 1:
        return parts[0][1]
    first = parts[0][1]

    def stacked(tables: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
        keys = list(dict.fromkeys(k for t in tables for k in t))
        return {k: pd.concat([t[k] for t in tables if k in t]).reindex(ids) for k in keys}

    attributions = [a for _, a in parts]
    edges = {
        k: pd.concat([a.edge_scores[k] for a in attributions if k in a.edge_scores])
        for k in dict.fromkeys(k for a in attributions for k in a.edge_scores)
    }
    params = dict(first.params)
    params["target"] = "each patient's class predicted by the ensemble"
    return Attribution(
        method=first.method,
        scores=stacked([a.scores for a in attributions]),
        prediction=pd.concat([a.prediction for a in attributions]).reindex(ids),
        params=params,
        seed=first.seed,
        seconds=float(sum(a.seconds for a in attributions)),
        signed=first.signed,
        output=first.output,
        edge_scores={k: f.reset_index(drop=True) for k, f in edges.items()},
        feature_genes=first.feature_genes,
        groups=stacked([a.groups for a in attributions]),
        diagnostics={"by_target": {cls: a.diagnostics for cls, a in parts}},
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
