"""The weights registry and its download: served from a local HTTP server, never the internet.

The server (127.0.0.1, port 0, a thread per request) plays every way a mirror goes wrong: a wrong
file, a body cut short, an HTML quota page, a 404, a silent server; "no server at all" is a port
that nobody listens on. Each failure must leave the cache folder exactly as it was.
"""
import contextlib
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import helpers.worlds.ffhq.catalogue  # noqa: F401  (registers the paper's weights)
from helpers import weights
from helpers.weights import WeightSpec, WeightsError

GOOD = bytes(range(256)) * 64 + b"micromotion"          # 16 KiB + a tail: several reads
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
OTHER = b"not the file you are looking for" * 100
HTML = b"<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def do_GET(self):
        self.hits.append(self.path)
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        kind, body = route
        if kind == "slow":
            time.sleep(1.0)
        self.send_response(200)
        ctype = "text/html; charset=utf-8" if kind == "html" else "application/octet-stream"
        self.send_header("Content-Type", ctype)
        # "truncated" announces more than it sends, then the connection closes (HTTP/1.0)
        self.send_header("Content-Length", str(len(body) + (1000 if kind == "truncated" else 0)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """Base URL of a local server with a request log; shut down after the test."""
    handler = type("Handler", (_Handler,), {
        "routes": {
            "/good.bin": ("file", GOOD),
            "/other.bin": ("file", OTHER),
            "/truncated.bin": ("truncated", GOOD[:5000]),
            "/page.html": ("html", HTML),
            "/sniffed.bin": ("file", b"\n  " + HTML),       # HTML served as octet-stream
            "/slow.bin": ("slow", GOOD),
        },
        "hits": [],
    })
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield type("Server", (), {"url": base, "hits": handler.hits})
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def dead_url():
    """A URL on a port that nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/good.bin"


def spec(*urls, sha256=GOOD_SHA, size=len(GOOD), filename="toy.pt", name="toy"):
    return WeightSpec(name=name, urls=urls, sha256=sha256, size=size, format="test",
                      licence="none", description="a toy file", filename=filename)


@contextlib.contextmanager
def weights_registered(s):
    """``s`` in the registry for the duration (``info`` lists registered files only)."""
    weights._REGISTRY[s.name] = s
    try:
        yield
    finally:
        del weights._REGISTRY[s.name]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def fetch(s, cache, **kw):
    return weights.fetch(s, cache=cache, progress=False, **kw)


# --- success and the cache ----------------------------------------------------------------------

def test_good_file_is_downloaded_verified_and_alone(server, tmp_path):
    path = fetch(spec(f"{server.url}/good.bin"), tmp_path)
    assert path == tmp_path / "toy.pt"
    assert path.read_bytes() == GOOD
    # the file and its verification stamp; no temporary file
    assert listing(tmp_path) == [".toy.pt.verified.json", "toy.pt"]


def test_second_fetch_makes_no_request(server, tmp_path):
    s = spec(f"{server.url}/good.bin")
    fetch(s, tmp_path)
    assert len(server.hits) == 1
    assert fetch(s, tmp_path).read_bytes() == GOOD
    assert len(server.hits) == 1
    assert weights.cached_path(s, cache=tmp_path) == tmp_path / "toy.pt"


def test_file_placed_by_hand_is_used_without_a_request(server, tmp_path):
    (tmp_path / "toy.pt").write_bytes(GOOD)
    assert fetch(spec(f"{server.url}/good.bin"), tmp_path).read_bytes() == GOOD
    assert server.hits == []


def test_corrupted_cached_file_is_downloaded_again(server, tmp_path):
    s = spec(f"{server.url}/good.bin")
    path = fetch(s, tmp_path)
    path.write_bytes(GOOD[:-1] + b"X")          # same size, one byte changed
    assert weights.cached_path(s, cache=tmp_path) is None
    assert fetch(s, tmp_path).read_bytes() == GOOD
    assert len(server.hits) == 2


def test_corruption_that_keeps_size_and_mtime_is_never_verified(server, tmp_path):
    """The stamp beside a file is a record, not a shortcut: a changed byte with the size and
    modification time put back is still caught (by ``cached_path``, ``info`` and ``fetch``)."""
    s = spec(f"{server.url}/good.bin")
    path = fetch(s, tmp_path)
    before = path.stat()
    path.write_bytes(GOOD[:100] + b"Z" + GOOD[101:])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert weights.cached_path(s, cache=tmp_path) is None
    with weights_registered(s):
        assert [r["cached"] for r in weights.info(cache=tmp_path) if r["name"] == "toy"] == [False]
    assert fetch(s, tmp_path).read_bytes() == GOOD            # downloaded again, not trusted
    assert len(server.hits) == 2


def test_offline_with_an_empty_cache_says_so_first(dead_url, tmp_path):
    with pytest.raises(WeightsError) as err:
        fetch(spec(dead_url), tmp_path)
    first = str(err.value).splitlines()[0]
    assert first.startswith("no network connection (no download mirror could be reached) and no "
                            f"cached copy of weights 'toy' in {tmp_path}")
    assert len(first) < 250


def test_first_url_fails_second_succeeds(server, tmp_path):
    s = spec(f"{server.url}/missing.bin", f"{server.url}/good.bin")
    assert fetch(s, tmp_path).read_bytes() == GOOD
    assert server.hits == ["/missing.bin", "/good.bin"]


def test_cache_env_var_is_honoured(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "elsewhere"))
    assert weights.cache_dir() == tmp_path / "elsewhere"
    path = weights.fetch(spec(f"{server.url}/good.bin"), progress=False)
    assert path == tmp_path / "elsewhere" / "toy.pt"
    monkeypatch.delenv("MICROMOTION_CACHE")
    assert weights.cache_dir() == Path.home() / ".cache" / "micromotion"


# --- every failure: one clear error, nothing left behind ----------------------------------------

def assert_clean_failure(s, cache, *expected_phrases, **kw):
    before = listing(cache)
    with pytest.raises(WeightsError) as info:
        fetch(s, cache, **kw)
    message = str(info.value)
    for phrase in expected_phrases:
        assert phrase in message, message
    assert listing(cache) == before, "a failed fetch left files behind"
    # no chained urllib traceback in front of the message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return message


def test_wrong_bytes_are_rejected(server, tmp_path):
    s = spec(f"{server.url}/other.bin", size=None)
    assert_clean_failure(s, tmp_path, "sha256 mismatch", hashlib.sha256(OTHER).hexdigest())


def test_truncated_body_is_rejected(server, tmp_path):
    assert_clean_failure(spec(f"{server.url}/truncated.bin", size=None), tmp_path,
                         "truncated", "5,000 of 6,000 bytes")


def test_body_shorter_than_the_registered_size_is_rejected(server, tmp_path):
    # the server is consistent with itself, but the registry knows the real size
    s = spec(f"{server.url}/good.bin", size=len(GOOD) + 10)
    assert_clean_failure(s, tmp_path, f"announces {len(GOOD):,} bytes, expected {len(GOOD) + 10:,}")


def test_html_page_is_rejected(server, tmp_path):
    # refused on its Content-Type, before the body is read
    assert_clean_failure(spec(f"{server.url}/page.html", size=None), tmp_path, "HTML page",
                         "Content-Type text/html")


def test_html_page_with_a_binary_content_type_is_rejected(server, tmp_path):
    # what a Drive quota page saved as .pt looks like: caught by its first bytes
    assert_clean_failure(spec(f"{server.url}/sniffed.bin", size=None), tmp_path, "HTML page",
                         "starts like one")


def test_404_names_model_urls_target_and_hash(server, tmp_path):
    url = f"{server.url}/missing.bin"
    message = assert_clean_failure(spec(url), tmp_path, "'toy'", url, "HTTP 404",
                                   str(tmp_path / "toy.pt"), GOOD_SHA)
    assert "Traceback" not in message


def test_no_server_at_all(dead_url, tmp_path):
    assert_clean_failure(spec(dead_url), tmp_path, dead_url, "connection refused")


def test_silent_server_times_out(server, tmp_path):
    t0 = time.monotonic()
    assert_clean_failure(spec(f"{server.url}/slow.bin"), tmp_path, "timed out", timeout=0.2)
    assert time.monotonic() - t0 < 0.9


def test_every_mirror_is_reported(server, dead_url, tmp_path):
    s = spec(f"{server.url}/missing.bin", dead_url, f"{server.url}/page.html")
    message = assert_clean_failure(s, tmp_path, "HTTP 404", "connection refused", "HTML page")
    assert message.index("HTTP 404") < message.index("connection refused") < message.index("HTML")


def test_failed_refresh_keeps_the_old_file_and_says_so(server, tmp_path):
    (tmp_path / "toy.pt").write_bytes(OTHER)
    message = assert_clean_failure(spec(f"{server.url}/missing.bin", size=None), tmp_path,
                                   "left in place", "HTTP 404")
    assert (tmp_path / "toy.pt").read_bytes() == OTHER
    assert message


# --- files without a published hash -------------------------------------------------------------

def test_unknown_hash_needs_consent_and_is_then_recorded(server, tmp_path):
    s = spec(f"{server.url}/good.bin", sha256=None, size=None)
    assert_clean_failure(s, tmp_path, "no published sha256", "allow_unverified=True")
    assert server.hits == []                    # refused before any request
    with pytest.warns(weights.UnverifiedWeightsWarning, match=GOOD_SHA):
        path = fetch(s, tmp_path, allow_unverified=True)
    assert path.read_bytes() == GOOD
    # accepted once: later calls need no consent and no request
    assert fetch(s, tmp_path) == path
    assert len(server.hits) == 1
    with pytest.raises(WeightsError, match="no published sha256"):
        weights.verify_file(path, s)


def test_unknown_hash_file_placed_by_hand_is_accepted_without_download(server, tmp_path):
    (tmp_path / "toy.pt").write_bytes(OTHER)
    s = spec(f"{server.url}/good.bin", sha256=None, size=None)
    assert_clean_failure(s, tmp_path, "never been accepted")
    with pytest.warns(weights.UnverifiedWeightsWarning):
        assert fetch(s, tmp_path, allow_unverified=True).read_bytes() == OTHER
    assert server.hits == []


# --- the registry -------------------------------------------------------------------------------

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(weights.UnknownWeightsError) as info:
        weights.get_spec("stylegan3-ffhq")
    message = str(info.value)
    assert "stylegan3-ffhq" in message
    for name in ("stylegan2-ffhq", "restyle-psp-ffhq", "e4e-ffhq", "arcface-ir-se50"):
        assert name in message


def test_register_refuses_silent_overwrites(tmp_path):
    s = spec("http://127.0.0.1:9/x", name="toy-registered", filename="toy-registered.pt")
    try:
        weights.register(s)
        weights.register(s)                     # identical: fine
        assert weights.get_spec("toy-registered") is s
        with pytest.raises(ValueError, match="already registered"):
            weights.register(spec("http://127.0.0.1:9/y", name="toy-registered",
                                  filename="toy-registered.pt"))
        with pytest.raises(ValueError, match="share the cache file"):
            weights.register(spec("http://127.0.0.1:9/x", name="other", filename="toy-registered.pt"))
    finally:
        weights._REGISTRY.pop("toy-registered", None)


def test_spec_validation():
    with pytest.raises(ValueError, match="64 hex"):
        spec("http://x", sha256="abc")
    with pytest.raises(ValueError, match="bare file name"):
        spec("http://x", filename="../escape.pt")


def test_paper_models_are_registered_with_hub_mirrors_first():
    expected = {"stylegan2-ffhq": "stylegan2-ffhq-config-f.pt",
                "restyle-psp-ffhq": "restyle_psp_ffhq_encode.pt",
                "e4e-ffhq": "e4e_ffhq_encode.pt",
                "arcface-ir-se50": "model_ir_se50.pth"}
    for name, filename in expected.items():
        s = weights.get_spec(name)
        assert s.filename == filename
        assert s.urls and all(u.startswith("https://") for u in s.urls)
        if s.sha256 is not None:
            assert s.size and s.urls[0].startswith("https://huggingface.co/")
    # CLIP too, since clip.load (its own download) needs pkg_resources: OpenAI's digest, one URL
    clip = weights.get_spec("clip-vit-b32")
    assert clip.urls[0].startswith("https://openaipublic.azureedge.net/") and clip.sha256 in clip.urls[0]


def test_info_reports_cache_state(tmp_path):
    (tmp_path / "model_ir_se50.pth").write_bytes(b"placeholder")   # wrong size: not cached
    rows = {r["name"]: r for r in weights.info(cache=tmp_path)}
    assert rows["arcface-ir-se50"]["cached"] is False
    assert rows["arcface-ir-se50"]["path"] == str(tmp_path / "model_ir_se50.pth")
    assert rows["e4e-ffhq"]["size"] == 1_201_649_680


def test_import_is_cheap():
    code = "import sys, helpers.weights; print('torch' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["False", "False"]


# --- your own files, a cache on Drive -------------------------------------------------------------

def test_a_users_own_file_is_used_where_it_is_with_its_hash_recorded(tmp_path, monkeypatch):
    mine = tmp_path / "self-converted.pt"
    mine.write_bytes(OTHER)
    s = spec("http://127.0.0.1:9/never-asked.bin")
    with weights_registered(s):
        monkeypatch.setenv(weights.FILES_ENV, f"toy={mine}")
        with pytest.warns(weights.UnverifiedWeightsWarning, match=hashlib.sha256(OTHER).hexdigest()):
            assert fetch(s, tmp_path / "cache") == mine
        assert listing(tmp_path / "cache") == []                 # nothing copied, nothing fetched
        mine.write_bytes(GOOD)                                   # the registered file: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert fetch(s, tmp_path / "cache") == mine
        monkeypatch.setenv(weights.FILES_ENV, f"toy={tmp_path / 'absent.pt'}")
        with pytest.raises(weights.WeightsError, match="no such file"):
            fetch(s, tmp_path / "cache")
        monkeypatch.setenv(weights.FILES_ENV, "toy")
        with pytest.raises(weights.WeightsError, match="name=path"):
            fetch(s, tmp_path / "cache")
        monkeypatch.setenv(weights.FILES_ENV, f"nosuchmodel={mine}")
        with pytest.raises(weights.UnknownWeightsError):
            fetch(s, tmp_path / "cache")


def test_the_hand_placement_message_lists_every_mirror_and_the_own_file_option(dead_url, tmp_path):
    s = spec(dead_url, dead_url.replace("good", "other"))
    with pytest.raises(weights.WeightsError) as err:
        fetch(s, tmp_path)
    text = str(err.value)
    assert dead_url in text and dead_url.replace("good", "other") in text
    assert weights.FILES_ENV in text


def test_the_drive_cache_is_for_colab_only():
    with pytest.raises(weights.WeightsError, match="Colab only"):
        weights.colab_drive_cache()
