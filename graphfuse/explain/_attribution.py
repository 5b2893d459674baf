"""``Attribution``: what every explainer returns — per modality a patients x features table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

import graphfuse.explain._interop as interop
from graphfuse.data import GeneSets
from graphfuse.errors import DataError
from graphfuse.explain._groups import gene_set_groups, gene_set_members

__all__ = ["Attribution", "GeneAggregate"]

#: How the scores of several features of one gene (probes, transcripts, a gene measured in
#: two omics layers) become the gene's score.
GeneAggregate = Literal["max", "sum", "mean"]

_FORMAT = 1


@dataclass
class Attribution:
    """Scores of every explained patient's features, per modality, from one explainer.

    Attributes
    ----------
    method
        Registered name of the explainer (``"saliency"``, ``"shap"``, ...).
    scores
        ``modality -> DataFrame`` of patients (index: patient ids) x features (columns:
        feature names). Signed where the method is (:attr:`signed`): positive pushes the
        explained output up. Patients lacking a modality have NaN rows in it.
    prediction
        The model's output for the explained patients: class probabilities (columns
        ``p_<class>``) and the explained ``target`` class per patient.
    params
        The explainer's parameters, as validated.
    seed
        Seed of every random draw the method made (``None`` for deterministic methods).
    seconds
        Wall-clock cost of the explanation.
    signed
        Whether scores carry a direction.
    output
        What was explained, e.g. ``"log-odds of the target class"``.
    edge_scores
        ``edge type name -> DataFrame`` with columns ``source``, ``target`` (patient ids)
        and ``score``, for methods that score edges (graph masking).
    feature_genes
        ``modality -> {feature: gene}`` for omics modalities (from ``var["gene"]``);
        features without a gene (indicators, imaging, clinical) are absent.
    diagnostics
        What the method reports about its own reliability, e.g. the rank correlation
        between restarts of ``masking`` (JSON-ready).
    groups
        ``grouping name -> DataFrame`` of patients x groups, for methods that score
        groups of features directly (e.g. ``sensitivity`` with ``groups="modalities"``
        or ``"pathways"``: the effect of replacing the whole group at once, which is not
        the sum of its features' scores). NaN where a patient lacks the group's features.
    """

    method: str
    scores: dict[str, pd.DataFrame]
    prediction: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    seconds: float = 0.0
    signed: bool = True
    output: str = "log-odds of the target class"
    edge_scores: dict[str, pd.DataFrame] = field(default_factory=dict)
    feature_genes: dict[str, dict[str, str]] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ shape
    @property
    def modalities(self) -> list[str]:
        return list(self.scores)

    @property
    def patients(self) -> pd.Index:
        return self.prediction.index

    def __repr__(self) -> str:
        dims = ", ".join(f"{m}: {f.shape[1]}" for m, f in self.scores.items())
        return (
            f"Attribution(method={self.method!r}, patients={len(self.patients)}, "
            f"features={{{dims}}}, seconds={self.seconds:.2f})"
        )

    def table(self) -> pd.DataFrame:
        """All modalities side by side: patients x ``(modality, feature)`` columns."""
        return pd.concat(self.scores, axis=1, names=["modality", "feature"])

    # -------------------------------------------------------------- rankings
    def feature_importance(self, modality: str | None = None) -> pd.Series:
        """Global importance of every feature: mean of ``|score|`` over the patients having it.

        Indexed by ``(modality, feature)``, sorted by decreasing importance.
        """
        mods = [modality] if modality is not None else self.modalities
        parts = {m: self._frame(m).abs().mean(axis=0, skipna=True).fillna(0.0) for m in mods}
        out = pd.concat(parts, names=["modality", "feature"])
        return out.sort_values(ascending=False, kind="stable").rename("importance")

    def gene_importance(self, aggregate: GeneAggregate = "max") -> pd.Series:
        """Global importance of every gene, from the features that map to it.

        Each feature's importance is :meth:`feature_importance`; a gene measured by several
        features (several probes or transcripts, or in several omics modalities) gets
        their ``max`` (default: one strong probe is enough; many weak probes do not add up
        to a strong gene), ``sum`` or ``mean``. Sorted by decreasing importance.

        Raises
        ------
        DataError
            No modality maps features to genes.
        """
        imp = self.feature_importance()
        genes = self._gene_of(imp.index)
        keep = genes.notna().to_numpy()
        if not keep.any():
            raise DataError(
                f"attribution {self.method!r}: no feature maps to a gene; gene rankings "
                "need an omics modality with var['gene'] (feature_genes is empty for "
                f"{', '.join(self.modalities)})"
            )
        by_gene = pd.Series(imp.to_numpy()[keep], index=genes[keep].to_numpy())
        agg = by_gene.groupby(level=0).agg(aggregate)
        return agg.sort_values(ascending=False, kind="stable").rename("importance")

    def gene_ranking(self, aggregate: GeneAggregate = "max") -> list[str]:
        """Genes from most to least important (:meth:`gene_importance`)."""
        return list(self.gene_importance(aggregate).index)

    def patient_gene_scores(self, aggregate: GeneAggregate = "max") -> pd.DataFrame:
        """Patients x genes: each patient's ``|score|`` aggregated per gene like
        :meth:`gene_importance`."""
        table = self.table().abs()
        genes = self._gene_of(table.columns)
        keep = genes.notna().to_numpy()
        sub = table.loc[:, keep]
        sub.columns = genes[keep].to_numpy()
        return sub.T.groupby(level=0).agg(aggregate).T

    def patient_ranking(self, patient: Any, k: int = 20) -> pd.DataFrame:
        """One patient's top-``k`` features by ``|score|``: modality, feature, gene, score."""
        if patient not in self.patients:
            raise DataError(
                f"patient {patient!r} is not among the {len(self.patients)} explained "
                f"patients of attribution {self.method!r}"
            )
        row = self.table().loc[patient].dropna()
        top = row.reindex(row.abs().sort_values(ascending=False, kind="stable").index)[:k]
        out = top.rename("score").reset_index()
        genes = self._gene_of(pd.MultiIndex.from_frame(out[["modality", "feature"]]))
        out.insert(2, "gene", genes.to_numpy())
        return out

    def group_scores(
        self, groups: Mapping[str, Iterable[tuple[str, str]]], *, absolute: bool | None = None
    ) -> pd.DataFrame:
        """Patients x groups: the sum of each group's feature scores.

        For additive methods (SHAP, gradient x input, integrated gradients) the sum of a
        group's signed scores is the group's attribution. ``absolute`` sums ``|score|``
        instead (the default for unsigned methods). Features a group names that were not
        explained are ignored; a group with none is an error.

        Parameters
        ----------
        groups
            ``name -> [(modality, feature), ...]``, e.g. a pathway's features or a
            modality's (:meth:`modality_groups`).
        """
        table = self.table()
        if absolute is None:
            absolute = not self.signed
        if absolute:
            table = table.abs()
        out = {}
        for name, members in groups.items():
            cols = [c for c in members if c in table.columns]
            if not cols:
                raise DataError(
                    f"group {name!r}: none of its features is in attribution {self.method!r}"
                )
            out[name] = table[cols].sum(axis=1, min_count=1)
        return pd.DataFrame(out, index=table.index)

    def modality_groups(self) -> dict[str, list[tuple[str, str]]]:
        """``modality -> its features``, for :meth:`group_scores`."""
        return {m: [(m, f) for f in frame.columns] for m, frame in self.scores.items()}

    def gene_set_groups(
        self, gene_sets: GeneSets | Mapping[str, Iterable[str]]
    ) -> dict[str, list[tuple[str, str]]]:
        """``set name -> features of its genes``, for :meth:`group_scores`.

        ``gene_sets`` is a :class:`graphfuse.data.GeneSets` or a ``name -> genes`` mapping.
        Sets with no explained feature are left out.
        """
        genes = {m: g for m, g in self.feature_genes.items() if m in self.scores}
        return gene_set_groups(gene_sets, genes)

    def pathway_importance(
        self, gene_sets: GeneSets | Mapping[str, Iterable[str]], aggregate: GeneAggregate = "max"
    ) -> pd.Series:
        """Global importance of each gene set: the mean :meth:`gene_importance` of its
        genes that the model saw. Sorted by decreasing importance; sets with no such gene
        are left out."""
        genes = self.gene_importance(aggregate)
        out = {}
        for name, members in gene_set_members(gene_sets).items():
            vals = genes.reindex([g for g in members if g in genes.index])
            if len(vals):
                out[name] = float(vals.mean())
        s = pd.Series(out, dtype=float, name="importance")
        return s.sort_values(ascending=False, kind="stable")

    # --------------------------------------------------------------- interop
    def to_shap(self, modality: str | None = None, *, data: Any = None) -> Any:
        """The scores as a ``shap.Explanation``, for shap's plots (``beeswarm``,
        ``waterfall``, ``bar``, ``heatmap``).

        Needs the ``shap`` package (``pip install 'graphfuse[shap]'``).

        Parameters
        ----------
        modality
            Only this modality's features; ``None``: every modality's, named
            ``"<modality>: <feature>"``.
        data
            Feature values to colour the plots by: the patient graph the attribution was
            computed on (``HeteroData``), or ``modality -> DataFrame`` (patients x
            features). ``None``: no values (``.data`` is ``None``; beeswarm points are not
            coloured).

        Returns
        -------
        shap.Explanation
            ``values``: explained patients x features (in :attr:`patients` order; a
            modality a patient lacks scores 0, its ``data`` is NaN); ``base_values``: per
            patient, the explained output (:attr:`output`, recovered from
            :attr:`prediction`) minus the sum of its scores, so that base + scores = output
            as shap's plots draw it (for additive methods — ``shap``, integrated gradients,
            gradient x input — this is the output at the baseline); ``data``;
            ``feature_names``.

        Raises
        ------
        ConfigError
            shap is not installed.
        DataError
            ``modality`` is not explained, or ``data`` lacks explained patients/features.
        """
        return interop.to_shap(self, modality, data=data)

    def to_pyg(self) -> Any:
        """The scores as a PyG ``HeteroExplanation``.

        Node type ``patient`` has ``node_mask`` (nodes x all features, modalities side by
        side as in :meth:`table`; a modality a patient lacks scores 0), ``feature_names``
        (``"<modality>: <feature>"``) and ``patient`` (the patient id of each node row:
        the explained patients, in order, then other patients that scored edges reach,
        whose mask rows are 0). Each scored edge type (:attr:`edge_scores`, from
        ``masking``) becomes ``(patient, <name>, patient)`` with ``edge_index`` over those
        rows and ``edge_mask``. PyG's ``visualize_feature_importance`` works on it.
        """
        return interop.to_pyg(self)

    def write(self, mdata: Any, *, modality: str | None = None, key: str | None = None) -> None:
        """Write the scores into a MuData (or an AnnData), as scanpy functions write theirs.

        Parameters
        ----------
        mdata
            A ``MuData`` holding every explained patient (``obs_names``: patient ids) and
            the explained modalities, or an ``AnnData`` of one modality.
        modality
            Only this modality; required for an AnnData when more than one is explained.
        key
            Prefix of the slots; default ``graphfuse_<method>``.

        Returns
        -------
        None
            Sets, per explained modality ``m`` (the AnnData itself for an AnnData):

            - ``mdata[m].obsm[key]``: DataFrame of the modality's patients x explained
              features (NaN for patients that were not explained);
            - ``mdata[m].var[f"{key}_importance"]``: mean ``|score|`` over patients
              (:meth:`feature_importance`; NaN for features that were not explained);

            and on the MuData (or AnnData):

            - ``mdata.obsm[f"{key}_{grouping}"]``: patients x groups, per grouping of
              :attr:`groups` (``sensitivity``);
            - ``mdata.uns[key]``: ``method``, ``signed``, ``output``, ``seed`` (seeded
              methods), ``seconds``, ``params`` (JSON), ``modalities``, ``groups``.

            Patients of the MuData that were not explained get NaN.

        Raises
        ------
        DataError
            The MuData lacks explained patients (naming them) or a modality, none of a
            modality's features is a var name, or an AnnData is given for several
            modalities without ``modality``.
        """
        interop.write(self, mdata, modality=modality, key=key)

    # ----------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write Parquet tables plus ``attribution.json`` into ``folder``; returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        modalities = []
        for i, (m, frame) in enumerate(self.scores.items()):
            name = f"scores_{i}.parquet"
            _write(frame, folder / name)
            modalities.append({"name": m, "file": name})
        _write(self.prediction, folder / "prediction.parquet")
        edges = []
        for i, (etype, frame) in enumerate(self.edge_scores.items()):
            name = f"edges_{i}.parquet"
            frame.to_parquet(folder / name, index=False)
            edges.append({"name": etype, "file": name})
        groups = []
        for i, (grouping, frame) in enumerate(self.groups.items()):
            name = f"groups_{i}.parquet"
            _write(frame, folder / name)
            groups.append({"name": grouping, "file": name})
        meta = {
            "format": _FORMAT,
            "method": self.method,
            "params": self.params,
            "seed": self.seed,
            "seconds": self.seconds,
            "signed": self.signed,
            "output": self.output,
            "modalities": modalities,
            "edges": edges,
            "feature_genes": self.feature_genes,
            "diagnostics": self.diagnostics,
            "groups": groups,
        }
        (folder / "attribution.json").write_text(json.dumps(meta, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Attribution:
        """Read an attribution written by :meth:`save`."""
        folder = Path(folder)
        meta_path = folder / "attribution.json"
        if not meta_path.is_file():
            raise DataError(f"{folder}: not a saved attribution (no attribution.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != _FORMAT:
            raise DataError(
                f"{meta_path}: attribution format {meta.get('format')!r}; "
                f"this graphfuse reads format {_FORMAT}"
            )
        scores = {m["name"]: _read(folder / m["file"]) for m in meta["modalities"]}
        edges = {e["name"]: pd.read_parquet(folder / e["file"]) for e in meta["edges"]}
        groups = {g["name"]: _read(folder / g["file"]) for g in meta.get("groups", [])}
        return cls(
            method=meta["method"],
            scores=scores,
            prediction=_read(folder / "prediction.parquet"),
            params=meta["params"],
            seed=meta["seed"],
            seconds=meta["seconds"],
            signed=meta["signed"],
            output=meta["output"],
            edge_scores=edges,
            feature_genes=meta["feature_genes"],
            diagnostics=meta.get("diagnostics", {}),
            groups=groups,
        )

    # --------------------------------------------------------------- helpers
    def _frame(self, modality: str) -> pd.DataFrame:
        try:
            return self.scores[modality]
        except KeyError:
            raise DataError(
                f"attribution {self.method!r} has no modality {modality!r}; "
                f"it has {', '.join(self.modalities)}"
            ) from None

    def _gene_of(self, index: pd.Index) -> pd.Series:
        genes = [self.feature_genes.get(m, {}).get(f) for m, f in index]
        return pd.Series(genes, index=index, dtype=object)


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Parquet needs string column names; patient ids keep their dtype in the index."""
    out = frame.copy()
    out.columns = [str(c) for c in out.columns]
    out.to_parquet(path)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _as_frame(values: np.ndarray, patients: pd.Index, features: list[str]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=np.float64), index=patients, columns=features)
