"""Download one GMT file into a cache folder: all or nothing, and verified on every read.

The file is streamed to a temporary file beside its target, checked (bytes received against
``Content-Length``, gzip / zip integrity, a pinned SHA-256, not a web page, parses as GMT)
and only then renamed into place with :func:`os.replace`, which is atomic on one file
system. Whatever fails, the temporary files are removed, so the cache never holds a
truncated or corrupt file and the next call downloads again.

Trust: only ``https://`` URLs are read unless the caller allows ``http://`` and ``file://``
(``allow_insecure=True``), also for redirects; the body and the unpacked file are capped in
size. The SHA-256 of each downloaded file is recorded beside it (``<file>.sha256``, in the
format of ``sha256sum``) and :func:`verify_cached` checks the file against it, and against
the pinned SHA-256 where there is one, every time the file is read: a version without a pin
is trusted on first use, and never silently changes after that.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from graphfuse.data._genesets import GeneSets
from graphfuse.errors import ConfigError, DataError, GraphfuseError

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "MAX_GMT_BYTES",
    "check_url",
    "digest_file",
    "download_gmt",
    "verify_cached",
]

log = logging.getLogger(__name__)

#: Default cap on the bytes a download may send (500 MB).
MAX_DOWNLOAD_BYTES = 500_000_000
#: Default cap on the size of the GMT file a download unpacks to (2 GB).
MAX_GMT_BYTES = 2_000_000_000

_CHUNK = 1 << 16
_DECOMPRESS_ERRORS = (gzip.BadGzipFile, zipfile.BadZipFile, EOFError, zlib.error)
_INSECURE = ("http", "file")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _TooLarge(Exception):
    """Raised by :func:`_copy` when the unpacked file passes its cap."""


def check_url(url: str, *, label: str, allow_insecure: bool = False) -> None:
    """Refuse a URL graphfuse would not download from.

    ``https://`` is always allowed; ``http://`` (readable and changeable in transit) and
    ``file://`` (any file on this machine) only with ``allow_insecure``; no other scheme.

    Raises
    ------
    ConfigError
        The URL has no scheme, another scheme, or ``http://`` / ``file://`` without
        ``allow_insecure``; the message names ``label`` and the URL.

    Examples
    --------
    >>> check_url("https://example.org/sets.gmt", label="sets")
    >>> check_url("file:///tmp/sets.gmt", label="sets", allow_insecure=True)
    >>> check_url("http://example.org/sets.gmt", label="sets")
    Traceback (most recent call last):
    ...
    graphfuse.errors.ConfigError: sets: refused to download from 'http://example.org/sets.gmt': \
plain http:// can be read and changed in transit; use an https:// URL, or pass \
allow_insecure=True to allow http:// and file:// URLs (a local mirror or test server)
    """
    why = _refusal(url, allow_insecure)
    if why is not None:
        raise ConfigError(f"{label}: refused to download from {url!r}: {why}")


def _refusal(url: str, allow_insecure: bool) -> str | None:
    """Why graphfuse would not download from ``url``, or ``None`` where it would."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "https" or (allow_insecure and scheme in _INSECURE):
        return None
    allow = (
        "; use an https:// URL, or pass allow_insecure=True to allow http:// and file:// "
        "URLs (a local mirror or test server)"
    )
    if scheme == "http":
        return "plain http:// can be read and changed in transit" + allow
    if scheme == "file":
        return "a file:// URL reads whatever file it names on this machine" + allow
    if not scheme:
        return (
            "graphfuse downloads over https:// only, not from a bare path (a file on this "
            "machine is a file:// URL, allowed with allow_insecure=True)"
        )
    return f"graphfuse downloads over https:// only, not {scheme}://"


def digest_file(path: Path) -> str:
    """The SHA-256 of the file at ``path``, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _record(path: Path, digest: str) -> None:
    """Write ``<path>.sha256`` (``sha256sum`` format) atomically."""
    sidecar = _sidecar(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{sidecar.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{digest}  {path.name}\n")
        os.replace(name, sidecar)
    finally:
        Path(name).unlink(missing_ok=True)


def _recorded(path: Path, label: str, again: str) -> str | None:
    """The SHA-256 recorded in ``<path>.sha256``, or ``None`` where there is no such file."""
    sidecar = _sidecar(path)
    try:
        text = sidecar.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{label}: cannot read the checksum file {sidecar} of the cached file {path} "
            f"({exc}). {again}"
        ) from exc
    fields = text.split()
    if len(fields) != 2 or not _HEX64.match(fields[0]) or fields[1] != path.name:
        raise DataError(
            f"{label}: the checksum file {sidecar} of the cached file {path} does not hold "
            f"'<sha256>  {path.name}' (it holds {text[:80]!r}). {again}"
        )
    return fields[0]


def verify_cached(
    path: Path, *, label: str, sha256: str | None = None, again: str = "", record: bool = True
) -> None:
    """Check a cached file against its pinned and its recorded SHA-256 before it is read.

    Parameters
    ----------
    path
        The cached file.
    label
        What the file is, to open error messages.
    sha256
        The SHA-256 graphfuse pins for the file's version, if any.
    again
        A sentence saying how to download the file again, for the error.
    record
        Where no SHA-256 is recorded beside the file yet (a file placed by hand, or one
        cached before graphfuse recorded them), record it now (trust on first use). A
        folder that cannot be written to is left as it is.

    Raises
    ------
    DataError
        The file's SHA-256 differs from the pinned one or from the one recorded beside it
        (``<path>.sha256``), or that record is unreadable; the message names the file, both
        checksums and ``again``.
    """
    digest = digest_file(path)
    if sha256:
        if digest != sha256.lower():
            raise DataError(
                f"{label}: the file {path} has SHA-256 {digest}, but graphfuse pins "
                f"{sha256.lower()} for this version: it is not the published file (changed "
                f"since it was downloaded, or placed there by hand). {again}"
            )
        return  # the pin decides; the record beside it adds nothing
    recorded = _recorded(path, label, again)
    if recorded is not None:
        if digest != recorded:
            raise DataError(
                f"{label}: the cached file {path} has SHA-256 {digest}, but {recorded} was "
                f"recorded when it was first downloaded or read ({_sidecar(path)}): the file "
                f"changed since. {again}"
            )
        return
    if record:
        try:
            _record(path, digest)
        except OSError as exc:  # a read-only cache is still read, unrecorded
            log.debug("could not record the SHA-256 of %s (%s)", path, exc)


def download_gmt(
    url: str,
    target: Path,
    *,
    label: str,
    compression: str | None = None,
    sha256: str | None = None,
    by_hand: str = "",
    timeout: float = 60.0,
    allow_insecure: bool = False,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    max_gmt_bytes: int = MAX_GMT_BYTES,
) -> None:
    """Download the GMT file at ``url`` to ``target`` (decompressed), or raise and leave nothing.

    On success the file's SHA-256 is recorded beside it, in ``<target>.sha256``, for
    :func:`verify_cached`.

    Parameters
    ----------
    url
        Where the file is: ``https://``; ``http://`` or ``file://`` only with
        ``allow_insecure``.
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
    allow_insecure
        Allow ``http://`` and ``file://`` URLs, and redirects to ``http://``.
    max_download_bytes
        The most bytes the server may send (a larger ``Content-Length`` is refused before
        the body is read).
    max_gmt_bytes
        The most bytes the GMT file may have once unpacked (a gzip or zip bomb is refused).

    Raises
    ------
    ConfigError
        The URL's scheme is refused (see :func:`check_url`).
    DataError
        Offline or refused, an HTTP error, a truncated, corrupt or too large download, a
        checksum mismatch, a web page or a file that is not GMT. Nothing is left at
        ``target``.
    """
    check_url(url, label=label, allow_insecure=allow_insecure)
    limits = {"max_download_bytes": max_download_bytes, "max_gmt_bytes": max_gmt_bytes}
    for key, cap in limits.items():
        if isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0:
            raise ConfigError(
                f"{label}: {key} must be a positive whole number of bytes, not {cap!r}"
            )
    download = _Download(url, target, label, compression, sha256, by_hand, timeout)
    download.allow_insecure = allow_insecure
    download.max_bytes, download.max_gmt_bytes = max_download_bytes, max_gmt_bytes
    download.run()


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
        self.allow_insecure = False
        self.max_bytes = MAX_DOWNLOAD_BYTES
        self.max_gmt_bytes = MAX_GMT_BYTES

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
            _sidecar(self.target).unlink(missing_ok=True)  # never an old record on a new file
            os.replace(part, self.target)
            _record(self.target, digest)
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
        opener = urllib.request.build_opener(_Redirects(self))
        try:
            response = opener.open(request, timeout=self.timeout)
        except GraphfuseError:
            raise
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
            if self.expected is not None and self.expected > self.max_bytes:
                raise DataError(
                    f"{self.label}: {self.url} would send {self.expected:,} bytes "
                    f"(Content-Length), over the cap of {self.max_bytes:,} bytes "
                    f"(max_download_bytes). {self.nothing_cached()}"
                )
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
                if self.received > self.max_bytes:
                    raise DataError(
                        f"{self.label}: {self.url} sent more than the cap of "
                        f"{self.max_bytes:,} bytes (max_download_bytes; received "
                        f"{self.received:,} so far). {self.nothing_cached()}"
                    )
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
        cap = self.max_gmt_bytes
        try:
            with part.open("wb") as out:
                if kind == "gzip":
                    with gzip.open(raw, "rb") as src:
                        return _copy(src.read, out, cap)
                if kind == "zip":
                    with zipfile.ZipFile(raw) as archive:
                        member = self._member(archive)
                        if member.file_size > cap:
                            raise _TooLarge(member.file_size)
                        with archive.open(member) as src:
                            return _copy(src.read, out, cap)
                with raw.open("rb") as src:
                    return _copy(src.read, out, cap)
        except _TooLarge as exc:
            size = f"{exc.args[0]:,} bytes" if exc.args else f"more than {cap:,} bytes"
            raise DataError(
                f"{self.label}: the {kind or 'GMT'} file downloaded from {self.url} "
                f"({self.received:,} bytes) unpacks to {size}, over the cap of {cap:,} bytes "
                f"(max_gmt_bytes). {self.nothing_cached()}"
            ) from None
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
                f"against. {self.nothing_cached()} If you trust the file, read it with "
                "GeneSets.read_gmt(path)."
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


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL :func:`check_url` allows (no https -> http)."""

    def __init__(self, download: _Download) -> None:
        super().__init__()
        self.download = download

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        d = self.download
        why = _refusal(newurl, d.allow_insecure)
        if why is not None:
            fp.close()
            raise DataError(
                f"{d.label}: {d.url} redirected (HTTP {code}) to {newurl}, which is refused: "
                f"{why}. Nothing was written to the cache ({d.target})."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _copy(read: Callable[[int], bytes], out: IO[bytes], cap: int) -> str:
    digest = hashlib.sha256()
    written = 0
    while chunk := read(_CHUNK):
        written += len(chunk)
        if written > cap:
            raise _TooLarge()
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()
