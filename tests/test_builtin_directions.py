"""Built-in directions: synthfaces' are made from rendered clips and ship; they must be the ones made
for the shipped generator and encoder, move their factor on *inverted* images (what `micromotion edit`
applies them to), and be remade, with a warning, for any other generator."""
import copy
import json
import types

import numpy as np
import pytest
import torch

from helpers import anchors, directions, evaluation, shipped, worlds
from helpers import vocabulary
from helpers.worlds.synthfaces import renderer


@pytest.fixture(scope="module")
def world():
    return worlds.load("synthfaces", device="cpu")


@pytest.fixture(scope="module")
def inverted_photos(world):
    """Held-out neutral photo-style renders (not the clips' identities), inverted as the CLI does."""
    people = renderer.sample_factors(8, seed=7001, neutral=True)
    images = renderer.render(people, size=world.resolution, seeds=range(8))
    return world.invert(images, refine_steps=20)


def test_the_shipped_directions_were_made_for_the_shipped_models(world):
    payload = torch.load(shipped.verified(directions.SHIPPED), weights_only=True)
    meta = json.loads(payload["meta"])
    entries = shipped.manifest()
    assert meta["generator_sha256"] == entries["synthfaces_g.pt"]["sha256"], \
        "the GAN changed: remake the built-in directions with `python -m helpers.directions`"
    assert meta["encoder_sha256"] == entries["synthfaces_encoder.pt"]["sha256"], \
        "the encoder changed: remake the built-in directions with `python -m helpers.directions`"
    assert sorted(payload["directions"]) == sorted(vocabulary.TEMPLATES)
    for m, d in payload["directions"].items():
        assert d.shape == (world.num_ws, world.style_dim) and torch.isfinite(d).all() and d.norm() > 0
        assert meta["how"][m]["source"] == "rendered clips"
        assert meta["how"][m]["identities"] == directions.BUILTIN_CLIPS["identities"]


@pytest.mark.parametrize("micromotion", list(vocabulary.TEMPLATES))
def test_each_built_in_direction_moves_its_factor_on_inverted_images(world, inverted_photos, micromotion):
    direction, how = directions.builtin_direction(world, micromotion, progress=False)
    assert how["shipped"] == f"data/{directions.SHIPPED}"
    score = evaluation.score_direction(world, inverted_photos, direction, micromotion, np.linspace(0, 1, 5))
    # the factor rises on most faces, by more than it moves any other micromotion
    assert score.monotonic >= 0.6, (micromotion, score.monotonic)
    assert score.slope > 0.1 and score.slope > 1.5 * score.other_motion_drift, (score.slope, score.other_motion_drift)


def test_another_generator_remakes_the_direction_from_clips_with_a_warning(world, tmp_path, monkeypatch):
    from helpers import inversion
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    monkeypatch.setattr(directions, "BUILTIN_CLIPS", dict(identities=2, n_frames=3, seed=1, steps=1, rank=1,
                                                          rule="principal"))
    other = copy.copy(world)
    other.info = {**world.info, "weights_sha256": "0" * 64}
    with pytest.warns(RuntimeWarning, match="made for another synthfaces generator"):
        direction, how = directions.builtin_direction(other, "smile", progress=False)
    assert how["source"] == "rendered clips" and how["identities"] == 2 and "shipped" not in how
    assert direction.shape == (world.num_ws, world.style_dim) and torch.isfinite(direction).all()
    # remade once, then cached
    monkeypatch.setattr(inversion, "invert", None)
    with pytest.warns(RuntimeWarning):
        again, _ = directions.builtin_direction(other, "smile", progress=False)
    torch.testing.assert_close(again, direction)


def test_ffhq_built_in_directions_come_from_text(monkeypatch):
    calls = []
    monkeypatch.setattr(directions, "text_direction", lambda world, template, **kw: calls.append((template, kw)) or (None, {}))
    directions.builtin_direction(types.SimpleNamespace(name="ffhq"), "age", progress=False)
    assert calls == [(vocabulary.TEMPLATES["age"], {"progress": False, **directions.BUILTIN})]


@pytest.mark.parametrize("kw, message", [
    (dict(micromotions=["grin"]), "unknown micromotion"),
    (dict(micromotions=["smile"], rank=7), "rank 7 does not fit 7 frames"),
    (dict(micromotions=["smile"], rule="mean"), "rule must be one of"),
    (dict(micromotions=["smile"], identities=0), "must be at least 1"),
])
def test_clip_directions_refuse_bad_requests(world, kw, message):
    with pytest.raises(ValueError, match=message):
        directions.clip_directions(world, **kw)


def test_unknown_built_in_micromotion(world):
    with pytest.raises(ValueError, match="unknown micromotion 'grin'"):
        directions.builtin_direction(world, "grin")


def test_the_readme_smile_example_smiles(world):
    """README: `micromotion edit face.png --micromotion smile --alpha 0 2` on the seed-4 face."""
    from helpers import transfer
    from helpers.evaluation import factor_index
    face = renderer.render(renderer.sample_factors(1, seed=4, neutral=True), seeds=0)
    code = world.invert(world.preprocess(face), refine_steps=200, progress=False)     # the CLI's default
    direction, _ = directions.builtin_direction(world, "smile", progress=False)
    frames = transfer.render_edit(world, code, direction, np.linspace(0, 2, 16), progress=False)[0]
    smile = world.measure(frames)[:, factor_index("smile")]
    assert smile[-1] - smile[0] > 0.4, smile
    assert (torch.diff(smile) > -0.02).all(), smile


def test_remade_directions_ship_with_their_hash_and_load_back(world, tmp_path, monkeypatch):
    """`python -m helpers.directions` → data/ file + manifest entry → what `builtin_direction` serves."""
    import shutil
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(directions, "BUILTIN_CLIPS", dict(identities=1, n_frames=3, seed=1, steps=1, rank=1,
                                                          rule="principal"))
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shipped.MANIFEST, data / "MANIFEST.json")
    monkeypatch.setattr(shipped, "DATA", data)
    monkeypatch.setattr(shipped, "MANIFEST", data / "MANIFEST.json")
    path = directions.write_builtin(world, progress=False)
    assert path == data / directions.SHIPPED
    entry = shipped.manifest()[directions.SHIPPED]
    assert entry["made_by"] == "python -m helpers.directions" and entry["sha256"] == shipped.sha256_file(path)
    written = torch.load(path, weights_only=True)["directions"]
    for m in vocabulary.TEMPLATES:
        direction, how = directions.builtin_direction(world, m, progress=False)
        assert torch.equal(direction, written[m]) and how["identities"] == 1 and how["shipped"]


def test_rounding_sensitivity_separates_noise_from_result(world, tmp_path, monkeypatch):
    """A zero nudge remakes the very anchors (cosine 1, no gap, the same score); a nudge as large as
    the codes themselves lands elsewhere; every repeat is scored on the same targets."""
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    start = world.sample_wplus(1, seed=3)
    template = vocabulary.TEMPLATES["anger"]
    base = anchors.text_anchors(world, start, template, steps=4, progress=False)[0]
    targets = world.sample_wplus(4, seed=9)
    same = evaluation.rounding_sensitivity(world, base, template, "anger", targets, repeats=1, scale=0.0, steps=4)
    assert same.cosines == [pytest.approx(1.0)] and same.gaps == [0.0]
    assert same.nudged[0].slope == pytest.approx(same.base.slope)
    far = evaluation.rounding_sensitivity(world, base, template, "anger", targets, repeats=2, scale=1.0, steps=4)
    assert len(far.nudged) == len(far.cosines) == len(far.gaps) == 2
    assert min(far.gaps) > 0.5 and max(far.cosines) < 0.999
    lo, hi = far.monotonic_range
    assert 0 <= lo <= far.base.monotonic <= hi <= 1
