"""The command line: every bad input gets one clear line, exit code 2, and nothing half-written."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli

ROOT = Path(__file__).resolve().parents[1]


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


def bad_image_cases(tmp):
    (tmp / "text.png").write_text("hello, I am not a picture")
    (tmp / "empty.jpg").write_bytes(b"")
    buf = tmp / "full.jpg"
    Image.fromarray((np.random.RandomState(0).rand(128, 128, 3) * 255).astype(np.uint8)).save(buf)
    (tmp / "truncated.jpg").write_bytes(buf.read_bytes()[: buf.stat().st_size // 3])
    Image.new("RGB", (16, 16)).save(tmp / "tiny.png")
    (tmp / "no_images").mkdir()
    (tmp / "no_images" / "readme.txt").write_text("x")
    return {
        "missing": (tmp / "nope.png", "no such image"),
        "not an image": (tmp / "text.png", "text.png"),
        "empty": (tmp / "empty.jpg", "empty"),
        "truncated": (tmp / "truncated.jpg", "truncated.jpg"),
        "tiny": (tmp / "tiny.png", "16"),
        "folder without images": (tmp / "no_images", "holds no images"),
    }


@pytest.mark.parametrize("case", ["missing", "not an image", "empty", "truncated", "tiny",
                                  "folder without images"])
def test_edit_refuses_bad_images(case, tmp_path, capsys, direction_file):
    path, message = bad_image_cases(tmp_path)[case]
    out = tmp_path / "out"
    rc, err = run(["edit", path, "--direction", direction_file, "--out", out, "--steps", 2], capsys)
    assert rc == 2
    assert message.lower() in err.lower()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert [f for f in files_in(out)] == []


def _direction(tmp_path, payload):
    path = tmp_path / "d.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "no such direction file"),
    ("not torch", "not a direction file"),
    ("no entry", "no 'direction' entry"),
    ("other world", "made in the 'ffhq' world"),
    ("wrong shape", "shape (18, 512)"),
    ("nan", "NaN"),
])
def test_edit_refuses_bad_direction_files(case, message, tmp_path, capsys, face_png):
    if case == "missing":
        d = tmp_path / "missing.pt"
    elif case == "not torch":
        d = tmp_path / "d.pt"
        d.write_text("<html>quota exceeded</html>")
    elif case == "no entry":
        d = _direction(tmp_path, {"weights": torch.zeros(3)})
    elif case == "other world":
        d = _direction(tmp_path, {"direction": torch.zeros(18, 512), "meta": json.dumps({"world": "ffhq"})})
    elif case == "wrong shape":
        d = _direction(tmp_path, {"direction": torch.zeros(18, 512), "meta": "{}"})
    else:
        d = _direction(tmp_path, {"direction": torch.full((10, 128), float("nan")), "meta": "{}"})
    out = tmp_path / "out"
    rc, err = run(["edit", face_png, "--direction", d, "--out", out], capsys)
    assert rc == 2 and message in err and "Traceback" not in err
    assert files_in(out) == []


def test_unwritable_output_and_bad_options(tmp_path, capsys, face_png, direction_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc, err = run(["edit", face_png, "--direction", direction_file, "--out", blocker / "sub"], capsys)
    assert rc == 2 and "cannot write to" in err
    rc, err = run(["edit", face_png, "--direction", direction_file, "--out", tmp_path / "o", "--frames", 1], capsys)
    assert rc == 2 and "--frames must be at least 2" in err
    rc, err = run(["edit", face_png, "--direction", direction_file, "--out", tmp_path / "o2", "--world", "celeba"],
                  capsys)
    assert rc == 2 and "unknown world 'celeba'" in err
    assert files_in(tmp_path / "o2") == []


def test_direction_refuses_bad_clips(tmp_path, capsys):
    rc, err = run(["direction", "--frames", tmp_path / "nope", "--out", tmp_path / "d.pt"], capsys)
    assert rc == 2 and "no such video file or folder" in err
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (64, 64)).save(one / "f0.png")
    rc, err = run(["direction", "--frames", one, "--out", tmp_path / "d.pt"], capsys)
    assert rc == 2 and "at least 2 frames" in err
    rc, err = run(["direction", "--frames", one, "--out", tmp_path / "d.txt"], capsys)
    assert rc == 2 and "must end in .pt" in err
    two = tmp_path / "two"
    two.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 64), (i * 100, 0, 0)).save(two / f"f{i}.png")
    rc, err = run(["direction", "--frames", two, "--out", tmp_path / "d.pt", "--rank", 3], capsys)
    assert rc == 2 and "--rank 3 does not fit 2 frames" in err
    assert not (tmp_path / "d.pt").exists() and not (tmp_path / "d.json").exists()


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


def test_module_entry_point_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers", "edit", str(tmp_path / "x.png"), "--direction",
                           str(tmp_path / "d.pt"), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("micromotion edit: error:")
