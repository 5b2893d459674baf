"""Gene-set collections: read GMT files, filter, restrict to a universe, membership matrices.

Gene sets are data that two stages read — the knowledge-graph builder (gene -> pathway
edges) and enrichment (statistics on gene rankings) — so they live in the data stage.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphfuse.errors import DataError

__all__ = ["GeneSets", "gene_id_type"]

_ID_PATTERNS = (
    ("ensembl_gene", re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")),
    ("ensembl_protein", re.compile(r"^(\d+\.)?ENS[A-Z]*P\d{6,}$")),
    ("entrez", re.compile(r"^\d+$")),
)


def gene_id_type(gene: str) -> str:
    """Classify a gene identifier: ``ensembl_gene``, ``ensembl_protein``, ``entrez`` or ``symbol``.

    Examples
    --------
    >>> [gene_id_type(g) for g in ["APP", "ENSG00000142192.6", "351", "9606.ENSP00000284981"]]
    ['symbol', 'ensembl_gene', 'entrez', 'ensembl_protein']
    """
    for name, pattern in _ID_PATTERNS:
        if pattern.match(gene):
            return name
    return "symbol"


class GeneSets:
    """A named collection of gene sets (pathways, GO terms, hallmarks).

    Parameters
    ----------
    sets
        Set name -> member genes. Duplicated members are dropped; empty sets are refused.
    descriptions
        Set name -> description (a GMT file's second column), optional.
    name
        Name of the collection (e.g. ``"reactome_2024-09-18"``), recorded with results.

    Examples
    --------
    >>> gs = GeneSets({"P1": ["A", "B", "C"], "P2": ["C", "D"]}, name="toy")
    >>> gs.sizes.to_dict()
    {'P1': 3, 'P2': 2}
    >>> gs.filter(min_size=3).names
    ['P1']
    >>> m, genes = gs.membership()
    >>> genes, m.toarray().tolist()
    (['A', 'B', 'C', 'D'], [[1, 1, 1, 0], [0, 0, 1, 1]])
    """

    def __init__(
        self,
        sets: Mapping[str, Iterable[str]],
        *,
        descriptions: Mapping[str, str] | None = None,
        name: str = "custom",
    ) -> None:
        self.name = name
        self._sets: dict[str, tuple[str, ...]] = {}
        for set_name, members in sets.items():
            unique = tuple(dict.fromkeys(str(g) for g in members if str(g)))
            if not unique:
                raise DataError(f"gene set {set_name!r} of {name!r} is empty")
            self._sets[str(set_name)] = unique
        self.descriptions = {k: str(v) for k, v in (descriptions or {}).items() if k in self._sets}
        #: Distinct genes per identifier type (set by :meth:`read_gmt`; 1 % strays are tolerated).
        self.id_types: dict[str, int] = {}

    # ------------------------------------------------------------------ reading
    @classmethod
    def read_gmt(cls, path: str | Path, *, name: str | None = None) -> GeneSets:
        """Read a GMT file: per line a set name, a description, then member genes (tab-separated).

        Blank member fields (trailing tabs) are ignored. Problems are reported with the
        file and line: a set with no genes is skipped with a warning; a set name used twice
        is an error; genes repeated within a set are kept once, with a warning; a file
        mixing identifier types (symbols with Ensembl or Entrez IDs) gets a warning with
        the counts, since such genes can never match one another.

        Parameters
        ----------
        path
            The GMT file.
        name
            Collection name; defaults to the file name without extension.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: gene-set file not found")
        sets: dict[str, list[str]] = {}
        descriptions: dict[str, str] = {}
        first_line: dict[str, int] = {}
        empty: list[str] = []
        repeated = 0
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                set_name = fields[0].strip()
                if not set_name:
                    raise DataError(f"{path}:{lineno}: gene set without a name")
                if set_name in sets or set_name in empty:
                    raise DataError(
                        f"{path}:{lineno}: gene set {set_name!r} already defined on line "
                        f"{first_line[set_name]}"
                    )
                first_line[set_name] = lineno
                genes = [g.strip() for g in fields[2:] if g.strip()]
                if not genes:
                    empty.append(set_name)
                    continue
                repeated += len(genes) - len(set(genes))
                sets[set_name] = genes
                descriptions[set_name] = fields[1].strip() if len(fields) > 1 else ""
        if empty:
            warnings.warn(
                f"{path}: skipped {len(empty)} gene set(s) with no genes, e.g. {empty[:3]}",
                UserWarning,
                stacklevel=2,
            )
        if not sets:
            raise DataError(f"{path}: no gene sets with genes in this file (is it a GMT file?)")
        if repeated:
            warnings.warn(
                f"{path}: {repeated} gene(s) listed twice within a set; kept once",
                UserWarning,
                stacklevel=2,
            )
        distinct = {g for members in sets.values() for g in members}
        types = Counter(gene_id_type(g) for g in distinct)
        if len(types) > 1 and types.most_common(1)[0][1] < 0.99 * len(distinct):
            warnings.warn(
                f"{path}: mixed gene identifier types {dict(types)}; genes of different types "
                "never match — map them to one type (e.g. symbols) first",
                UserWarning,
                stacklevel=2,
            )
        out = cls(sets, descriptions=descriptions, name=name or path.stem)
        out.id_types = dict(types)
        return out

    @classmethod
    def from_cohort(cls, cohort: object, *, key: str = "gene_sets") -> GeneSets:
        """The collection stored in a cohort's ``uns[key]`` (the synthetic cohort has one)."""
        uns = cohort.mdata.uns  # type: ignore[attr-defined]
        if key not in uns:
            raise DataError(f"the cohort has no gene-set collection in uns[{key!r}]")
        return cls({k: list(v) for k, v in uns[key].items()}, name=f"cohort:{key}")

    def write_gmt(self, path: str | Path) -> None:
        """Write as GMT (name, description, genes; tab-separated)."""
        lines = [
            "\t".join([n, self.descriptions.get(n, ""), *genes]) for n, genes in self._sets.items()
        ]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------ views
    @property
    def names(self) -> list[str]:
        return list(self._sets)

    @property
    def genes(self) -> list[str]:
        """Every gene of any set, sorted."""
        return sorted({g for members in self._sets.values() for g in members})

    @property
    def sizes(self) -> pd.Series:
        return pd.Series({n: len(g) for n, g in self._sets.items()}, dtype=int, name="size")

    def __getitem__(self, set_name: str) -> tuple[str, ...]:
        try:
            return self._sets[set_name]
        except KeyError:
            raise DataError(f"no gene set {set_name!r} in {self.name!r}") from None

    def __contains__(self, set_name: object) -> bool:
        return set_name in self._sets

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def items(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        return iter(self._sets.items())

    def __repr__(self) -> str:
        sizes = self.sizes
        span = f"sizes {sizes.min()}-{sizes.max()}" if len(sizes) else "empty"
        return f"GeneSets({self.name!r}: {len(self)} sets, {len(self.genes)} genes, {span})"

    # ------------------------------------------------------------------ transforms
    def filter(self, *, min_size: int = 1, max_size: int | None = None) -> GeneSets:
        """Sets with ``min_size <= size <= max_size``."""
        keep = {
            n: g
            for n, g in self._sets.items()
            if len(g) >= min_size and (max_size is None or len(g) <= max_size)
        }
        return self._derived(keep, f"{self.name}|size[{min_size},{max_size}]")

    def restrict(self, universe: Iterable[str], *, min_size: int = 1) -> GeneSets:
        """Keep only members in ``universe`` (e.g. the genes a model saw); drop sets left
        with fewer than ``min_size`` members.

        Raises
        ------
        DataError
            No set keeps ``min_size`` members (the universe and the sets share too little:
            often a mismatch of identifier types).
        """
        universe = set(universe)
        keep = {}
        for n, genes in self._sets.items():
            kept = [g for g in genes if g in universe]
            if len(kept) >= max(min_size, 1):
                keep[n] = kept
        if not keep:
            sample = sorted(universe)[:3]
            raise DataError(
                f"no set of {self.name!r} keeps {min_size} gene(s) of the {len(universe)}-gene "
                f"universe (universe e.g. {sample}, sets e.g. {self.genes[:3]})"
            )
        return self._derived(keep, f"{self.name}|restricted")

    def _derived(self, sets: Mapping[str, Sequence[str]], name: str) -> GeneSets:
        return GeneSets(sets, descriptions=self.descriptions, name=name)

    def membership(self, genes: Sequence[str] | None = None) -> tuple[sp.csr_matrix, list[str]]:
        """Sparse sets x genes 0/1 matrix over ``genes`` (default: :attr:`genes`).

        Members outside ``genes`` are left out. Returns the matrix and the gene order.
        """
        genes = list(self.genes if genes is None else genes)
        index = {g: i for i, g in enumerate(genes)}
        rows, cols = [], []
        for r, members in enumerate(self._sets.values()):
            hit = [index[g] for g in members if g in index]
            rows.extend([r] * len(hit))
            cols.extend(hit)
        data = np.ones(len(rows), dtype=np.int8)
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(self._sets), len(genes)))
        return matrix, genes

    def to_frame(self) -> pd.DataFrame:
        """Long table with columns ``set``, ``gene``."""
        pairs = [(n, g) for n, genes in self._sets.items() for g in genes]
        return pd.DataFrame(pairs, columns=["set", "gene"])
