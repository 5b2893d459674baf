"""One modality given as several files (a split shipped as ``x_tr.csv`` and ``x_te.csv``).

Each file is read on its own (:func:`graphfuse.data.read_modality`, same options); the
parts must hold disjoint patients and the same features, and are stacked into one
``AnnData``. Nothing is aligned or filled in silently: a patient in two files, or a
feature some files lack, is an error naming the files.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphfuse.data._tables import _examples
from graphfuse.errors import DataError

__all__ = ["stack_parts"]


def stack_parts(parts: Sequence[ad.AnnData], *, name: str, kind: str) -> ad.AnnData:
    """Stack the files of one modality (patients as rows) into one ``AnnData``.

    Parameters
    ----------
    parts
        One ``AnnData`` per file, from :func:`graphfuse.data.read_modality`
        (``uns["source"]`` names the file).
    name, kind
        The modality's name and kind, for messages and ``uns["kind"]``.

    Returns
    -------
    anndata.AnnData
        The parts' patients in file order, the first part's features (in its order) and
        ``var``; ``uns["source"]`` lists the files.

    Raises
    ------
    DataError
        A patient in two files, features that differ between files (naming the files and
        the features), or clinical encodings that differ (categories seen in one file only).

    Examples
    --------
    >>> var = pd.DataFrame({"gene": ["APOE", "APP"]}, index=["g1", "g2"])
    >>> a = ad.AnnData(np.ones((2, 2), "float32"), obs=pd.DataFrame(index=["A", "B"]), var=var)
    >>> b = ad.AnnData(np.zeros((1, 2), "float32"), obs=pd.DataFrame(index=["C"]), var=var)
    >>> a.uns["source"], b.uns["source"] = "rna_tr.csv", "rna_te.csv"
    >>> stack_parts([a, b], name="rna", kind="omics").obs_names.tolist()
    ['A', 'B', 'C']
    """
    first = parts[0]
    where = f"modality {name!r}"
    owner: dict[str, str] = {}
    aligned = []
    for part in parts:
        source = str(part.uns.get("source", "a file"))
        seen = [pid for pid in part.obs_names if pid in owner]
        if seen:
            raise DataError(
                f"{where}: {len(seen)} patient(s) are in both {owner[seen[0]]} and {source}, "
                f"e.g. {_examples(seen)}; the files of one modality must hold disjoint "
                "patients (one row per patient across them)"
            )
        owner.update(dict.fromkeys(part.obs_names, source))
        if not part.var_names.equals(first.var_names):
            lacking = first.var_names.difference(part.var_names)
            extra = part.var_names.difference(first.var_names)
            if len(lacking) or len(extra):
                raise DataError(
                    f"{where}: {source} has other features than {first.uns.get('source')}: "
                    f"{len(lacking)} missing (e.g. {_examples(lacking)}), {len(extra)} extra "
                    f"(e.g. {_examples(extra)}); the files of one modality must have the same "
                    "feature columns"
                )
            part = part[:, first.var_names]
        if kind == "clinical":
            _same_encoding(first, part, where, source)
        aligned.append(part)
    x = (
        sp.vstack([p.X for p in aligned]).tocsr()
        if any(sp.issparse(p.X) for p in aligned)
        else np.concatenate([np.asarray(p.X) for p in aligned], axis=0)
    )
    obs = pd.DataFrame(index=pd.Index([pid for p in aligned for pid in p.obs_names]))
    out = ad.AnnData(X=x, obs=obs, var=first.var.copy())
    out.uns["kind"] = kind
    out.uns["source"] = ", ".join(str(p.uns.get("source", "")) for p in parts)
    return out


def _same_encoding(first: ad.AnnData, part: ad.AnnData, where: str, source: str) -> None:
    """Clinical columns must be encoded alike in every file (same types and levels)."""
    for column in ("type", "categories"):
        if column not in first.var.columns:
            continue
        a = first.var[column].astype(str)
        b = part.var[column].astype(str).reindex(a.index)
        differ = a.index[(a != b).to_numpy()]
        if len(differ):
            feature = differ[0]
            raise DataError(
                f"{where}: column {feature!r} is encoded differently in {source} "
                f"({column} {b[feature]!r}) than in {first.uns.get('source')} ({a[feature]!r}); "
                "declare its type and levels (types: / categories:) so every file reads alike"
            )
