"""Named gene-set collections, downloaded once and cached: Reactome, GO BP, Hallmark, KEGG.

``load_gene_sets("reactome")`` returns a :class:`~graphfuse.data.GeneSets` and finds the
collection's GMT file in this order:

1. **the data root** (:func:`graphfuse.data.data_root`): the file under the name the shared
   data folder uses (``genesets/ReactomePathways_2024-09-18.gmt``), or under the cache's name
   (``genesets/reactome_90.gmt``);
2. **the cache** (:func:`gene_set_cache_dir`: ``$GRAPHFUSE_CACHE/genesets``, else the
   platform's user cache folder, e.g. ``~/.cache/graphfuse/genesets``);
3. **a download** from the source's public URL (``https://`` only, unless
   ``allow_insecure=True``), streamed to a temporary file in the cache folder, checked (bytes
   received against ``Content-Length``, size caps, gzip / zip integrity, a pinned SHA-256
   where graphfuse has one, parsed as GMT) and only then renamed into place, so a truncated
   or corrupt download never leaves a file behind.

Every read checks the file first: a version with a pinned SHA-256 (:attr:`GmtDownloadSource.sha256`)
must match it wherever the file is; a cached file of a version without a pin must match the
SHA-256 recorded beside it (``<file>.sha256``) when it was downloaded or first read (trust on
first use). A file that fails is refused, naming the file and how to download it again.

A source is one class registered in :data:`GENE_SET_SOURCES`: a download source sets a URL
template, a default version and its license (:class:`GmtDownloadSource`). graphfuse downloads
these files on the user's machine; it never ships them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from graphfuse.data._download import (
    MAX_DOWNLOAD_BYTES,
    MAX_GMT_BYTES,
    check_url,
    download_gmt,
    verify_cached,
)
from graphfuse.data._genesets import GeneSets
from graphfuse.data._paths import data_root
from graphfuse.errors import ConfigError, DataError
from graphfuse.registry import Registry

__all__ = [
    "CACHE_ENV",
    "GENE_SET_SOURCES",
    "GeneSetSource",
    "GmtDownloadSource",
    "gene_set_cache_dir",
    "gene_set_sources",
    "load_gene_sets",
]

log = logging.getLogger(__name__)

#: Environment variable naming graphfuse's cache folder (gene sets go to its ``genesets``).
CACHE_ENV = "GRAPHFUSE_CACHE"

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def gene_set_cache_dir() -> Path:
    """The folder downloaded gene-set collections are cached in (it need not exist).

    Returns
    -------
    Path
        ``$GRAPHFUSE_CACHE/genesets`` if the variable is set and non-empty, else the
        platform's user cache folder: ``$XDG_CACHE_HOME/graphfuse/genesets`` (default
        ``~/.cache/graphfuse/genesets``) on Linux, ``~/Library/Caches/graphfuse/genesets``
        on macOS, ``%LOCALAPPDATA%\\graphfuse\\Cache\\genesets`` on Windows.

    Examples
    --------
    >>> gene_set_cache_dir().name
    'genesets'
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        root = Path(env).expanduser()
    elif sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "").strip()
        root = (Path(local) if local else Path.home() / "AppData" / "Local") / "graphfuse" / "Cache"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches" / "graphfuse"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "graphfuse"
    return root / "genesets"


class GeneSetSource(ABC):
    """A named gene-set collection that :func:`load_gene_sets` can load.

    Subclasses set the class attributes below and implement :meth:`load`; registering one
    under a name (``@GENE_SET_SOURCES.register("name")``) makes it loadable by that name.
    """

    registry_name: ClassVar[str]
    #: One line saying what the collection is.
    title: ClassVar[str] = ""
    #: The license of the data, and what it allows.
    license: ClassVar[str] = ""
    #: The version loaded when none is asked for (``None``: the collection has no versions).
    default_version: ClassVar[str | None] = None

    @abstractmethod
    def load(
        self,
        *,
        version: str | int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        refresh: bool = False,
        url: str | None = None,
        timeout: float = 60.0,
        cohort: Any = None,
        allow_insecure: bool = False,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        max_gmt_bytes: int = MAX_GMT_BYTES,
    ) -> GeneSets:
        """The collection; see :func:`load_gene_sets` for the parameters."""

    def describe(self) -> dict[str, str]:
        """A row of :func:`gene_set_sources`."""
        return {
            "name": self.registry_name,
            "title": self.title,
            "default_version": self.default_version or "",
            "url": "",
            "format": "",
            "license": self.license,
            "checksum": "",
            "found": "",
        }


#: Registered gene-set sources, by the name configs and :func:`load_gene_sets` use.
GENE_SET_SOURCES: Registry[GeneSetSource] = Registry("gene-set collection")


class GmtDownloadSource(GeneSetSource):
    """A collection published as one GMT file (plain, gzipped or in a zip) at a public URL.

    Subclasses set :attr:`url_template` (formatted with ``version``), :attr:`default_version`,
    :attr:`license` and, where known, :attr:`compression`, :attr:`sha256` and
    :attr:`local_files`. The cached file is the plain GMT, named ``<name>_<version>.gmt``.
    """

    #: The download URL, with ``{version}`` where the version goes.
    url_template: ClassVar[str] = ""
    #: What the download is: ``"gzip"``, ``"zip"`` (holding one ``.gmt`` file) or ``None``
    #: (plain GMT; a gzip or zip download is still recognised by its first bytes).
    compression: ClassVar[str | None] = None
    #: Version -> SHA-256 of the (decompressed) GMT file: a download and every read of the
    #: file, in the data root or the cache, must match it. A version without one is trusted
    #: on first use: its SHA-256 is recorded beside the cached file and checked from then on.
    sha256: ClassVar[Mapping[str, str]] = {}
    #: Version -> path, relative to the data root, of the file under its published name.
    local_files: ClassVar[Mapping[str, str]] = {}

    def url_for(self, version: str) -> str:
        """The download URL of ``version``."""
        return self.url_template.format(version=version)

    def file_name(self, version: str) -> str:
        """The GMT file's name in the cache (and, optionally, in ``<data root>/genesets``)."""
        return f"{self.registry_name}_{version}.gmt"

    def resolve_version(self, version: str | int | None) -> str:
        """``version`` as text, or the default; refuses text that could not be a version."""
        text = str(self.default_version if version is None else version).strip()
        if not _VERSION.match(text):
            raise ConfigError(
                f"gene-set collection {self.registry_name!r}: version {text!r} is not a "
                "version (letters, digits, '.', '_' and '-' only); default "
                f"{self.default_version!r}"
            )
        return text

    def local_candidates(self, version: str) -> list[Path]:
        """Where in the data root the file may already be, in the order looked at."""
        root = data_root()
        found = [root / self.local_files[version]] if version in self.local_files else []
        return [*found, root / "genesets" / self.file_name(version)]

    def fetch(
        self,
        *,
        version: str | int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        refresh: bool = False,
        url: str | None = None,
        timeout: float = 60.0,
        allow_insecure: bool = False,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        max_gmt_bytes: int = MAX_GMT_BYTES,
    ) -> Path:
        """The path of the collection's GMT file: in the data root, the cache or downloaded.

        Parameters are those of :func:`load_gene_sets`. With ``refresh`` the data root and
        the cache are not looked at and the file is downloaded again into the cache. A
        ``url`` is checked (:func:`check_url`) whether or not a download is needed, and the
        file found is checked against its pinned or recorded SHA-256 before it is returned.
        """
        version = self.resolve_version(version)
        label = f"gene-set collection {self.registry_name!r} (version {version})"
        source_url = url or self.url_for(version)
        check_url(source_url, label=label, allow_insecure=allow_insecure)
        folder = Path(cache_dir).expanduser() if cache_dir is not None else gene_set_cache_dir()
        target = folder / self.file_name(version)
        pinned = self.sha256.get(version)
        if not refresh:
            for path in self.local_candidates(version):
                if path.is_file():
                    log.debug("gene sets %s %s: %s", self.registry_name, version, path)
                    verify_cached(
                        path,
                        label=label,
                        sha256=pinned,
                        again=self.replace_hint(path),
                        record=False,
                    )
                    return path
            if target.is_file():
                log.debug("gene sets %s %s: %s", self.registry_name, version, target)
                verify_cached(target, label=label, sha256=pinned, again=self.again_hint(target))
                return target
        log.info("downloading gene sets %s %s from %s", self.registry_name, version, source_url)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot create the gene-set cache folder {folder} ({exc}); set {CACHE_ENV} "
                "or pass cache_dir= to use a writable folder"
            ) from None
        by_hand = (
            f"To use it without network access, download {source_url} on a machine that is "
            f"online{self.unpack_hint()} and save the GMT file as {target} (or as "
            f"{data_root() / 'genesets' / target.name}); graphfuse reads it from there. Any "
            "GMT file can also be read with GeneSets.read_gmt(path)."
        )
        download_gmt(
            source_url,
            target,
            label=label,
            compression=self.compression,
            sha256=pinned,
            by_hand=by_hand,
            timeout=timeout,
            allow_insecure=allow_insecure,
            max_download_bytes=max_download_bytes,
            max_gmt_bytes=max_gmt_bytes,
        )
        return target

    def again_hint(self, target: Path) -> str:
        """How to replace a cached file that failed its check."""
        return (
            f"Delete {target} (and {target.name}.sha256 beside it) or call "
            f"load_gene_sets({self.registry_name!r}, refresh=True) to download it again."
        )

    def replace_hint(self, path: Path) -> str:
        """How to replace a data-root file that failed its pin."""
        return (
            f"Replace {path} with the published file, or remove it so that graphfuse "
            "downloads it; to use this file as it is, read it with GeneSets.read_gmt(path)."
        )

    def load(
        self,
        *,
        version: str | int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        refresh: bool = False,
        url: str | None = None,
        timeout: float = 60.0,
        cohort: Any = None,
        allow_insecure: bool = False,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        max_gmt_bytes: int = MAX_GMT_BYTES,
    ) -> GeneSets:
        if cohort is not None:
            raise ConfigError(
                f"gene-set collection {self.registry_name!r} is read from a file, not from a "
                "cohort; pass cohort= only with 'synthetic'"
            )
        version = self.resolve_version(version)
        path = self.fetch(
            version=version,
            cache_dir=cache_dir,
            refresh=refresh,
            url=url,
            timeout=timeout,
            allow_insecure=allow_insecure,
            max_download_bytes=max_download_bytes,
            max_gmt_bytes=max_gmt_bytes,
        )
        return GeneSets.read_gmt(path, name=f"{self.registry_name}_{version}")

    def describe(self) -> dict[str, str]:
        row = super().describe()
        version = self.resolve_version(None)
        found = [p for p in (*self.local_candidates(version), self._cached(version)) if p.is_file()]
        row |= {
            "url": self.url_for(version),
            "format": f"GMT ({self.compression})" if self.compression else "GMT",
            "checksum": "pinned" if version in self.sha256 else "trust on first use",
            "found": str(found[0]) if found else "",
        }
        return row

    def _cached(self, version: str) -> Path:
        return gene_set_cache_dir() / self.file_name(version)

    def unpack_hint(self) -> str:
        """How to turn the downloaded file into the plain GMT graphfuse reads."""
        if self.compression == "zip":
            return ", unzip it (it holds one .gmt file)"
        if self.compression == "gzip":
            return ", decompress it (gunzip)"
        return ""


# ---------------------------------------------------------------------------- sources
_MSIGDB = "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/{version}.Hs/"


@GENE_SET_SOURCES.register("reactome")
class Reactome(GmtDownloadSource):
    """Reactome pathways, human, every level of the hierarchy, as gene symbols.

    Downloaded from Reactome's versioned archive,
    ``https://download.reactome.org/<release>/ReactomePathways.gmt.zip`` (a zip holding
    ``ReactomePathways.gmt``; the description column is the stable ID, ``R-HSA-...``).
    ``version="current"`` takes ``https://reactome.org/download/current/ReactomePathways.gmt.zip``,
    which changes with every quarterly release: ``refresh=True`` fetches the newest. The
    default, release 90 (September 2024), is the file of the shared data folder
    (``genesets/ReactomePathways_2024-09-18.gmt``). Sets include a few viral gene tokens and
    sets of size 1: filter by size. No SHA-256 is pinned: the shared copy could not be
    checked against the archive's file, and ``current`` changes with each release; the
    SHA-256 of a download is recorded beside the cached file and checked on every read.

    License: CC0 1.0 (Reactome puts its data in the public domain). Cite Milacic M. et al.,
    Nucleic Acids Res 2024;52:D672.
    """

    title = "Reactome pathways (human, all hierarchy levels), gene symbols"
    license = "CC0 1.0"
    default_version = "90"
    url_template = "https://download.reactome.org/{version}/ReactomePathways.gmt.zip"
    compression = "zip"
    local_files: ClassVar[Mapping[str, str]] = {"90": "genesets/ReactomePathways_2024-09-18.gmt"}

    def url_for(self, version: str) -> str:
        if version == "current":
            return "https://reactome.org/download/current/ReactomePathways.gmt.zip"
        return super().url_for(version)


@GENE_SET_SOURCES.register("go_bp")
class GOBiologicalProcess(GmtDownloadSource):
    """Gene Ontology biological processes as Enrichr compiles them (``GO_Biological_Process_<v>``).

    Downloaded as plain text from Enrichr's library endpoint,
    ``https://maayanlab.cloud/Enrichr/geneSetLibrary?mode=text&libraryName=GO_Biological_Process_<v>``
    (versions 2018, 2021, 2023, ...). Set names are ``Term Name (GO:nnnnnnn)``; the
    description column is empty. The default, 2023, is the file of the shared data folder
    (``genesets/Enrichr_GO_Biological_Process_2023.gmt``). Enrichr serves the file
    dynamically, so no checksum is pinned; its completeness is checked by its length and by
    parsing it, and its SHA-256 is recorded beside the cached file at the first download and
    checked on every later read.

    License: GO data CC BY 4.0 (Gene Ontology Consortium; show the version with results);
    library compiled by the Ma'ayan lab (Enrichr). Cite Ashburner M. et al., Nat Genet
    2000;25:25 and Kuleshov M.V. et al., Nucleic Acids Res 2016;44:W90.
    """

    title = "GO biological process (Enrichr library), gene symbols"
    license = "CC BY 4.0 (Gene Ontology); compiled by Enrichr"
    default_version = "2023"
    url_template = (
        "https://maayanlab.cloud/Enrichr/geneSetLibrary?mode=text"
        "&libraryName=GO_Biological_Process_{version}"
    )
    local_files: ClassVar[Mapping[str, str]] = {
        "2023": "genesets/Enrichr_GO_Biological_Process_2023.gmt"
    }


@GENE_SET_SOURCES.register("hallmark")
class MSigDBHallmark(GmtDownloadSource):
    """MSigDB Hallmark gene sets (collection H), human gene symbols.

    Downloaded from the MSigDB release folder,
    ``https://data.broadinstitute.org/gsea-msigdb/msigdb/release/<v>.Hs/h.all.v<v>.Hs.symbols.gmt``
    (releases 2022.1 and later). The default, 2024.1, is the file of the shared data folder
    (``genesets/h.all.v2024.1.Hs.symbols.gmt``), and a download of it must match that
    file's SHA-256.

    License: MSigDB's terms (CC BY 4.0 for the collections of releases 2022.1 onwards; the
    KEGG-derived sets of C2 carry KEGG's extra terms, none are in H). Cite Liberzon A. et al.,
    Cell Systems 2015;1:417 and Subramanian A. et al., PNAS 2005;102:15545.
    """

    title = "MSigDB Hallmark (H), human gene symbols"
    license = "CC BY 4.0 (MSigDB terms)"
    default_version = "2024.1"
    url_template = _MSIGDB + "h.all.v{version}.Hs.symbols.gmt"
    sha256: ClassVar[Mapping[str, str]] = {
        "2024.1": "ee2463540042078bfa3f67828e1e223bb354446d9fbb4d22845866835ba5c772"
    }
    local_files: ClassVar[Mapping[str, str]] = {"2024.1": "genesets/h.all.v2024.1.Hs.symbols.gmt"}


@GENE_SET_SOURCES.register("kegg")
class KEGGLegacy(GmtDownloadSource):
    """KEGG pathways as MSigDB distributes them (C2:CP:KEGG_LEGACY), human gene symbols.

    Downloaded from the MSigDB release folder,
    ``https://data.broadinstitute.org/gsea-msigdb/msigdb/release/<v>.Hs/c2.cp.kegg_legacy.v<v>.Hs.symbols.gmt``
    (releases 2023.1 and later; the 186 classic KEGG pathways). No SHA-256 is pinned (no
    copy has been checked); the SHA-256 of a download is recorded beside the cached file and
    checked on every read.

    License: **KEGG's terms restrict redistribution** (free for academic use; other use needs
    a license from Pathway Solutions). graphfuse downloads the file on the user's machine and
    never ships it: do not commit or share the cached copy. Not in the shared data folder, on
    purpose. Cite Kanehisa M. and Goto S., Nucleic Acids Res 2000;28:27.
    """

    title = "KEGG pathways (MSigDB KEGG_LEGACY), human gene symbols"
    license = "KEGG terms: no redistribution; academic use free"
    default_version = "2024.1"
    url_template = _MSIGDB + "c2.cp.kegg_legacy.v{version}.Hs.symbols.gmt"


@GENE_SET_SOURCES.register("synthetic")
class SyntheticPathways(GeneSetSource):
    """The pathway collection of a cohort built by ``make_synthetic_cohort`` (``uns["gene_sets"]``).

    Needs ``cohort=``; it has no versions, URL or cache. With the cohort's planted disease
    pathways known, enrichment results can be scored against the truth.
    """

    title = "the synthetic cohort's own pathway collection (pass cohort=)"
    license = "generated by graphfuse"

    def load(
        self,
        *,
        version: str | int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        refresh: bool = False,
        url: str | None = None,
        timeout: float = 60.0,
        cohort: Any = None,
        allow_insecure: bool = False,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        max_gmt_bytes: int = MAX_GMT_BYTES,
    ) -> GeneSets:
        if cohort is None:
            raise DataError(
                "gene-set collection 'synthetic' is the pathway collection of a synthetic "
                "cohort: pass cohort=make_synthetic_cohort(...)"
            )
        if version is not None or url is not None:
            raise ConfigError(
                "gene-set collection 'synthetic' is read from the cohort: it has no version or url"
            )
        return GeneSets.from_cohort(cohort)


# ---------------------------------------------------------------------------- public calls
def load_gene_sets(
    name: str,
    *,
    version: str | int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    url: str | None = None,
    timeout: float = 60.0,
    cohort: Any = None,
    allow_insecure: bool = False,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    max_gmt_bytes: int = MAX_GMT_BYTES,
) -> GeneSets:
    """A named gene-set collection: from the data root, the cache, or downloaded once.

    Parameters
    ----------
    name
        A registered source (:data:`GENE_SET_SOURCES`): ``reactome``, ``go_bp``,
        ``hallmark``, ``kegg``, ``synthetic``.
    version
        The collection's version (e.g. ``"90"`` for Reactome, ``"2024.1"`` for MSigDB);
        default: the source's ``default_version``.
    cache_dir
        The folder downloads are cached in; default :func:`gene_set_cache_dir`.
    refresh
        Download again even where the file is already in the data root or the cache; the
        new copy replaces the cached one.
    url
        Download from here instead of the source's URL (a mirror); the file is cached
        under the collection's name and version all the same. ``https://`` only, unless
        ``allow_insecure``.
    timeout
        Seconds to wait for the server at each step of the download.
    cohort
        For ``synthetic`` only: the cohort whose pathway collection to return.
    allow_insecure
        Allow ``http://`` and ``file://`` URLs (a local mirror, a test server) and
        redirects to ``http://``; refused otherwise.
    max_download_bytes
        The most bytes a download may send (default 500 MB).
    max_gmt_bytes
        The most bytes the downloaded GMT file may unpack to (default 2 GB).

    Returns
    -------
    GeneSets
        Named ``<name>_<version>`` (e.g. ``reactome_90``).

    Raises
    ------
    RegistryError
        ``name`` is not registered; the message lists the registered names.
    ConfigError
        ``url`` is ``http://`` or ``file://`` without ``allow_insecure``, or of another scheme.
    DataError
        The file found does not match its pinned SHA-256, or a cached file no longer matches
        the one recorded beside it (the message names the file and how to download it again);
        or the file is nowhere on this machine and the download failed: offline (the message
        says where to place the file by hand), truncated, corrupt, too large or not a GMT
        file (then nothing is cached and the next call downloads again).

    Examples
    --------
    >>> from graphfuse.data import make_synthetic_cohort
    >>> cohort = make_synthetic_cohort(30, n_genes=60, n_pathways=6, n_regions=10)
    >>> len(load_gene_sets("synthetic", cohort=cohort))
    6
    >>> sorted(GENE_SET_SOURCES)
    ['go_bp', 'hallmark', 'kegg', 'reactome', 'synthetic']
    """
    source = GENE_SET_SOURCES.get(name)()
    given = {  # passed only where set, so a source written for fewer options still loads
        "allow_insecure": allow_insecure or None,
        "max_download_bytes": None
        if max_download_bytes == MAX_DOWNLOAD_BYTES
        else max_download_bytes,
        "max_gmt_bytes": None if max_gmt_bytes == MAX_GMT_BYTES else max_gmt_bytes,
    }
    return source.load(
        version=version,
        cache_dir=cache_dir,
        refresh=refresh,
        url=url,
        timeout=timeout,
        cohort=cohort,
        **{k: v for k, v in given.items() if v is not None},
    )


def gene_set_sources() -> pd.DataFrame:
    """The registered collections: one row each, with where the default version is found.

    Columns: ``name``, ``title``, ``default_version``, ``url`` (of the default version),
    ``format``, ``license``, ``checksum`` (``pinned`` where graphfuse pins the default
    version's SHA-256, else ``trust on first use``), ``found`` (the file in the data root or
    the cache that :func:`load_gene_sets` would read, or empty where it would download).

    Examples
    --------
    >>> gene_set_sources().set_index("name").loc["reactome", "format"]
    'GMT (zip)'
    """
    return pd.DataFrame([GENE_SET_SOURCES.get(n)().describe() for n in GENE_SET_SOURCES])
