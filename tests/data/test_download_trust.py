"""Gene-set downloads are trusted only as far as checked: https only unless allowed, size caps,
pinned or recorded SHA-256 checked on every read of a cached file."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import ssl
import subprocess
import threading
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from graphfuse.data import gene_set_sources, load_gene_sets
from graphfuse.errors import ConfigError, DataError

GMT = "P1\tfirst\tAPP\tAPOE\tMAPT\nP2\t\tPSEN1\tPSEN2\tAPP\n"
HALLMARK_PIN = "ee2463540042078bfa3f67828e1e223bb354446d9fbb4d22845866835ba5c772"


class _Handler(BaseHTTPRequestHandler):
    """``routes[path]`` is ``(body, send Content-Length?)`` or ``("redirect", location)``."""

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404, "no such file")
        elif route[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", route[1])
            self.end_headers()
        else:
            body, with_length = route
            self.send_response(200)
            if with_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server:
    """A file server on 127.0.0.1, plain http or (given an SSL context) https."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if context is not None else "http"
        self.httpd.routes = {}  # type: ignore[attr-defined]
        self.httpd.hits = Counter()  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, *, length: bool = True) -> str:
        self.httpd.routes[path] = (body, length)  # type: ignore[attr-defined]
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        self.httpd.routes[path] = ("redirect", location)  # type: ignore[attr-defined]
        return self.url(path)

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


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A self-signed certificate for 127.0.0.1 (its key beside it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    return folder / "cert.pem"


@pytest.fixture
def tls_server(certificate, monkeypatch):
    """An https server whose certificate this process trusts (``SSL_CERT_FILE``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, certificate.with_name("key.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    srv = Server(context)
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """An empty data root and cache; returns the gene-set cache folder."""
    monkeypatch.setenv("GRAPHFUSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GRAPHFUSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "genesets"


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("scheme", ["http", "file"])
def test_http_and_file_urls_are_refused_unless_allowed(server, cache, tmp_path, scheme):
    source = tmp_path / "sets.gmt"
    source.write_text(GMT)
    url = server.serve("/h.gmt", GMT.encode()) if scheme == "http" else source.as_uri()
    with pytest.raises(ConfigError) as err:
        load_gene_sets("kegg", version="1", url=url)
    message = str(err.value)
    assert f"refused to download from {url!r}" in message and "'kegg' (version 1)" in message
    assert "allow_insecure=True" in message
    assert server.hits("/h.gmt") == 0 and files(cache) == []
    assert load_gene_sets("kegg", version="1", url=url, allow_insecure=True).names == ["P1", "P2"]
    assert files(cache) == ["kegg_1.gmt", "kegg_1.gmt.sha256"]


def test_a_url_is_checked_even_where_the_file_is_cached(server, cache):
    url = server.serve("/h.gmt", GMT.encode())
    load_gene_sets("kegg", version="1", url=url, allow_insecure=True)
    with pytest.raises(ConfigError, match=r"refused to download from 'http://127\.0\.0\.1"):
        load_gene_sets("kegg", version="1", url=url)
    assert load_gene_sets("kegg", version="1").names == ["P1", "P2"]  # the https default


@pytest.mark.parametrize("url", ["ftp://example.org/sets.gmt", "/tmp/sets.gmt", "data:,P1"])
def test_other_schemes_are_refused_even_when_insecure_is_allowed(url):
    with pytest.raises(ConfigError, match=r"'go_bp' .*downloads over https:// only"):
        load_gene_sets("go_bp", version="1", url=url, allow_insecure=True)


def test_https_downloads_and_a_redirect_to_http_is_refused(tls_server, server, cache):
    url = tls_server.serve("/h.gmt", GMT.encode())
    assert load_gene_sets("kegg", version="1", url=url).names == ["P1", "P2"]
    plain = server.serve("/h.gmt", GMT.encode())
    moved = tls_server.redirect("/moved.gmt", plain)
    with pytest.raises(DataError) as err:
        load_gene_sets("kegg", version="2", url=moved)
    message = str(err.value)
    assert f"{moved} redirected (HTTP 302) to {plain}, which is refused" in message
    assert "allow_insecure=True" in message
    assert server.hits("/h.gmt") == 0 and not (cache / "kegg_2.gmt").exists()
    assert load_gene_sets("kegg", version="2", url=moved, allow_insecure=True).names == ["P1", "P2"]


# ---------------------------------------------------------------------------- size caps
def test_a_body_over_the_download_cap_is_refused_naming_url_size_and_cap(server, cache):
    body = GMT.encode() * 40  # 1,720 bytes
    url = server.serve("/big.gmt", body)
    with pytest.raises(DataError) as err:
        load_gene_sets("kegg", version="1", url=url, allow_insecure=True, max_download_bytes=1000)
    message = str(err.value)
    assert url in message and f"{len(body):,} bytes (Content-Length)" in message
    assert "over the cap of 1,000 bytes (max_download_bytes)" in message
    quiet = server.serve("/quiet.gmt", body, length=False)  # no Content-Length: counted
    with pytest.raises(DataError, match=r"sent more than the cap of 1,000 bytes"):
        load_gene_sets("kegg", version="1", url=quiet, allow_insecure=True, max_download_bytes=1000)
    assert files(cache) == []


def test_a_gzip_bomb_is_refused_by_the_unpacked_size_cap(server, cache):
    bomb = gzip.compress(b"P1\t\t" + b"A\t" * 200_000, mtime=0)
    assert len(bomb) < 2_000  # tiny on the wire, 400 kB unpacked
    url = server.serve("/bomb.gmt.gz", bomb)
    with pytest.raises(DataError) as err:
        load_gene_sets("go_bp", version="1", url=url, allow_insecure=True, max_gmt_bytes=100_000)
    message = str(err.value)
    assert url in message and f"({len(bomb):,} bytes) unpacks to more than 100,000 bytes" in message
    assert "over the cap of 100,000 bytes (max_gmt_bytes)" in message
    assert files(cache) == []


def test_a_zip_member_declared_over_the_cap_is_refused_before_unpacking(server, cache):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ReactomePathways.gmt", "P1\t\t" + "A\t" * 50_000)
    url = server.serve("/r.zip", buffer.getvalue())
    with pytest.raises(DataError, match=r"unpacks to 100,004 bytes, over the cap of 10,000 bytes"):
        load_gene_sets("reactome", version="1", url=url, allow_insecure=True, max_gmt_bytes=10_000)
    assert files(cache) == []


@pytest.mark.parametrize("cap", [0, -5, 1.5, True])
def test_a_cap_that_is_not_a_positive_byte_count_is_refused(server, cap):
    url = server.serve("/h.gmt", GMT.encode())
    with pytest.raises(ConfigError, match=rf"max_gmt_bytes must be a positive .* not {cap!r}"):
        load_gene_sets("kegg", version="1", url=url, allow_insecure=True, max_gmt_bytes=cap)


# ---------------------------------------------------------------------------- cached files
def test_a_cached_file_that_changed_is_refused_until_downloaded_again(server, cache):
    url = server.serve("/h.gmt", GMT.encode())
    load_gene_sets("go_bp", version="1", url=url, allow_insecure=True)
    cached = cache / "go_bp_1.gmt"
    digest = hashlib.sha256(GMT.encode()).hexdigest()
    assert (cache / "go_bp_1.gmt.sha256").read_text() == f"{digest}  go_bp_1.gmt\n"
    cached.write_text(GMT.replace("MAPT", "TP53"))  # edited, or damaged on disk
    with pytest.raises(DataError) as err:
        load_gene_sets("go_bp", version="1")
    message = str(err.value)
    assert f"the cached file {cached} has SHA-256" in message and f"but {digest} was" in message
    assert "load_gene_sets('go_bp', refresh=True) to download it again" in message
    assert server.hits("/h.gmt") == 1
    fixed = load_gene_sets("go_bp", version="1", url=url, allow_insecure=True, refresh=True)
    assert fixed["P1"] == ("APP", "APOE", "MAPT") and load_gene_sets("go_bp", version="1")


def test_a_file_placed_in_the_cache_by_hand_is_trusted_on_first_read_then_checked(cache):
    cache.mkdir(parents=True)
    placed = cache / "kegg_2024.1.gmt"
    placed.write_text(GMT)
    assert load_gene_sets("kegg").names == ["P1", "P2"]  # no network: found in the cache
    assert (cache / "kegg_2024.1.gmt.sha256").is_file()
    placed.write_text(GMT + "P3\t\tTREM2\n")
    with pytest.raises(DataError, match=rf"the cached file {placed} has SHA-256 .* changed since"):
        load_gene_sets("kegg")


def test_a_damaged_checksum_record_is_refused_naming_it(cache):
    cache.mkdir(parents=True)
    (cache / "kegg_2024.1.gmt").write_text(GMT)
    (cache / "kegg_2024.1.gmt.sha256").write_text("not a digest\n")
    with pytest.raises(DataError, match=r"checksum file .*kegg_2024\.1\.gmt\.sha256 .* does not"):
        load_gene_sets("kegg")


def test_a_pinned_version_must_match_its_pin_in_the_cache_and_the_data_root(cache, tmp_path):
    cache.mkdir(parents=True)
    (cache / "hallmark_2024.1.gmt").write_text(GMT)  # placed by hand, not the published file
    with pytest.raises(DataError) as err:
        load_gene_sets("hallmark")
    message = str(err.value)
    assert str(cache / "hallmark_2024.1.gmt") in message and f"pins {HALLMARK_PIN}" in message
    assert "refresh=True" in message
    root = tmp_path / "data" / "genesets"
    root.mkdir(parents=True)
    (root / "h.all.v2024.1.Hs.symbols.gmt").write_text(GMT)
    with pytest.raises(DataError, match=r"h\.all\.v2024\.1\.Hs\.symbols\.gmt has SHA-256 .* pins"):
        load_gene_sets("hallmark")
    assert not (root / "h.all.v2024.1.Hs.symbols.gmt.sha256").exists()  # data root: no record


def test_the_sources_table_says_which_defaults_are_pinned():
    checksum = gene_set_sources().set_index("name")["checksum"]
    assert checksum["hallmark"] == "pinned"
    assert checksum["reactome"] == checksum["go_bp"] == checksum["kegg"] == "trust on first use"
