"""helpers.photos: the faces a chapter inverts — rendered with known factors, or real and aligned."""
import copy

import numpy as np
import pytest
from PIL import Image

from helpers import photos
from helpers.alignment import NoFaceError


@pytest.fixture(scope="module")
def photo_world(world):
    """The synthfaces world without its renderer: what a world of real photos (ffhq) looks like."""
    w = copy.copy(world)
    w.renderer = None
    return w


def test_a_world_with_a_renderer_draws_its_people_with_their_factors(world):
    f = photos.faces(world, 3, "cartoon", seed=5)
    assert f.kind == "rendered" and len(f) == 3
    assert tuple(f.images.shape) == (3, 3, world.resolution, world.resolution)
    assert f.factors.shape[0] == 3
    again = photos.faces(world, 3, "cartoon", seed=5)
    assert np.array_equal(f.images.numpy(), again.images.numpy())


def test_a_world_without_one_aligns_the_public_domain_photo_and_says_how_many(photo_world):
    pytest.importorskip("skimage")
    f = photos.faces(photo_world, 4, "photo")
    assert f.kind == "real" and len(f) == 1 and f.factors is None
    assert tuple(f.images.shape) == (1, 3, photo_world.resolution, photo_world.resolution)
    assert -1 <= float(f.images.min()) < float(f.images.max()) <= 1
    assert any("1 real photo(s) for the 4 asked" in note for note in f.notes)


def test_every_style_redraws_the_face_in_place_and_deterministically():
    rng = np.random.RandomState(0)
    face = Image.fromarray((rng.rand(128, 128, 3) * 255).astype(np.uint8))
    base = np.asarray(face, dtype=np.float32)
    for style in photos.STYLES[1:]:
        out = photos.stylise(face, style)
        assert out.size == face.size and out.mode == "RGB"
        assert np.abs(np.asarray(out, dtype=np.float32) - base).mean() > 5, style
        assert np.array_equal(np.asarray(out), np.asarray(photos.stylise(face, style)))
    assert photos.stylise(face, "photo") is not None


def test_bad_requests_name_the_problem(world, photo_world, tmp_path):
    with pytest.raises(ValueError, match="unknown style 'oil'.*photo, painting"):
        photos.faces(world, 2, "oil")
    with pytest.raises(ValueError, match="positive integer"):
        photos.faces(world, 0)
    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 200), (120, 130, 140)).save(blank)
    with pytest.raises(NoFaceError, match="wall.png: no face found"):
        photos.faces(photo_world, 1, paths=[blank])


def test_an_edit_profile_reads_degree_identity_and_truth_per_alpha(world):
    from helpers import directions
    f = photos.faces(world, 3, "photo", seed=2)
    codes = world.encode(f.images)
    d = directions.builtin_direction(world, "smile", progress=False)[0]
    alphas = [0.0, 1.0, 2.0]
    p = photos.edit_profile(world, codes, d, "smile", alphas)
    assert p["clip_degree"].shape == p["identity"].shape == p["judge"].shape == (3, 3)
    assert np.allclose(p["identity"][0], 1, atol=1e-4)       # α = 0 is the unedited face
    assert (p["identity"][2] < p["identity"][0]).all()
    assert (p["judge"][2] > p["judge"][0]).mean() >= 2 / 3    # the built-in smile smiles


def _profile(clip_rise, judge_rise):
    zeros = np.zeros(len(clip_rise))
    return {"clip_degree": np.stack([zeros, np.asarray(clip_rise)]),
            "judge": np.stack([zeros, np.asarray(judge_rise)])}


def test_the_proxy_agreement_is_the_correlation_of_rises_over_faces():
    rng = np.random.RandomState(0)
    truth = rng.rand(2, 12)
    agree = {style: {"smile": _profile(truth[k] * 0.5 + 0.01 * rng.randn(12), truth[k]),
                     "yaw": _profile(-truth[k], truth[k])}
             for k, style in enumerate(("photo", "painting"))}
    a = photos.proxy_agreement(agree)
    assert a["n"] == 24 and a["per_motion"]["smile"] > 0.99
    assert a["per_motion"]["yaw"] == pytest.approx(-1)
    assert a["mean"] == pytest.approx((a["per_motion"]["smile"] - 1) / 2)
    assert a["low"] <= a["mean"] <= a["high"]
    noise = {"photo": {"smile": _profile(rng.rand(40), rng.rand(40))}}
    b = photos.proxy_agreement(noise)
    assert abs(b["mean"]) < 0.4 and b["low"] < 0 < b["high"]


def test_the_proxy_agreement_refuses_profiles_without_a_judge():
    with pytest.raises(ValueError, match="world with a judge"):
        photos.proxy_agreement({"photo": {"smile": {"clip_degree": np.zeros((2, 4))}}})
    with pytest.raises(ValueError, match="at least 3 faces"):
        photos.proxy_agreement({"photo": {"smile": _profile([0.1, 0.2], [0.1, 0.3])}})
