"""The synthfaces world: renderer, captions, factor meter, shipped weights."""
import shutil

import numpy as np
import pytest
import torch

from helpers import shipped
from helpers import vocabulary
from helpers.worlds.synthfaces import captions, renderer
from helpers.worlds.synthfaces.renderer import FACTORS, MICROMOTION_FACTORS, STYLES


def test_render_is_deterministic_and_in_range():
    f = renderer.sample_factors(6, seed=3)
    for style in STYLES:
        a = renderer.render(f, style=style, seeds=5)
        b = renderer.render(f, style=style, seeds=5)
        assert a.shape == (6, 3, 64, 64)
        assert torch.equal(a, b)
        assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(renderer.render(f, seeds=5), renderer.render(f, seeds=6))  # texture follows seed


def test_sample_factors_are_seeded_and_in_unit_range():
    a, b = renderer.sample_factors(100, seed=1), renderer.sample_factors(100, seed=1)
    assert torch.equal(a, b) and a.shape == (100, len(FACTORS))
    assert a.min() >= 0 and a.max() <= 1
    n = renderer.sample_factors(4, seed=1, neutral=True, smile=0.9)
    assert torch.allclose(n[:, renderer.factor_index("smile")], torch.tensor(0.9))
    assert torch.all(n[:, renderer.factor_index("yaw")] == 0.5)


@pytest.mark.parametrize("motion", MICROMOTION_FACTORS)
def test_each_micromotion_changes_the_image_locally(motion):
    base = renderer.sample_factors(1, seed=2, neutral=True)
    frames, f = renderer.sweep(base, motion, [0.0, 1.0] if motion != "yaw" else [0.5, 1.0])
    diff = (frames[0] - frames[1]).abs().mean(0)
    assert diff.mean() > 0.003          # it shows
    assert (diff > 0.05).float().mean() < 0.5   # but it is local, not a new picture
    assert torch.equal(f[0, :10], f[1, :10])    # identity untouched


def test_bad_factors_give_clear_errors():
    with pytest.raises(ValueError, match="unknown factor 'grin'"):
        renderer.sample_factors(1, grin=0.3)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*smile"):
        renderer.set_factors(renderer.sample_factors(1), smile=1.5)
    with pytest.raises(ValueError, match="shape"):
        renderer.render(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        renderer.render(torch.full((1, len(FACTORS)), float("nan")))
    with pytest.raises(ValueError, match="unknown style 'anime'"):
        renderer.render(renderer.sample_factors(1), style="anime")


def test_yaw_degrees_round_trip():
    deg = np.array([-45, -15, 0, 30, 45])
    assert np.allclose(renderer.yaw_degrees(renderer.yaw_factor(deg)), deg)


def test_captions_follow_the_paper():
    assert vocabulary.prompts(vocabulary.TEMPLATES["smile"])[:2] == ["A person with no smile", "A person with 10% smile"]
    assert len(vocabulary.PERCENTAGES) == 11
    assert set(vocabulary.ADJECTIVES) == {"no", "a big", "big", "a slight", "slight", "a large", "large", ""}
    f = renderer.sample_factors(2, seed=0, neutral=True)
    f = renderer.set_factors(f, smile=torch.tensor([0.0, 0.92]))
    assert captions.caption(f, "smile") == ["A person with no smile", "A person with 90% smile"]
    assert vocabulary.fill("{} old person with gray hair", "") == "Old person with gray hair"
    with pytest.raises(ValueError, match="no '\\{\\}'"):
        vocabulary.prompts("A person smiling")
    with pytest.raises(ValueError, match="empty"):
        vocabulary.prompts("A {} smile", [])


@pytest.fixture(scope="module")
def meter():
    from helpers.worlds.synthfaces.meter import load_meter
    return load_meter()


def test_meter_command_refuses_to_resume_a_missing_meter(tmp_path, capsys):
    from helpers.worlds.synthfaces import train_meter as M
    assert M.main(["--resume", "--out", str(tmp_path / "m.pt")]) == 2
    assert "no meter at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_meter_reads_micromotions_on_held_out_renders(meter):
    from helpers.worlds.synthfaces.meter import held_out, r2_scores
    images, f = held_out(128, "photo", seed=777)
    r2 = r2_scores(meter.measure(images), f)
    # The issue aims at 0.95: on the 256 renders of `evaluate` the shipped meter has 0.955 on smile and
    # ≥ 0.975 on the others. On these 128 other renders smile reads 0.947; a floor of 0.93 leaves room
    # for that sampling noise and still fails the old renderer's meter (0.91, faint smiles illegible).
    floors = {"smile": 0.93}
    for m in MICROMOTION_FACTORS:
        assert r2[m] > floors.get(m, 0.95), (m, r2[m])
    assert np.mean([r2[k] for k in renderer.IDENTITY_FACTORS]) > 0.8


def test_meter_reads_the_same_in_either_memory_layout(meter):
    """On a CPU the meter computes in channels-last layout (faster convolutions), and in eval mode
    with its BatchNorms folded into the convs: same readings and gradients as the module chain in
    the default layout."""
    x = renderer.render(renderer.sample_factors(4, seed=3)).requires_grad_(True)
    fast = meter.features(x)
    plain = meter.neck(meter.body(x.contiguous()))       # _prepare skipped: the default layout
    assert torch.allclose(fast, plain, atol=1e-5)
    ga, = torch.autograd.grad(fast.sum(), x)
    gb, = torch.autograd.grad(plain.sum(), x)
    assert torch.allclose(ga, gb, atol=1e-5 * float(gb.abs().max()))


def test_shipped_weights_are_hash_checked(tmp_path, monkeypatch):
    for name in ("synthfaces_g.pt", "synthfaces_meter.pt"):
        assert shipped.verified(name).exists()
    fake = tmp_path / "data"
    fake.mkdir()
    shutil.copy(shipped.DATA / "synthfaces_meter.pt", fake / "synthfaces_meter.pt")
    shutil.copy(shipped.MANIFEST, fake / "MANIFEST.json")
    monkeypatch.setattr(shipped, "DATA", fake)
    monkeypatch.setattr(shipped, "MANIFEST", fake / "MANIFEST.json")
    assert shipped.verified("synthfaces_meter.pt")
    with open(fake / "synthfaces_meter.pt", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="fails its hash check"):
        shipped.verified("synthfaces_meter.pt")
    with pytest.raises(FileNotFoundError, match="git checkout"):
        shipped.verified("synthfaces_g.pt")


def test_world_loads_offline_fast():
    import time
    from helpers import worlds
    t = time.perf_counter()
    w = worlds.load("synthfaces", device="cpu")
    assert time.perf_counter() - t < 5  # the target is < 1 s; CI machines are noisy
    img = w.synthesize(w.sample_wplus(2, seed=0))
    assert img.shape == (2, 3, 64, 64) and w.num_ws == 10
    with pytest.raises(ValueError, match="unknown world 'celeba'.*synthfaces, ffhq"):
        worlds.load("celeba")
