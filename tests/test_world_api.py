"""The World API of the synthfaces world: loading, encoding, inversion, any image in, clear refusals."""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import worlds
from helpers import vocabulary
from helpers.worlds.synthfaces import encoder as encoder_module, renderer, train_encoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world():
    with warnings.catch_warnings():     # the GAN may have moved on since the encoder was trained
        warnings.simplefilter("ignore", encoder_module.GeneratorChangedWarning)
        return worlds.load("synthfaces", device="cpu")


@pytest.fixture(scope="module")
def faces(world):
    return world.render(renderer.sample_factors(3, seed=11), seeds=11)


def pixel_error(world, codes, images):
    return (world.synthesize(codes) - images).pow(2).mean([1, 2, 3])


# --------------------------------------------------------------------------- loading and metadata
def test_synthfaces_world_has_every_instrument(world):
    assert (world.name, world.resolution, world.num_ws, world.style_dim) == ("synthfaces", 64, 10, 128)
    assert world.truncation == 0.7
    assert world.templates == vocabulary.TEMPLATES and world.templates is not vocabulary.TEMPLATES
    for model in ("encoder", "text_model", "identity_model", "meter"):
        assert world.has(model), model
    assert world.info["encoder_sha256"] and world.info["weights_sha256"]
    assert "synthfaces" in repr(world) and "encoder: yes" in repr(world)


def test_unknown_world_lists_the_worlds():
    with pytest.raises(ValueError, match="unknown world 'celeba'; worlds are: synthfaces, ffhq"):
        worlds.load("celeba")


def test_shipped_encoder_is_small_and_names_its_generator(world):
    path = encoder_module.ENCODER_PATH
    assert path.stat().st_size < 5e6
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert len(payload["generator_sha256"]) == 64
    assert json.loads(payload["made_by"]).startswith("python -m helpers.worlds.synthfaces.encoder --steps")
    with pytest.warns(encoder_module.GeneratorChangedWarning, match="retrained"):
        encoder_module.load_encoder(generator_sha256="0" * 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", encoder_module.GeneratorChangedWarning)
        encoder_module.load_encoder(generator_sha256=payload["generator_sha256"])


def test_encoder_reads_the_pyramid_the_e4e_way():
    enc = encoder_module.SynthfacesEncoder(num_ws=10, style_dim=128)
    # coarse entries (4–8 px layers) read the 4 px map, middle (16–32 px) the 8 px, fine the 16 px
    assert enc.entry_level == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    levels = enc.pyramid(torch.zeros(1, 3, 64, 64))
    assert [tuple(m.shape[-2:]) for m in levels] == [(4, 4), (8, 8), (16, 16)]
    enc.latent_avg.fill_(0.5)
    codes = enc(torch.zeros(2, 3, 32, 32))      # other sizes are resized
    assert codes.shape == (2, 10, 128)
    # a fresh encoder's per-entry offsets start at zero: every entry is latent_avg + w0
    torch.testing.assert_close(codes, codes[:, :1].expand_as(codes))


# --------------------------------------------------------------------------- encode and invert
def test_encode_gives_wplus_codes_without_gradients(world, faces):
    codes = world.encode(faces)
    assert codes.shape == (3, world.num_ws, world.style_dim) and codes.dtype == torch.float32
    assert not codes.requires_grad
    torch.testing.assert_close(world.encode(faces[:1]), codes[:1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(world.invert(faces, refine_steps=0), codes)


def test_refinement_improves_on_the_encoder(world, faces):
    guess = world.encode(faces)
    # pixels only: the pixel error falls below the encoder's
    pixels = world.invert(faces, refine_steps=15, feature_fn=None, progress=False)
    assert pixels.shape == guess.shape
    assert pixel_error(world, pixels, faces).mean() < 0.9 * pixel_error(world, guess, faces).mean()
    # the default also matches meter features: the factors read off the result come closer
    refined = world.invert(faces, refine_steps=15, progress=False)
    truth = world.measure(faces)
    factor_error = lambda codes: (world.measure(world.synthesize(codes)) - truth).abs().mean()
    assert factor_error(refined) < 0.8 * factor_error(guess)
    if world.info["encoder_matches_generator"]:     # the GAN may have moved on since the encoder
        average = world.latent_avg.reshape(1, 1, -1).expand_as(guess)
        assert pixel_error(world, guess, faces).mean() < pixel_error(world, average, faces).mean()


def test_a_world_without_encoder_optimises_from_the_average(world, faces):
    bare = worlds.World("synthfaces", world.generator, world.device, meter=world.meter)
    assert not bare.has("encoder") and bare.encoder is None
    assert bare.invert(faces[:1], refine_steps=3, progress=False).shape == (1, 10, 128)
    with pytest.raises(ValueError, match="no encoder"):
        bare.encode(faces)
    with pytest.raises(ValueError, match="refine_steps > 0"):
        bare.invert(faces, refine_steps=0)


def test_encode_text_gives_unit_features_and_templates_are_checked(world):
    prompts = world.prompts("smile", ["no", "big"])
    assert prompts == ["A person with no smile", "A person with big smile"]
    assert world.prompts("A face that is {} surprised")[1] == "A face that is 10% surprised"
    features = world.encode_text(prompts)
    assert features.shape == (2, 128)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match=r"unknown prompt template 'sneeze'.*smile, anger"):
        world.prompts("sneeze")
    with pytest.raises(ValueError, match="template with '{}'"):
        world.template("A person smiling")


# --------------------------------------------------------------------------- preprocess
def _face_array(size=48):
    img = renderer.render(renderer.sample_factors(1, seed=3), size=size, seeds=3)[0]
    return ((img.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def test_preprocess_takes_every_kind_of_image(world, tmp_path):
    rgb = _face_array()
    paths = {}
    paths["rgb"] = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(paths["rgb"])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :8, 3] = 0                                              # a transparent left strip
    paths["rgba"] = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    paths["grey"] = tmp_path / "grey.png"
    Image.fromarray(rgb).convert("L").save(paths["grey"])
    grey16 = (np.arange(48 * 48).reshape(48, 48) % 256 * 257).astype(np.uint16)
    grey16[:] = 257 * 255
    grey16[:, 24:] = 0
    paths["grey16"] = tmp_path / "grey16.png"
    Image.fromarray(grey16).save(paths["grey16"])
    assert Image.open(paths["grey16"]).mode.startswith("I")

    for name, path in paths.items():
        x = world.preprocess(path)
        assert x.shape == (1, 3, 64, 64) and x.dtype == torch.float32, name
        assert x.min() >= -1 and x.max() <= 1, name
    assert (world.preprocess(paths["rgba"])[0, :, :, :4] > 0.99).all()        # alpha → white
    g16 = world.preprocess(paths["grey16"])[0]
    assert g16[:, :, :20].min() > 0.99 and g16[:, :, 44:].max() < -0.99      # 16-bit → full range
    grey = world.preprocess(str(paths["grey"]))[0]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])

    from_array = world.preprocess(rgb)
    torch.testing.assert_close(from_array, world.preprocess(paths["rgb"]))
    torch.testing.assert_close(from_array, world.preprocess(Image.fromarray(rgb)))
    batch = world.preprocess([paths["rgb"], rgb, Image.fromarray(rgb), torch.from_numpy(rgb).permute(2, 0, 1)])
    assert batch.shape == (4, 3, 64, 64)
    torch.testing.assert_close(batch[1], batch[0])
    assert world.preprocess(np.stack([rgb, rgb])).shape == (2, 3, 64, 64)
    # a batch tensor at the world's size passes through unchanged
    faces = world.render(renderer.sample_factors(2, seed=1))
    assert torch.equal(world.preprocess(faces), faces)
    # a wide image is centre-cropped, not squashed
    wide = np.zeros((48, 96, 3), np.uint8)
    wide[:, 24:72] = rgb
    torch.testing.assert_close(world.preprocess(wide), from_array)


def test_huge_images_are_downscaled_on_load(world, tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(path, quality=80)
    x = world.preprocess(path)
    assert x.shape == (1, 3, 64, 64)
    assert abs(float(x[0, 0].mean()) - (200 / 127.5 - 1)) < 0.02


@pytest.mark.parametrize("case, message", [
    ("not an image", "not an image file"),
    ("empty file", "empty"),
    ("8 px image", r"only 8×8 px; at least 16 px"),
    ("missing file", "no such file"),
    ("8 px tensor", r"only 8×8 px"),
    ("tensor in 0-255", r"\[-1, 1\]"),
    ("2 channels", "1, 3 or 4 channels"),
    ("empty list", "no images"),
    ("a number", "cannot read an image from a int"),
])
def test_bad_inputs_are_refused_clearly(world, tmp_path, case, message):
    (tmp_path / "notes.png").write_text("I am a text file with a .png name")
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    inputs = {"not an image": tmp_path / "notes.png", "empty file": tmp_path / "empty.jpg",
              "8 px image": tmp_path / "tiny.png", "missing file": tmp_path / "nope.png",
              "8 px tensor": torch.zeros(1, 3, 8, 8), "tensor in 0-255": torch.full((1, 3, 32, 32), 200.0),
              "2 channels": torch.zeros(1, 2, 32, 32), "empty list": [], "a number": 3}
    with pytest.raises(ValueError, match=message):
        world.preprocess(inputs[case])
    with pytest.raises(ValueError, match=message):
        world.encode(inputs[case])


# --------------------------------------------------------------------------- the training script
def test_encoder_training_saves_resumes_and_exports(tmp_path):
    state, out = tmp_path / "state.pt", tmp_path / "encoder.pt"
    common = ["--batch", "4", "--state", str(state), "--out", str(out), "--eval-n", "2", "--save-every", "1"]
    assert train_encoder.main(["--steps", "1", *common]) == 0
    assert torch.load(state, weights_only=True)["step"] == 1
    assert train_encoder.main(["--steps", "2", "--resume", *common]) == 0
    payload = torch.load(out, weights_only=True)
    assert payload["steps"] == 2 and payload["complete"] and len(payload["generator_sha256"]) == 64
    assert json.loads(payload["made_by"]).startswith("python -m helpers.worlds.synthfaces.train_encoder --steps 2 --batch 4")
    log = [json.loads(line) for line in state.with_suffix(".log.jsonl").read_text().splitlines()]
    assert [(r.get("event"), r["step"]) for r in log] == [("start", 0), (None, 1), ("resume", 1), (None, 2)]
    report = json.loads(payload["evaluation"])
    assert set(report) == set(renderer.STYLES) | {"generator samples"}
    assert encoder_module.load_encoder(out).encode(torch.zeros(1, 3, 64, 64)).shape == (1, 10, 128)
    with pytest.raises(SystemExit, match="no run state"):
        train_encoder.main(["--resume", *common[:2], "--state", str(tmp_path / "none.pt")])


def test_encoder_training_continues_from_an_export(tmp_path):
    """Without the (uncommitted) run state, a run continues from the exported weights."""
    first, state, out = tmp_path / "first.pt", tmp_path / "state.pt", tmp_path / "encoder.pt"
    common = ["--batch", "4", "--eval-n", "2", "--save-every", "1"]
    assert train_encoder.main(["--steps", "1", *common, "--state", str(tmp_path / "s0.pt"), "--out", str(first)]) == 0
    exported = torch.load(first, weights_only=True)
    assert train_encoder.main(["--steps", "2", "--from-export", str(first), *common, "--state", str(state),
                                "--out", str(out)]) == 0
    payload = torch.load(out, weights_only=True)
    assert payload["steps"] == 2 and torch.load(state, weights_only=True)["step"] == 2
    assert json.loads(payload["history"])[0]["from_step"] == 0      # the first run's history goes on
    changed = [k for k, v in payload["model"].items() if v.is_floating_point() and not torch.equal(v, exported["model"][k])]
    assert changed, "one more step must change the weights it started from"
    with pytest.raises(SystemExit, match="not both"):
        train_encoder.main(["--resume", "--from-export", str(first), *common])
    with pytest.raises(SystemExit, match="no exported encoder"):
        train_encoder.main(["--from-export", str(tmp_path / "none.pt"), *common])


def test_the_papers_start_code_draws_z_as_the_released_code_does(world):
    """StyleCLIP: torch.manual_seed(seed), then torch.randn(1, 512) on the CPU; truncation ψ."""
    torch.manual_seed(1)
    z = torch.randn(1, world.style_dim)
    with torch.no_grad():
        w = world.generator.mapping(z)
    expected = world.latent_avg + 0.7 * (w - world.latent_avg)
    code = world.paper_start_code(1)
    assert code.shape == (1, world.num_ws, world.style_dim)
    torch.testing.assert_close(code[0, 0], expected[0])
    assert not torch.allclose(code, world.paper_start_code(2))
