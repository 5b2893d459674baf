"""Named gene-set collections: data root, cache, and downloads from a server on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from graphfuse.data import (
    GENE_SET_SOURCES,
    GeneSets,
    data_root,
    gene_set_cache_dir,
    gene_set_sources,
    load_gene_sets,
)
from graphfuse.errors import ConfigError, DataError, RegistryError

SHARED = data_root()  # read before the autouse fixture points GRAPHFUSE_DATA elsewhere
GMT = "P1\tfirst\tAPP\tAPOE\tMAPT\nP2\t\tPSEN1\tPSEN2\tAPP\n"
OTHER = "LOCAL1\tfrom the data root\tTREM2\tCLU\n"


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, content_length or None)`` and counts requests."""

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "no such file")
            return
        body, length = route
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # then the connection closes (HTTP/1.0)

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class Server:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}  # type: ignore[attr-defined]
        self.httpd.hits = Counter()  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def serve(self, path: str, body: bytes, length: int | str | None = "auto") -> str:
        self.httpd.routes[path] = (body, len(body) if length == "auto" else length)  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return self.httpd.hits[path]  # type: ignore[attr-defined]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty data root and an empty cache; returns the cache folder of gene sets."""
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GRAPHFUSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "genesets"


def load(name: str, **kwargs: object) -> GeneSets:
    """``load_gene_sets`` allowing the test server's ``http://`` URLs."""
    return load_gene_sets(name, allow_insecure=True, **kwargs)  # type: ignore[arg-type]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def zipped(text: str, member: str = "ReactomePathways.gmt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text)
    return buffer.getvalue()


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/ReactomePathways.gmt.zip"


def test_downloaded_once_then_served_from_cache_and_refreshed(server, isolated):
    url = server.serve("/h.gmt", GMT.encode())
    gs = load("hallmark", version="9.9", url=url)
    assert gs.name == "hallmark_9.9" and gs.names == ["P1", "P2"] and gs["P2"][-1] == "APP"
    assert gene_set_cache_dir() == isolated
    # no temporary file left; the SHA-256 is recorded beside the file
    assert files(isolated) == ["hallmark_9.9.gmt", "hallmark_9.9.gmt.sha256"]
    assert server.hits("/h.gmt") == 1
    # second call: from the cache, no request (not even to the source's real URL)
    again = load_gene_sets("hallmark", version="9.9")
    assert dict(again.items()) == dict(gs.items()) and server.hits("/h.gmt") == 1
    server.serve("/h.gmt", GMT.replace("P2", "P2_NEW").encode())
    fresh = load("hallmark", version="9.9", url=url, refresh=True)
    assert server.hits("/h.gmt") == 2 and fresh.names == ["P1", "P2_NEW"]
    assert files(isolated) == ["hallmark_9.9.gmt", "hallmark_9.9.gmt.sha256"]


def test_gzipped_and_zipped_files_are_cached_as_plain_gmt(server, isolated, tmp_path):
    gs = load("go_bp", version="gz", url=server.serve("/go.gmt.gz", gz(GMT)))
    assert gs.names == ["P1", "P2"]
    assert (isolated / "go_bp_gz.gmt").read_text() == GMT
    other = tmp_path / "elsewhere"
    url = server.serve("/ReactomePathways.gmt.zip", zipped(GMT))
    rx = load("reactome", version="99", url=url, cache_dir=other)
    assert rx.name == "reactome_99" and dict(rx.items()) == dict(gs.items())
    assert (
        files(other) == ["reactome_99.gmt", "reactome_99.gmt.sha256"]
        and (other / "reactome_99.gmt").read_text() == GMT
    )


def test_truncated_download_raises_and_leaves_no_file(server, isolated):
    body = GMT.encode() * 50
    url = server.serve("/h.gmt", body[:700], length=len(body))  # server closes early
    with pytest.raises(DataError) as err:
        load("hallmark", version="9.9", url=url)
    message = str(err.value)
    assert url in message and "incomplete" in message and "'hallmark'" in message
    assert f"expected {len(body):,} bytes, received 700" in message
    assert files(isolated) == []
    server.serve("/h.gmt", GMT.encode())  # fixed: the next call downloads again
    assert load("hallmark", version="9.9", url=url).names == ["P1", "P2"]
    assert server.hits("/h.gmt") == 2 and files(isolated) == [
        "hallmark_9.9.gmt",
        "hallmark_9.9.gmt.sha256",
    ]


@pytest.mark.parametrize(
    ("kind", "damage"),
    [
        ("gzip", "flipped"),
        ("gzip", "cut"),
        ("gzip", "cut_no_length"),
        ("zip", "flipped"),
        ("zip", "cut"),
    ],
)
def test_corrupt_or_cut_archive_raises_and_leaves_no_file(server, isolated, kind, damage):
    text = "".join(  # distinct genes, so the compressed stream is long
        f"S{i}\t\t" + "\t".join(f"G{(i * 7919 + j * 104729) % 99991}" for j in range(20)) + "\n"
        for i in range(300)
    )
    data = bytearray(gz(text) if kind == "gzip" else zipped(text))
    length: int | str | None = "auto"
    if damage == "flipped":
        for i in range(len(data) // 2, len(data) // 2 + 8):
            data[i] ^= 0xFF
    else:  # a consistent Content-Length, or none: only the archive itself can tell
        data = data[: len(data) // 2]
        length = None if damage == "cut_no_length" else "auto"
    url = server.serve("/sets.archive", bytes(data), length=length)
    name = "go_bp" if kind == "gzip" else "reactome"
    with pytest.raises(DataError, match=rf"{kind} file downloaded from .* is corrupt or truncated"):
        load(name, version="1", url=url)
    assert files(isolated) == []


def test_checksum_mismatch_and_non_gmt_content_leave_no_file(server, isolated):
    url = server.serve("/h.gmt", GMT.encode())
    with pytest.raises(DataError, match=r"has SHA-256 .* but graphfuse pins ee2463"):
        load("hallmark", url=url)  # default 2024.1 is pinned
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    with pytest.raises(DataError, match="sent a web page, not a GMT file"):
        load("kegg", version="1", url=server.serve("/login", page))
    with pytest.raises(DataError, match=r"should be a zip file but starts with b'P1\\tf'"):
        load("reactome", version="1", url=server.serve("/r.zip", GMT.encode()))
    with pytest.raises(DataError, match=r"expected one \.gmt file in the zip archive"):
        load("reactome", version="2", url=server.serve("/z.zip", zipped(GMT, "a.txt")))
    with pytest.raises(DataError, match="not a valid GMT file"):
        load("kegg", version="2", url=server.serve("/b", b"\xff\xfe\x00binary"))
    with pytest.raises(
        DataError, match=r"'kegg' \(version 3\): .* answered HTTP 404 \(no such file\)"
    ):
        load("kegg", version="3", url=server.serve("/x", b"x").replace("/x", "/gone"))
    assert files(isolated) == []


def test_offline_error_says_where_to_place_the_file(isolated):
    url = refused_url()
    with pytest.raises(DataError) as err:
        load("reactome", url=url)
    message = str(err.value)
    assert "gene-set collection 'reactome' (version 90)" in message
    assert url in message and "offline" in message
    assert f"save the GMT file as {isolated / 'reactome_90.gmt'}" in message
    assert "unzip it" in message and str(data_root() / "genesets" / "reactome_90.gmt") in message
    assert files(isolated) == []


def test_unknown_collection_lists_the_valid_ones():
    with pytest.raises(RegistryError) as err:
        load_gene_sets("reactom")
    assert str(err.value) == (
        "unknown gene-set collection 'reactom'; valid: go_bp, hallmark, kegg, reactome, synthetic"
    )


def test_data_root_file_takes_precedence(server, isolated, tmp_path):
    url = server.serve("/ReactomePathways.gmt.zip", zipped(GMT))
    root = tmp_path / "data" / "genesets"
    root.mkdir(parents=True)
    (root / "ReactomePathways_2024-09-18.gmt").write_text(OTHER)  # the shared folder's name
    isolated.mkdir(parents=True)
    (isolated / "reactome_90.gmt").write_text(GMT)  # a cached copy loses to the data root
    assert load("reactome", url=url).names == ["LOCAL1"]
    (root / "hallmark_7.gmt").write_text(OTHER)  # the cache's name, placed by hand
    assert load("hallmark", version="7", url=url).names == ["LOCAL1"]
    assert server.hits("/ReactomePathways.gmt.zip") == 0
    assert load("reactome", url=url, refresh=True).names == ["P1", "P2"]
    assert server.hits("/ReactomePathways.gmt.zip") == 1
    found = gene_set_sources().set_index("name")["found"]
    assert found["reactome"] == str(root / "ReactomePathways_2024-09-18.gmt")
    assert found["kegg"] == ""


def test_synthetic_collection_and_argument_checks(cohort):
    gs = load_gene_sets("synthetic", cohort=cohort)
    assert dict(gs.items()) == dict(GeneSets.from_cohort(cohort).items())
    with pytest.raises(DataError, match="pass cohort="):
        load_gene_sets("synthetic")
    with pytest.raises(ConfigError, match="no version or url"):
        load_gene_sets("synthetic", cohort=cohort, version="1")
    with pytest.raises(ConfigError, match="pass cohort= only with 'synthetic'"):
        load_gene_sets("reactome", cohort=cohort)
    with pytest.raises(ConfigError, match=r"version '../x' is not a version"):
        load_gene_sets("hallmark", version="../x")


def test_cache_folder_default_follows_the_platform(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHFUSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    assert gene_set_cache_dir() == tmp_path / "xdg" / "graphfuse" / "genesets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert gene_set_cache_dir() == Path.home() / ".cache" / "graphfuse" / "genesets"


def test_registered_sources_describe_themselves():
    table = gene_set_sources().set_index("name")
    assert list(table.index) == GENE_SET_SOURCES.names()
    assert table.loc["reactome", "url"] == (
        "https://download.reactome.org/90/ReactomePathways.gmt.zip"
    )
    assert table.loc["hallmark", "url"].endswith("/release/2024.1.Hs/h.all.v2024.1.Hs.symbols.gmt")
    assert "redistribution" in table.loc["kegg", "license"]
    assert (table.drop(index="synthetic")["license"] != "").all()


@pytest.mark.skipif(not (SHARED / "genesets").is_dir(), reason=f"shared data not found at {SHARED}")
def test_shared_collections_load_without_network(monkeypatch, server, isolated):
    monkeypatch.setenv("GRAPHFUSE_DATA", str(SHARED))
    offline = refused_url()
    assert len(load("reactome", url=offline)) == 2694
    assert len(load("go_bp", url=offline)) == 5407
    hallmark_file = SHARED / "genesets" / "h.all.v2024.1.Hs.symbols.gmt"
    assert load("hallmark", url=offline).name == "hallmark_2024.1"
    found = gene_set_sources().set_index("name")["found"]
    assert found["hallmark"] == str(hallmark_file) and found["kegg"] == ""
    # a download of the shared Hallmark file passes the pinned checksum
    url = server.serve("/h.all.gmt", hallmark_file.read_bytes())
    downloaded = load("hallmark", url=url, refresh=True)
    assert len(downloaded) == 50 and files(isolated) == [
        "hallmark_2024.1.gmt",
        "hallmark_2024.1.gmt.sha256",
    ]
    digest = hashlib.sha256((isolated / "hallmark_2024.1.gmt").read_bytes()).hexdigest()
    assert digest == GENE_SET_SOURCES.get("hallmark").sha256["2024.1"]
