"""Download one GMT file into a cache folder: all or nothing.

The file is streamed to a temporary file beside its target, checked (bytes received against
``Content-Length``, gzip / zip integrity, a pinned SHA-256, not a web page, parses as GMT)
and only then renamed into place with :func:`os.replace`, which is atomic on one file
system. Whatever fails, the temporary files are removed, so the cache never holds a
truncated or corrupt file and the next call downloads again.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from graphfuse.data._genesets import GeneSets
from graphfuse.errors import DataError

__all__ = ["download_gmt"]

_CHUNK = 1 << 16
_DECOMPRESS_ERRORS = (gzip.BadGzipFile, zipfile.BadZipFile, EOFError, zlib.error)


def download_gmt(
    url: str,
    target: Path,
    *,
    label: str,
    compression: str | None = None,
    sha256: str | None = None,
    by_hand: str = "",
    timeout: float = 60.0,
) -> None:
    """Download the GMT file at ``url`` to ``target`` (decompressed), or raise and leave nothing.

    Parameters
    ----------
    url
        Where the file is (``http(s)://`` or ``file://``).
    target
        The plain GMT file to create; its folder is created if needed.
    label
        What is downloaded, to open error messages (``"gene-set collection 'reactome'"``).
    compression
        ``"gzip"`` or ``"zip"`` (one ``.gmt`` member) to insist on; ``None`` recognises
        either by its first bytes and otherwise takes the file as plain GMT.
    sha256
        The SHA-256 the decompressed file must have, if pinned.
    by_hand
        A sentence saying how to place the file by hand, for the offline error.
    timeout
        Seconds to wait for the server at each step.

    Raises
    ------
    DataError
        Offline or refused, an HTTP error, a truncated or corrupt download, a checksum
        mismatch, a web page or a file that is not GMT. Nothing is left at ``target``.
    """
    _Download(url, target, label, compression, sha256, by_hand, timeout).run()


class _Download:
    """One download of one collection's file into the cache: all or nothing."""

    def __init__(
        self,
        url: str,
        target: Path,
        label: str,
        compression: str | None,
        sha256: str | None,
        by_hand: str,
        timeout: float,
    ) -> None:
        self.url, self.target, self.label = url, target, label
        self.compression, self.sha256, self.by_hand = compression, sha256, by_hand
        self.timeout = timeout
        self.expected: int | None = None
        self.received = 0

    def nothing_cached(self) -> str:
        return f"Nothing was written to the cache ({self.target}); the next call downloads again."

    def sizes(self) -> str:
        expected = f"{self.expected:,}" if self.expected is not None else "an unknown number of"
        return f"expected {expected} bytes, received {self.received:,}"

    def run(self) -> None:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            raw = self._temp(".download")
        except OSError as exc:
            raise DataError(
                f"{self.label}: cannot write to the folder {self.target.parent} ({exc})"
            ) from None
        part = raw.with_name(raw.name.removesuffix(".download") + ".gmt.part")
        try:
            self._stream(raw)
            digest = self._unpack(raw, part)
            self._verify(part, digest)
            os.replace(part, self.target)
        finally:
            raw.unlink(missing_ok=True)
            part.unlink(missing_ok=True)

    def _temp(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.name}.", suffix=suffix
        )
        os.close(fd)
        return Path(name)

    def _stream(self, raw: Path) -> None:
        request = urllib.request.Request(
            self.url, headers={"User-Agent": "graphfuse", "Accept-Encoding": "identity"}
        )
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise DataError(
                f"{self.label}: {self.url} answered HTTP {exc.code} ({exc.reason}); is this "
                f"version published there? {self.by_hand}"
            ) from None
        except ValueError as exc:
            raise DataError(
                f"{self.label}: {self.url!r} is not a URL graphfuse can read ({exc})"
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"{self.label} is not on this machine and could not be downloaded from "
                f"{self.url} ({reason}); the machine may be offline. {self.by_hand}"
            ) from None
        with response, raw.open("wb") as out:
            length = response.headers.get("Content-Length")
            self.expected = int(length) if length and length.strip().isdigit() else None
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise DataError(
                        f"{self.label}: the download from {self.url} broke off ({exc!r}); "
                        f"{self.sizes()}. {self.nothing_cached()}"
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                self.received += len(chunk)
        if self.expected is not None and self.received != self.expected:
            raise DataError(
                f"{self.label}: the download from {self.url} is incomplete: {self.sizes()} "
                f"(Content-Length). {self.nothing_cached()}"
            )
        if not self.received:
            raise DataError(f"{self.label}: {self.url} sent an empty file. {self.nothing_cached()}")

    def _unpack(self, raw: Path, part: Path) -> str:
        """Decompress (or copy) ``raw`` into ``part``; return the GMT's SHA-256."""
        with raw.open("rb") as handle:
            magic = handle.read(4)
        kind = "gzip" if magic[:2] == b"\x1f\x8b" else "zip" if magic == b"PK\x03\x04" else None
        declared = self.compression
        if declared is not None and kind != declared:
            raise DataError(
                f"{self.label}: {self.url} should be a {declared} file but starts with "
                f"{magic!r}. {self.nothing_cached()}"
            )
        try:
            with part.open("wb") as out:
                if kind == "gzip":
                    with gzip.open(raw, "rb") as src:
                        return _copy(src.read, out)
                if kind == "zip":
                    with zipfile.ZipFile(raw) as archive:
                        member = self._member(archive)
                        with archive.open(member) as src:
                            return _copy(src.read, out)
                with raw.open("rb") as src:
                    return _copy(src.read, out)
        except _DECOMPRESS_ERRORS as exc:
            raise DataError(
                f"{self.label}: the {kind} file downloaded from {self.url} is corrupt or "
                f"truncated ({exc}); {self.sizes()}. {self.nothing_cached()}"
            ) from None

    def _member(self, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
        gmts = [i for i in archive.infolist() if i.filename.lower().endswith(".gmt")]
        if len(gmts) != 1:
            raise DataError(
                f"{self.label}: expected one .gmt file in the zip archive from {self.url}, found "
                f"{[i.filename for i in archive.infolist()]}. {self.nothing_cached()}"
            )
        return gmts[0]

    def _verify(self, part: Path, digest: str) -> None:
        """Refuse a file that is not what was pinned, a web page, or not a GMT file."""
        pinned = self.sha256
        if pinned and digest != pinned.lower():
            raise DataError(
                f"{self.label}: the file from {self.url} has SHA-256 {digest}, but graphfuse "
                f"pins {pinned} for this version: it is not the file graphfuse was checked "
                f"against. {self.nothing_cached()} If you trust the file, place it by hand at "
                f"{self.target}: files placed by hand are read as they are."
            )
        with part.open("rb") as handle:
            head = handle.read(512).lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise DataError(
                f"{self.label}: {self.url} sent a web page, not a GMT file (an error or login "
                f"page, or a moved file?). {self.nothing_cached()}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # they are shown when the cached file is read
            try:
                GeneSets.read_gmt(part)
            except (DataError, UnicodeDecodeError) as exc:
                raise DataError(
                    f"{self.label}: the file from {self.url} is not a valid GMT file ({exc}). "
                    f"{self.nothing_cached()}"
                ) from None


def _copy(read: Callable[[int], bytes], out: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()
