"""The command line: every bad input gets one clear line, exit code 2, and nothing half-written.

``test_bad_input`` runs one case per row of ``BAD_INPUTS`` (the issue's list and more); each asserts
the message, exit code 2, a single stderr line without a traceback, and that no file appeared
anywhere under the test's folder (outputs, the weights cache, temporary ``.part`` files). The
weights cases use the ffhq world against a local HTTP server or a closed local port: no test here
touches the network.
"""
import dataclasses
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import helpers.worlds.ffhq.catalogue  # noqa: F401  (registers the paper's weights)
from helpers import cli, weights

ROOT = Path(__file__).resolve().parents[1]
HTML = b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head></html>"


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    from helpers.worlds.synthfaces import renderer
    from helpers import media
    img = renderer.render(renderer.sample_factors(1, seed=4, neutral=True), seeds=0)
    path = tmp_path_factory.mktemp("in") / "face.png"
    Image.fromarray(media.to_uint8(img)[0]).save(path)
    return path


@pytest.fixture(scope="module")
def direction_file(tmp_path_factory):
    from helpers import worlds
    from helpers.directions import save_direction
    world = worlds.load("synthfaces", device="cpu")
    path = tmp_path_factory.mktemp("dir") / "random.pt"
    save_direction(path, torch.randn(world.num_ws, world.style_dim) * 0.3, world, source="test")
    return path


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


def files_in(folder):
    return sorted(p.name for p in Path(folder).rglob("*")) if Path(folder).exists() else []


def files_under(root):
    """Every file under ``root`` with its size, and every folder: what a failed command must not
    change (no output, no empty output folder left behind)."""
    return {str(p.relative_to(root)): p.stat().st_size if p.is_file() else "folder"
            for p in Path(root).rglob("*")}


def png_of_zeros(path, width, height):
    """A valid 1-bit grey PNG of any size, written row by row: a 20000 × 20000 px file costs 50 kB."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    comp = zlib.compressobj(9)
    row = b"\x00" + bytes((width + 7) // 8)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                           + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _direction(tmp, payload):
    path = tmp / "d.pt"
    torch.save(payload, path)
    return path


def _frames(folder, n):
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (64, 64), (i * 100, 0, 0)).save(folder / f"f{i}.png")
    return folder


# --------------------------------------------------------------------------- the cases
# Each builder gets (tmp, inputs) and returns (argv, the text the message must hold); outputs go to
# tmp / "out". ``inputs`` has the face, a valid direction file and, for weights cases, the server.

def _edit(image, inputs, tmp, *extra):
    return ["edit", image, "--direction", inputs["direction"], "--out", tmp / "out", "--steps", 2, *extra]


def _smile_ffhq(inputs, tmp):
    return ["edit", inputs["face"], "--micromotion", "smile", "--world", "ffhq", "--device", "cpu",
            "--out", tmp / "out"]


def case_image_missing(tmp, inputs):
    return _edit(tmp / "nope.png", inputs, tmp), "no such image"


def case_not_an_image(tmp, inputs):
    (tmp / "text.png").write_text("hello, I am not a picture")
    return _edit(tmp / "text.png", inputs, tmp), "text.png is not an image file"


def case_empty_file(tmp, inputs):
    (tmp / "empty.jpg").write_bytes(b"")
    return _edit(tmp / "empty.jpg", inputs, tmp), "empty.jpg: the file is empty"


def _jpeg_bytes():
    import io
    buf = io.BytesIO()
    Image.fromarray((np.random.RandomState(0).rand(128, 128, 3) * 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def case_truncated_jpeg(tmp, inputs):
    data = _jpeg_bytes()
    (tmp / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return _edit(tmp / "truncated.jpg", inputs, tmp), "truncated.jpg is truncated"


def case_corrupt_jpeg(tmp, inputs):
    data = _jpeg_bytes()            # the JFIF header survives, the tables and scan are noise
    (tmp / "corrupt.jpg").write_bytes(data[:600] + np.random.RandomState(1).bytes(len(data) - 600))
    return _edit(tmp / "corrupt.jpg", inputs, tmp), "corrupt.jpg"


def case_image_16px(tmp, inputs):
    Image.new("RGB", (16, 16)).save(tmp / "tiny.png")
    return _edit(tmp / "tiny.png", inputs, tmp), "only 16×16 px"


def case_image_20000px(tmp, inputs):
    png_of_zeros(tmp / "huge.png", 20000, 20000)
    return _edit(tmp / "huge.png", inputs, tmp), "huge.png is too large to decode safely"


def case_folder_without_images(tmp, inputs):
    (tmp / "no_images").mkdir()
    (tmp / "no_images" / "readme.txt").write_text("x")
    return _edit(tmp / "no_images", inputs, tmp), "holds no images"


def case_direction_missing(tmp, inputs):
    argv = ["edit", inputs["face"], "--direction", tmp / "missing.pt", "--out", tmp / "out"]
    return argv, "no such direction file"


def _edit_with(direction, inputs, tmp):
    return ["edit", inputs["face"], "--direction", direction, "--out", tmp / "out"]


def case_direction_html_page(tmp, inputs):
    (tmp / "d.pt").write_bytes(HTML)
    return _edit_with(tmp / "d.pt", inputs, tmp), "d.pt is not a direction file"


def case_direction_no_entry(tmp, inputs):
    return _edit_with(_direction(tmp, {"weights": torch.zeros(3)}), inputs, tmp), "no 'direction' entry"


def case_direction_other_world(tmp, inputs):
    d = _direction(tmp, {"direction": torch.zeros(18, 512), "meta": json.dumps({"world": "ffhq"})})
    return _edit_with(d, inputs, tmp), "made in the 'ffhq' world"


def case_direction_wrong_shape(tmp, inputs):
    d = _direction(tmp, {"direction": torch.zeros(18, 512), "meta": "{}"})
    return _edit_with(d, inputs, tmp), "shape (18, 512)"


def case_direction_nan(tmp, inputs):
    d = _direction(tmp, {"direction": torch.full((10, 128), float("nan")), "meta": "{}"})
    return _edit_with(d, inputs, tmp), "NaN"


def case_edit_output_unwritable(tmp, inputs):
    (tmp / "a_file").write_text("x")
    argv = ["edit", inputs["face"], "--direction", inputs["direction"], "--out", tmp / "a_file" / "sub"]
    return argv, "cannot write to"


def case_edit_one_frame(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--frames", 1), "--frames must be at least 2"


def case_layers_unknown_group(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--layers", "middle,mouth"), "'mouth' is neither a group"


def case_layers_outside_the_world(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--layers", "8-17"), "outside this world's W+ entries 0-9"


def case_layers_reversed_range(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--layers", "3-1"), "empty range"


def case_unknown_world(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--world", "celeba"), "unknown world 'celeba'"


def case_unknown_micromotion(tmp, inputs):
    argv = ["edit", inputs["face"], "--micromotion", "frown", "--out", tmp / "out"]
    return argv, "unknown micromotion 'frown'; known: smile, anger, eye_closure, age, yaw"


def case_edit_direction_and_micromotion(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--micromotion", "smile"), "give exactly one of --direction"


def case_edit_no_direction(tmp, inputs):
    return ["edit", inputs["face"], "--out", tmp / "out"], "give exactly one of --direction"


def _text(tmp, template, *extra):
    return ["direction", "--template", template, "--out", tmp / "out" / "d.pt", "--steps", 2, *extra]


def case_template_without_braces(tmp, inputs):
    return _text(tmp, "A person with a smile"), "unknown prompt template 'A person with a smile'"


def case_template_two_braces(tmp, inputs):
    return _text(tmp, "A {} person with {} smile"), "exactly one '{}'"


def case_empty_prompt_list(tmp, inputs):
    return _text(tmp, "smile", "--degrees", ""), "the degree list is empty"


def case_one_anchor_only(tmp, inputs):
    return _text(tmp, "smile", "--degrees", "no"), "one anchor only"


def case_rank_too_big_for_template(tmp, inputs):
    return _text(tmp, "smile", "--degrees", "no,big", "--rank", 3), "--rank 3 does not fit 3 anchors"


def case_zero_identities(tmp, inputs):
    return _text(tmp, "smile", "--identities", 0), "--identities must be at least 1"


def case_direction_needs_a_source(tmp, inputs):
    return ["direction", "--out", tmp / "out" / "d.pt"], "give exactly one of --template"


def case_direction_two_sources(tmp, inputs):
    clip = _frames(tmp / "clip", 3)
    return _text(tmp, "smile", "--frames", clip), "give exactly one of --template"


def case_direction_out_not_pt(tmp, inputs):
    return ["direction", "--template", "smile", "--out", tmp / "out" / "d.txt"], "must end in .pt"


def case_direction_output_unwritable(tmp, inputs):
    (tmp / "a_file").write_text("x")
    return ["direction", "--template", "smile", "--out", tmp / "a_file" / "d.pt"], "cannot write to"


def case_clip_missing(tmp, inputs):
    return ["direction", "--frames", tmp / "nope", "--out", tmp / "out" / "d.pt"], "no such video file or folder"


def case_clip_of_one_frame(tmp, inputs):
    clip = _frames(tmp / "one", 1)
    return ["direction", "--frames", clip, "--out", tmp / "out" / "d.pt"], "at least 2 frames"


def case_rank_too_big_for_clip(tmp, inputs):
    clip = _frames(tmp / "two", 2)
    argv = ["direction", "--frames", clip, "--out", tmp / "out" / "d.pt", "--rank", 3]
    return argv, "--rank 3 does not fit 2 frames"


def _ffhq_generator_at(monkeypatch, *urls, **changes):
    spec = weights.get_spec("stylegan2-ffhq")
    monkeypatch.setitem(weights._REGISTRY, spec.name, dataclasses.replace(spec, urls=urls, **changes))
    return spec


def case_weights_download_is_html(tmp, inputs):
    _ffhq_generator_at(inputs["monkeypatch"], f"{inputs['server']}/page.html")
    return _smile_ffhq(inputs, tmp), "got an HTML page"


def case_weights_in_cache_is_html(tmp, inputs):
    spec = _ffhq_generator_at(inputs["monkeypatch"], inputs["dead_url"])
    (tmp / "cache" / spec.filename).write_bytes(HTML)      # a quota page saved as the checkpoint
    return _smile_ffhq(inputs, tmp), f"has {len(HTML)} bytes, expected 381,462,551; it was left in place"


def case_weights_fail_their_hash(tmp, inputs):
    _ffhq_generator_at(inputs["monkeypatch"], f"{inputs['server']}/other.bin", size=None)
    return _smile_ffhq(inputs, tmp), "sha256 mismatch"


def case_no_network_no_cache(tmp, inputs):
    _ffhq_generator_at(inputs["monkeypatch"], inputs["dead_url"])
    return _smile_ffhq(inputs, tmp), ("error: no network connection (no download mirror could be "
                                      "reached) and no cached copy of weights 'stylegan2-ffhq'")


# --- the CLI-safety issue's cases (../shared/cli-cases.md ✗ rows)

def case_edit_out_is_the_images_folder(tmp, inputs):
    (tmp / "photos").mkdir()
    shutil.copy(inputs["face"], tmp / "photos" / "face.png")
    argv = ["edit", tmp / "photos" / "face.png", "--micromotion", "smile", "--out", tmp / "photos"]
    return argv, "would replace the input image face.png"


def case_edit_folder_into_itself(tmp, inputs):
    (tmp / "photos").mkdir()
    shutil.copy(inputs["face"], tmp / "photos" / "face.png")
    argv = ["edit", tmp / "photos", "--micromotion", "smile", "--out", tmp / "photos"]
    return argv, "would replace the input image"


def case_two_images_one_output_name(tmp, inputs):
    (tmp / "photos").mkdir()
    shutil.copy(inputs["face"], tmp / "photos" / "face.png")
    Image.open(inputs["face"]).convert("RGB").save(tmp / "photos" / "face.jpg")
    argv = ["edit", tmp / "photos", "--micromotion", "smile", "--out", tmp / "out"]
    return argv, "face.jpg and face.png would both be written to"


def case_alpha_nan(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--alpha", "nan", "nan"), "--alpha nan nan is outside"


def case_alpha_infinite(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--alpha", "0", "inf"), "give two finite numbers"


def case_alpha_far_too_large(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--alpha", "0", "1e30"), "between -20 and 20"


def case_alpha_negative_number_is_a_value(tmp, inputs):
    # argparse once read "-1e3" as an option ("expected 2 arguments"); it is a value, out of range
    return _edit(inputs["face"], inputs, tmp, "--alpha", "-1e3", "0"), "--alpha -1000 0 is outside"


def case_frames_beyond_memory(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--frames", 10 ** 9), "GB of memory"


def case_device_unknown(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--device", "foo"), "unknown device 'foo'"


def case_device_mps_not_here(tmp, inputs):
    if torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    return _edit(inputs["face"], inputs, tmp, "--device", "mps"), "device 'mps' asked for"


def case_direction_device_unknown(tmp, inputs):
    return _text(tmp, "smile", "--device", "tpu:7"), "unknown device 'tpu:7'"


def case_direction_metadata_a_list(tmp, inputs):
    d = _direction(tmp, {"direction": torch.zeros(10, 128), "meta": "[]"})
    return _edit_with(d, inputs, tmp), "its metadata is a JSON list, not a JSON object"


def case_direction_metadata_null(tmp, inputs):
    d = _direction(tmp, {"direction": torch.zeros(10, 128), "meta": "null"})
    return _edit_with(d, inputs, tmp), "its metadata is null, not a JSON object"


def case_direction_metadata_world_not_text(tmp, inputs):
    d = _direction(tmp, {"direction": torch.zeros(10, 128), "meta": json.dumps({"world": ["ffhq"]})})
    return _edit_with(d, inputs, tmp), "'world' should be text"


def case_layers_superscript_digit(tmp, inputs):
    return _edit(inputs["face"], inputs, tmp, "--layers", "²"), "'²' is neither a group"


def case_cache_is_a_file(tmp, inputs):
    (tmp / "cache_file").write_text("x")
    inputs["monkeypatch"].setenv(weights.CACHE_ENV, str(tmp / "cache_file"))
    return _text(tmp, "smile"), "is a file, not a folder"


def case_cache_under_a_file(tmp, inputs):
    (tmp / "cache_file").write_text("x")
    inputs["monkeypatch"].setenv(weights.CACHE_ENV, str(tmp / "cache_file" / "sub"))
    return _edit(inputs["face"], inputs, tmp), "is a file, not a folder"


def case_escape_codes_in_a_file_name(tmp, inputs):
    return _edit(tmp / "\x1b[2Jevil\x07.png", inputs, tmp), "\\x1b[2jevil\\x07.png: no such image"


def case_align_finds_no_face(tmp, inputs):
    from helpers import alignment
    inputs["monkeypatch"].setattr(alignment, "detect_faces", lambda *args, **kw: [])
    # the library's advice ends "or pass landmarks=." (a Python argument); the command's does not
    return _edit(inputs["face"], inputs, tmp, "--align"), "crop or enlarge the photo."


def case_failed_edit_leaves_no_output_folder(tmp, inputs):
    (tmp / "text.png").write_text("not a picture")      # fails after --out was made and probed
    return _edit(tmp / "text.png", inputs, tmp / "deep" / "er"), "not an image file"


BAD_INPUTS = {name[len("case_"):]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


class _Mirror(http.server.BaseHTTPRequestHandler):
    """A weights mirror gone wrong: a quota page, or the wrong file."""

    def do_GET(self):
        kind, body = {"/page.html": ("text/html", HTML),
                      "/other.bin": ("application/octet-stream", b"not the generator" * 64)}.get(
            self.path, (None, b""))
        if kind is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mirror():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def local_network_only(monkeypatch):
    """Every URL the command opens, refused unless it is on 127.0.0.1."""
    opened = []
    real = urllib.request.urlopen

    def urlopen(request, *args, **kw):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        opened.append(url)
        if not url.startswith("http://127.0.0.1:"):
            raise urllib.error.URLError(ConnectionRefusedError("the tests have no network"))
        return real(request, *args, **kw)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return opened


# cli-cases.md (the hostile-user list) rows each case answers, where it has one
CASE_ROWS = {
    "not_an_image": "1", "truncated_jpeg": "2", "corrupt_jpeg": "2", "empty_file": "4", "image_16px": "5",
    "image_20000px": "6", "folder_without_images": "8", "image_missing": "11",
    "edit_output_unwritable": "12", "direction_output_unwritable": "12",
    "alpha_nan": "13", "alpha_infinite": "13", "alpha_far_too_large": "13",
    "alpha_negative_number_is_a_value": "14", "edit_one_frame": "15", "frames_beyond_memory": "16",
    "unknown_micromotion": "17", "unknown_world": "17", "device_unknown": "18",
    "device_mps_not_here": "18", "direction_device_unknown": "18", "direction_wrong_shape": "19",
    "direction_other_world": "19", "direction_metadata_a_list": "22", "direction_metadata_null": "22",
    "direction_metadata_world_not_text": "22", "weights_in_cache_is_html": "24",
    "weights_fail_their_hash": "24", "template_without_braces": "27", "zero_identities": "27",
    "clip_missing": "28", "edit_out_is_the_images_folder": "29", "edit_folder_into_itself": "29",
    "two_images_one_output_name": "30", "layers_superscript_digit": "32", "cache_is_a_file": "34",
    "cache_under_a_file": "34", "escape_codes_in_a_file_name": "35", "no_network_no_cache": "40",
    "failed_edit_leaves_no_output_folder": "41", "align_finds_no_face": "9",
}
TABLE = ROOT / "tests" / "bad_inputs.md"


def bad_input_table() -> str:
    """The bad-input suite as a Markdown table: each case's command line (paths shortened) and
    the text its one error line must hold. ``tests/bad_inputs.md`` is this, regenerated with
    ``PYTHONPATH=tests .venv/bin/python -c "import test_cli; print(test_cli.bad_input_table(), end='')" > tests/bad_inputs.md``."""
    import tempfile
    lines = ["# `micromotion` under bad input: every case the tests run", "",
             "Each row is one case of `tests/test_cli.py::test_bad_input`. Every one must end with exit",
             "code 2, one line on stderr that starts `micromotion COMMAND: error:` and holds the text",
             "shown, no traceback, no raw terminal escape, and nothing new under the test's folder (no",
             "output, no empty output folder, no cache file, no `.part`). *Row* is the case's row in",
             "the hostile-user list (`shared/cli-cases.md`). Made by `bad_input_table()` in that file;",
             "a test checks this page is current.", "",
             "| case | row | command | the error line holds |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        for name in sorted(BAD_INPUTS):
            tmp = Path(folder) / name
            (tmp / "cache").mkdir(parents=True)
            face = tmp / "face.png"
            Image.new("RGB", (64, 64)).save(face)
            monkeypatch = pytest.MonkeyPatch()
            inputs = {"face": face, "direction": Path("random.pt"), "server": "http://127.0.0.1:PORT",
                      "dead_url": "http://127.0.0.1:CLOSED/stylegan2-ffhq-config-f.pt", "monkeypatch": monkeypatch}
            monkeypatch.setenv(weights.CACHE_ENV, "cache")
            try:
                argv, message = BAD_INPUTS[name](tmp, inputs)
                cache = os.environ[weights.CACHE_ENV].replace(str(tmp) + "/", "")
            except pytest.skip.Exception:
                argv, message, cache = ["(skipped on this machine)"], "", "cache"
            finally:
                monkeypatch.undo()
            env = "" if cache == "cache" else f"{weights.CACHE_ENV}={cache} "
            command = env + "micromotion " + " ".join(cli.shown(str(a).replace(str(tmp) + "/", "")) for a in argv)
            cell = message.replace("|", "\\|")
            lines.append(f"| {name} | {CASE_ROWS.get(name, '')} | `{command}` | {cell} |")
    return "\n".join(lines) + "\n"


def test_the_bad_input_table_is_current():
    assert set(CASE_ROWS) <= set(BAD_INPUTS)
    assert TABLE.read_text() == bad_input_table(), f"regenerate {TABLE.name}: see bad_input_table()"


def test_there_are_at_least_20_bad_input_cases():
    assert len(BAD_INPUTS) >= 20


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input(case, tmp_path, capsys, monkeypatch, face_png, direction_file, mirror, local_network_only):
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    with socket.socket() as s:              # a port nobody listens on: no network
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/stylegan2-ffhq-config-f.pt"
    inputs = {"face": face_png, "direction": direction_file, "server": mirror, "dead_url": dead_url,
              "monkeypatch": monkeypatch}
    argv, message = BAD_INPUTS[case](tmp_path, inputs)
    before = files_under(tmp_path)
    rc, err = run(argv, capsys)
    assert rc == 2, err
    line = err.split("\r")[-1]              # a download's progress bar erases itself with \r
    assert err.count("\n") == 1 and line.startswith(f"micromotion {argv[0]}: error: "), err
    assert "Traceback" not in err and "\x1b" not in err   # no terminal escape printed raw
    assert message.lower() in line.lower(), line
    assert files_under(tmp_path) == before  # no output, no cache file, no .part left behind
    assert all(url.startswith("http://127.0.0.1:") for url in local_network_only)


def test_micromotion_names_match_the_templates():
    from helpers.worlds.synthfaces.captions import TEMPLATES
    assert cli.MICROMOTIONS == tuple(TEMPLATES)


def test_help_explains_every_command(capsys):
    for argv in (["--help"], ["edit", "--help"], ["direction", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in ("--micromotion", "--template", "--degrees", "--identities", "--align", "averaged",
                 "micromotion edit face.png --micromotion smile --out edits/"):
        assert text in out


def test_a_20000_px_wide_image_is_downscaled_and_edited(tmp_path, capsys, direction_file):
    wide = np.tile(np.linspace(0, 255, 20000, dtype=np.uint8), (400, 1))     # 8 MB of grey
    Image.fromarray(wide, "L").save(tmp_path / "wide.png")
    out = tmp_path / "out"
    rc = cli.main([str(a) for a in ["edit", tmp_path / "wide.png", "--direction", direction_file, "--out", out,
                                    "--steps", 1, "--frames", 2, "--format", "png"]])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "wide.png: downscaled from 20000×400 to 1024×20 px" in captured.out
    assert files_in(out) == ["wide.png"]


def test_direction_then_edit_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    from helpers import media
    from helpers.worlds.synthfaces import renderer
    frames, _ = renderer.sweep(renderer.sample_factors(1, seed=8, neutral=True), "smile", 5)
    clip = tmp_path / "clip"
    clip.mkdir()
    for i, f in enumerate(media.to_uint8(frames)):
        Image.fromarray(f).save(clip / f"{i:02d}.png")
    d = tmp_path / "smile.pt"
    rc, _ = run(["direction", "--frames", clip, "--out", d, "--steps", 5], capsys)
    assert rc == 0 and d.exists()
    meta = json.loads(d.with_suffix(".json").read_text())
    assert meta["world"] == "synthfaces" and meta["n_frames"] == 5 and meta["rank"] == 4
    out = tmp_path / "edits"
    rc, _ = run(["edit", clip / "00.png", "--direction", d, "--out", out, "--steps", 5, "--frames", 4], capsys)
    assert rc == 0
    assert files_in(out) == ["00.gif", "00.mp4", "00.png"]
    assert Image.open(out / "00.png").size[0] > 4 * 64


def test_direction_from_a_template_records_how_it_was_made(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    from helpers import worlds
    from helpers.anchors import text_anchors
    from helpers.decomposition import direction_from_anchors
    d = tmp_path / "out" / "smile.pt"
    rc, err = run(["direction", "--template", "A person with {} smile", "--degrees", "no, slight,big",
                   "--identities", 2, "--seed", 3, "--steps", 2, "--out", d], capsys)
    assert rc == 0, err
    meta = json.loads(d.with_suffix(".json").read_text())
    assert meta["world"] == "synthfaces" and meta["source"] == "text"
    assert meta["template"] == "A person with {} smile" and meta["micromotion"] == "smile"
    assert meta["degrees"] == ["no", "slight", "big"] and meta["last_anchor"] == "big"
    assert (meta["identities"], meta["seed"], meta["steps"], meta["rank"]) == (2, 3, 2, 3)
    assert meta["rule"] == "last_minus_first" and meta["combine"] == "mean of per-identity directions"
    assert meta["versions"]["helpers"] and meta["versions"]["torch"] == torch.__version__
    world = worlds.load("synthfaces", device="cpu")
    assert meta["generator_sha256"] == world.info["weights_sha256"]
    assert files_in(d.parent) == ["smile.json", "smile.pt"]
    # each identity decomposed alone, directions averaged (the anchors come from the cache)
    anchors = text_anchors(world, world.sample_wplus(2, seed=3), "A person with {} smile",
                           degrees=("no", "slight", "big"), steps=2, progress=False)
    expected = torch.stack([direction_from_anchors(a, rank=3, last=-1) for a in anchors]).mean(0)
    saved = torch.load(d, weights_only=True)
    torch.testing.assert_close(saved["direction"], expected)


def test_edit_with_a_built_in_micromotion_uses_the_shipped_direction(tmp_path, capsys, monkeypatch, face_png):
    from helpers import anchors
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))

    def no_anchors(*args, **kw):
        raise AssertionError("the built-in synthfaces direction ships: nothing is optimised for it")

    monkeypatch.setattr(anchors, "optimise_prompts", no_anchors)
    monkeypatch.setattr(anchors, "rendered_clip_anchors", no_anchors)
    rc = cli.main(["edit", str(face_png), "--micromotion", "smile", "--out", str(tmp_path / "out"),
                   "--steps", "1", "--frames", "3"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert files_in(tmp_path / "out") == ["face.gif", "face.mp4", "face.png"]
    assert "rendered clips of 8 held-out faces" in out and "data/synthfaces_directions.pt" in out


def test_worlds_and_info_say_what_is_there_without_importing_torch(tmp_path):
    env = {**os.environ, "MICROMOTION_CACHE": str(tmp_path)}
    code = ("import sys; from helpers import cli; rc = cli.main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    worlds = subprocess.run([sys.executable, "-c", code, "worlds"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert worlds.returncode == 0, worlds.stderr
    assert worlds.stdout.split()[0] == "synthfaces" and "ffhq" in worlds.stdout
    info = subprocess.run([sys.executable, "-c", code, "info"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert f"cache: {tmp_path}" in info.stdout and "stylegan2-ffhq" in info.stdout and "not cached" in info.stdout
    assert "anchors: 0 cached result(s)" in info.stdout
    for name in ("synthfaces_g.pt", "synthfaces_encoder.pt", "synthfaces_directions.pt"):
        assert any(line.split()[:1] == [name] and line.endswith("ok") for line in info.stdout.splitlines()), info.stdout


def test_module_entry_point_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers", "edit", str(tmp_path / "x.png"), "--direction",
                           str(tmp_path / "d.pt"), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("micromotion edit: error:")


def test_info_names_missing_and_tampered_weights_and_counts_anchors(tmp_path, capsys, monkeypatch):
    """`micromotion info` on a damaged data folder: each shipped file ok, missing, or failing its
    hash check; cached anchors counted."""
    from helpers import shipped
    cache = tmp_path / "cache"
    (cache / "anchors" / "text").mkdir(parents=True)
    (cache / "anchors" / "text" / "a.pt").write_bytes(b"x" * 2048)
    monkeypatch.setenv("MICROMOTION_CACHE", str(cache))
    fake = tmp_path / "data"
    fake.mkdir()
    shutil.copy(shipped.MANIFEST, fake / "MANIFEST.json")
    shutil.copy(shipped.DATA / "synthfaces_meter.pt", fake / "synthfaces_meter.pt")
    shutil.copy(shipped.DATA / "synthfaces_directions.pt", fake / "synthfaces_directions.pt")
    with open(fake / "synthfaces_directions.pt", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    monkeypatch.setattr(shipped, "DATA", fake)
    monkeypatch.setattr(shipped, "MANIFEST", fake / "MANIFEST.json")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {cache}" in out and "anchors: 1 cached result(s)" in out
    state = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:] if line.startswith("  synthfaces_")}
    assert state["synthfaces_meter.pt"] == "ok" and state["synthfaces_g.pt"] == "missing"
    assert "synthfaces_directions.pt" in out and "FAILS its hash check" in out
    registered = [row["name"] for row in weights.info()]
    assert registered and all(f"  {name} " in out for name in registered)
    rows = [line.split() for line in out.splitlines()]
    assert all(r[1:3] == ["not", "cached"] for r in rows if r and r[0] in registered)   # an empty cache


def test_edit_through_a_layer_group_moves_only_what_that_group_carries(tmp_path, capsys, face_png):
    """Head turn lives in the coarse layers (chapter 9): kept there it turns the head; kept on the
    fine layers it does not. Read back from the written strip with the factor meter."""
    from helpers import worlds
    from helpers.worlds.synthfaces.renderer import factor_index
    world = worlds.load("synthfaces", device="cpu")
    turned = {}
    for layers in ("coarse", "fine"):
        out = tmp_path / layers
        rc = cli.main(["edit", str(face_png), "--micromotion", "yaw", "--layers", layers, "--alpha", "0", "2",
                       "--frames", "2", "--steps", "0", "--format", "png", "--out", str(out)])
        printed = capsys.readouterr().out
        assert rc == 0
        strip = np.asarray(Image.open(out / "face.png"))          # two 64 px frames, 1 px padding
        frames = torch.from_numpy(np.stack([strip[1:65, 1:65], strip[1:65, 66:130]])).permute(0, 3, 1, 2)
        yaw = world.measure(frames.float() / 127.5 - 1)[:, factor_index("yaw")]
        turned[layers] = float(yaw[1] - yaw[0])
    assert "editing through W+ entries 8-9 of 0-9 only" in printed
    assert turned["coarse"] > 0.2 and abs(turned["fine"]) < 0.05, turned


# --------------------------------------------------------------------------- the CLI-safety issue
# Cases that succeed (exit 0) yet once did harm or kept silent; each of these failed before the fix.

def _edit_quick(image, out, *extra):
    return ["edit", image, "--micromotion", "smile", "--out", out, "--steps", 0, "--frames", 2, *extra]


def test_links_planted_in_the_output_folder_are_never_followed(tmp_path, capsys, face_png):
    """A link at the old probe's fixed name, and one at an output's name, both pointing outside
    --out: the files they point to are untouched, and the outputs replace the links."""
    out = tmp_path / "out"
    out.mkdir()
    victims = {name: tmp_path / name for name in ("victim.txt", "victim2.txt")}
    for victim in victims.values():
        victim.write_text("precious")
    (out / ".micromotion-write-test").symlink_to(Path("..") / "victim.txt")
    (out / "face.mp4").symlink_to(Path("..") / "victim2.txt")
    rc, err = run(_edit_quick(face_png, out), capsys)
    assert rc == 0, err
    assert all(v.read_text() == "precious" for v in victims.values())
    assert not (out / "face.mp4").is_symlink() and (out / "face.mp4").stat().st_size > 1000


def test_a_link_to_the_input_at_an_output_name_is_refused(tmp_path, capsys, face_png):
    source = tmp_path / "face.png"
    shutil.copy(face_png, source)
    out = tmp_path / "out"
    out.mkdir()
    (out / "face.png").symlink_to(source)
    before = source.read_bytes()
    rc, err = run(_edit_quick(source, out), capsys)
    assert rc == 2 and "would replace the input image" in err
    assert source.read_bytes() == before


def test_a_folder_of_gifs_is_edited_like_a_single_gif(tmp_path, capsys, face_png):
    (tmp_path / "gifs").mkdir()
    Image.open(face_png).save(tmp_path / "gifs" / "face.gif")
    rc, err = run(_edit_quick(tmp_path / "gifs", tmp_path / "out", "--format", "png"), capsys)
    assert rc == 0, err
    assert (tmp_path / "out" / "face.png").is_file()


def test_align_prints_the_aligners_notes(tmp_path, capsys, monkeypatch, face_png):
    """Two faces in a photo: the aligner keeps the largest and says so; the command passes it on."""
    from helpers import alignment
    note = "2 faces found; aligned the largest (#1, 90 px wide)"

    def two_faces(path, output_size=1024, **kw):
        info = alignment.AlignInfo(source=str(path), landmarks=np.zeros((68, 2)), quad=np.zeros((4, 2)),
                                   output_size=output_size, faces_found=2, face_index=1, notes=[note])
        return Image.open(path).convert("RGB").resize((output_size, output_size)), info

    monkeypatch.setattr(alignment, "align_face", two_faces)
    rc = cli.main([str(a) for a in _edit_quick(face_png, tmp_path / "out", "--align", "--format", "png")])
    assert rc == 0
    assert f"face.png: {note}" in capsys.readouterr().out


def test_file_names_with_escape_codes_are_printed_escaped(tmp_path, capsys, face_png):
    evil = tmp_path / "in" / "face\x1b]0;pwned\x07.png"
    evil.parent.mkdir()
    shutil.copy(face_png, evil)
    rc = cli.main([str(a) for a in _edit_quick(evil.parent, tmp_path / "out", "--format", "png")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err
    assert "face\\x1b]0;pwned\\x07.png: wrote" in captured.out


def test_a_real_photo_on_synthfaces_is_called_unrepresentable(tmp_path, capsys, face_png):
    """A photo is far from anything synthfaces draws: the command says so and points to ffhq; a
    render of the world passes silently. The bound comes from data/ (measured on renders)."""
    data = pytest.importorskip("skimage.data")
    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    rc = cli.main([str(a) for a in _edit_quick(tmp_path / "astronaut.png", tmp_path / "o1", "--format", "png")])
    err = capsys.readouterr().err
    assert rc == 0
    assert "astronaut.png: the synthfaces world cannot represent this image" in err
    assert "--world ffhq" in err
    rc = cli.main([str(a) for a in _edit_quick(face_png, tmp_path / "o2", "--format", "png")])
    assert rc == 0 and "cannot represent" not in capsys.readouterr().err


def test_the_representability_bound_is_measured_for_the_shipped_models():
    """The bound in data/ was measured on this generator and encoder (a new one needs
    `python -m helpers.worlds.synthfaces.representable`), and separates renders from photos."""
    from helpers import worlds
    world = worlds.load("synthfaces", device="cpu")
    bound = world.reconstruction_bound
    assert bound is not None, "remeasure: python -m helpers.worlds.synthfaces.representable"
    assert bound["n"] >= 500 and bound["threshold"] == pytest.approx(bound["margin"] * bound["max"])
    assert bound["per_style"]["photo"]["max"] == bound["max"]


def test_the_json_beside_a_direction_is_checked_against_the_pt(tmp_path, capsys, face_png, direction_file):
    """The .pt's metadata counts; a .json that says otherwise gets a warning, a missing one none."""
    d = tmp_path / "d.pt"
    shutil.copy(direction_file, d)
    sidecar = json.loads(direction_file.with_suffix(".json").read_text())
    sidecar["world"] = "ffhq"
    d.with_suffix(".json").write_text(json.dumps(sidecar))
    argv = ["edit", face_png, "--direction", d, "--out", tmp_path / "out", "--steps", 0, "--frames", 2,
            "--format", "png"]
    with pytest.warns(RuntimeWarning, match=r"d.json disagrees with the metadata inside d.pt \(world: "
                                            r"'ffhq' vs 'synthfaces'\); the metadata inside d.pt counts"):
        assert cli.main([str(a) for a in argv]) == 0
    d.with_suffix(".json").unlink()
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error", RuntimeWarning)
        assert cli.main([str(a) for a in argv]) == 0


def test_video_frames_are_sampled_while_decoding(tmp_path):
    """`direction --frames clip.mp4` keeps 64 frames of a clip: they are picked while decoding, so
    memory holds the kept frames, not the clip. A 3 s 1080p clip (90 frames, 560 MB decoded) read
    for 4 frames must add well under that to the process's peak; the frames are the ones an
    all-at-once decode would pick."""
    import imageio_ffmpeg
    clip = tmp_path / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1920x1080:rate=30", "-t", "3", "-pix_fmt", "yuv420p", str(clip)], check=True)
    script = (
        "import resource, sys\n"
        "from helpers import clips\n"
        "import imageio_ffmpeg, PIL.Image, numpy\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "frames = clips.read_frames(sys.argv[1], max_frames=4)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(len(frames), (peak - base) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", script, str(clip)], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert int(out[0]) == 4
    assert float(out[1]) < 200, f"reading 4 frames added {float(out[1]):.0f} MB to the peak"
    import imageio.v3 as iio
    from helpers import clips
    every = iio.imread(clip, index=None)
    picked = every[np.linspace(0, len(every) - 1, 4).round().astype(int)]
    got = np.stack([np.asarray(f) for f in clips.read_frames(clip, max_frames=4)])
    assert got.shape == picked.shape and np.abs(got.astype(int) - picked).max() <= 2
