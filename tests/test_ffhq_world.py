"""The ffhq world's wiring, offline: ``helpers.weights.fetch`` hands out small random-weight files in
the upstream layouts (a 32 px decoder instead of 1024 px) and CLIP is a small random one, so every
path from ``load("ffhq")`` to ReStyle, ArcFace and CLIP runs without a download."""
import pytest
import torch

import helpers.weights
from helpers import worlds
from helpers.worlds.ffhq import world as ffhq_world
from helpers.worlds.synthfaces import text_model
from ffhq_fakes import ENCODER_INPUT, N_STYLES, SMALL_CONFIG, SMALL_SIZE, small_clip, write_checkpoints

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    paths = write_checkpoints(tmp_path_factory.mktemp("ffhq_weights"))
    yield paths
    for p in paths.values():            # 600 MB: not left in pytest's kept temporary folders
        p.unlink()


@pytest.fixture
def world(files, monkeypatch):
    calls = []

    def fake_fetch(name, *, allow_unverified=False, **kw):
        calls.append((name, allow_unverified))
        return files[name]

    monkeypatch.setattr(helpers.weights, "fetch", fake_fetch)
    clip_calls = []

    def fake_clip(device):
        clip_calls.append(str(device))
        return small_clip(device)

    monkeypatch.setattr(ffhq_world, "load_clip", fake_clip)
    w = ffhq_world.load(torch.device("cpu"), config=SMALL_CONFIG, encoder_input=ENCODER_INPUT)
    w.calls, w.clip_calls = calls, clip_calls
    return w


def _faces(world, n=2, seed=0):
    return world.synthesize(world.sample_wplus(n, seed=seed))


def test_loading_fetches_only_the_generator(world):
    assert world.calls == [("stylegan2-ffhq", False)]
    assert world.name == "ffhq" and world.resolution == SMALL_SIZE and world.num_ws == N_STYLES
    assert world.has("encoder") and world.has("identity_model") and world.has("text_model")
    assert not world.has("meter")
    assert "on first use" in repr(world)
    assert world.calls == [("stylegan2-ffhq", False)] and world.clip_calls == []   # has() loads nothing


def test_encoder_is_restyle_fetched_unverified_on_first_use(world):
    faces = _faces(world)
    codes = world.encode(faces)
    assert ("restyle-psp-ffhq", True) in world.calls       # no published sha256: accepted explicitly
    assert codes.shape == (2, N_STYLES, 512)
    encoder = world.encoder
    assert encoder.encoder_type == "BackboneEncoder" and encoder.iterations == 5
    assert encoder.input_size == ENCODER_INPUT
    torch.testing.assert_close(codes, encoder.invert(faces).codes)
    world.encode(faces)
    assert sum(name == "restyle-psp-ffhq" for name, _ in world.calls) == 1   # loaded once
    refined = world.invert(faces, refine_steps=2, progress=False)
    assert refined.shape == codes.shape and not torch.equal(refined, codes)


def test_identity_is_arcface_and_text_is_clip(world):
    faces = _faces(world, seed=1)
    loss = world.identity_loss(faces, faces)
    assert ("arcface-ir-se50", False) in world.calls
    assert loss.shape == (2,) and loss.abs().max() < 1e-4
    emb = world.identity_embedding(faces)
    assert emb.shape == (2, 512)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))

    assert world.clip_loss(faces, "A person with big smile").shape == (2,)
    assert world.clip_calls == ["cpu"]
    features = world.encode_text(world.prompts("smile")[:3])
    assert features.shape == (3, text_model.CLIP_CONFIG["embed_dim"])
    torch.testing.assert_close(features.norm(dim=1), torch.ones(3))


def test_synthfaces_only_instruments_are_refused(world):
    faces = _faces(world)
    with pytest.raises(ValueError, match="no factor meter"):
        world.measure(faces)
    with pytest.raises(ValueError, match="renderer"):
        world.render(torch.zeros(1, 15))


def test_baselines_label_with_clip_where_there_is_no_meter(world):
    from helpers import baselines
    codes = world.sample_wplus(3, seed=2)
    scores = baselines.attribute_scores(world, codes, ["smile", "age"], batch=2)
    assert scores.shape == (3, 2) and torch.isfinite(scores).all()
    sweep = world.prompts("age")
    images = world.synthesize(codes)
    expected = world.clip_loss(images, sweep[0]) - world.clip_loss(images, sweep[-1])
    torch.testing.assert_close(scores[:, 1], expected.cpu(), atol=1e-5, rtol=1e-4)
    axes = torch.eye(world.style_dim)[:3]
    picked = baselines.pick_components(world, axes, ["smile"], codes[:2])
    index, axis = picked["smile"]
    assert 0 <= index < 3 and abs(float(axis.abs().sum()) - 1) < 1e-6


def _tiny_clip():
    from helpers.guidance import clip_module
    torch.manual_seed(0)
    return clip_module("model").CLIP(32, 32, 1, 64, 16, 77, 49408, 64, 1, 1).eval()


def test_clip_loads_from_a_torchscript_archive_without_import_clip(tmp_path):
    """The real loading path on a small archive of OpenAI's layout: rebuilt from its state dict
    through clip/model.py alone, so neither torchvision nor pkg_resources (gone from setuptools ≥ 81)
    is needed; the rebuilt model computes what the archived one does."""
    import sys
    model = _tiny_clip()
    image, text = torch.randn(2, 3, 32, 32), torch.randint(0, 49408, (2, 77))
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, (image, text)), str(tmp_path / "ViT-B-32.pt"))
        sys.modules.pop("clip", None)
        loaded = ffhq_world.load_clip("cpu", path=tmp_path / "ViT-B-32.pt")
        assert "clip" not in sys.modules
        assert next(loaded.parameters()).dtype == torch.float32
        torch.testing.assert_close(loaded.encode_text(text), model.encode_text(text), rtol=2e-3, atol=2e-3)
        torch.testing.assert_close(loaded.encode_image(image), model.encode_image(image), rtol=2e-3, atol=2e-3)


def test_a_file_that_is_not_clip_is_named(tmp_path):
    (tmp_path / "page.pt").write_text("<html>quota exceeded</html>")
    with pytest.raises(ValueError, match="not a TorchScript CLIP archive.*fetch a fresh copy"):
        ffhq_world.load_clip("cpu", path=tmp_path / "page.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "linear.pt"))
    with pytest.raises(ValueError, match="does not hold a CLIP model's weights"):
        ffhq_world.load_clip("cpu", path=tmp_path / "linear.pt")


def test_clip_is_in_the_registry_with_openais_digest():
    spec = helpers.weights.get_spec("clip-vit-b32")
    assert spec.sha256 in spec.urls[0] and spec.filename == "ViT-B-32.pt"


def test_the_ffhq_world_inverts_with_restyle_alone_by_default(world):
    """The paper's pipeline: ReStyle's output, no refinement, unless asked for."""
    faces = _faces(world)
    torch.testing.assert_close(world.invert(faces), world.encode(faces))
