"""The ffhq world's auxiliary models: ReStyle-pSp, e4e, pSp encoders and ArcFace IR-SE50.

Offline: every checkpoint here is built from random weights in the upstream file layout, saved,
and read back through our loaders. The expected key names and shapes are written from the
upstream sources, not from our modules:

* IR-SE50 (TreB1eN/InsightFace_Pytorch ``model.py``; eladrich/pixel2style2pixel
  ``models/encoders/helpers.py`` and ``model_irse.py``): stages (64, 3), (128, 4), (256, 14),
  (512, 3), first unit of each stage strided; unit = ``shortcut_layer`` (MaxPool, or 1×1 conv +
  BN when the width changes) + ``res_layer`` [BN, conv3×3, PReLU, conv3×3, BN, SEModule(16) with
  ``fc1``/``fc2`` bias-free 1×1 convs]; ``input_layer`` = [conv3×3 no bias, BN, PReLU];
  ArcFace ``output_layer`` = [BN2d, Dropout, Flatten, Linear(512·7·7, 512), BN1d].
* ``GradualStyleBlock`` (restyle-encoder ``models/encoders/map2style.py``, e4e
  ``models/encoders/psp_encoders.py``): log2(spatial) × [Conv2d(512, 512, 3, 2, 1), LeakyReLU]
  as ``convs``, then ``linear`` = EqualLinear(512, 512) (``weight`` [out, in], ``bias``).
* e4e / pSp: heads 0–2 spatial 16, 3–6 spatial 32, the rest 64; ``latlayer1`` Conv2d(256, 512, 1),
  ``latlayer2`` Conv2d(128, 512, 1); pyramid taps after body units 6, 20, 23.
* ReStyle ``BackboneEncoder`` (restyle-encoder ``models/encoders/restyle_psp_encoders.py``):
  ``input_layer`` takes ``opts.input_nc`` channels, every head spatial 16.
* Checkpoint (restyle-encoder / e4e ``models/psp.py``): ``{"state_dict", "opts", "latent_avg"}``,
  keys ``encoder.*`` / ``decoder.*``; e4e's opts name the decoder size ``stylegan_size``.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import helpers.worlds.ffhq.catalogue  # noqa: F401  (registers the paper's weights)
from helpers.stylegan2 import Generator
from helpers.worlds.ffhq import (ArcFace, BackboneEncoder, Encoder4Editing, GradualStyleEncoder,
                                 identity_embedding, load_arcface, load_encoder)
from helpers.worlds.ffhq.irse import stage_ends
from ffhq_fakes import ENCODER_INPUT, N_STYLES, SMALL_DECODER, encoder_checkpoint, randomise_batchnorm

torch.set_num_threads(1)


# --------------------------------------------------------------------------- upstream layouts
def _bn(prefix, c, shapes):
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{prefix}.{name}"] = (c,)
    shapes[f"{prefix}.num_batches_tracked"] = ()


def upstream_irse_shapes(input_nc):
    """Key → shape of ``input_layer`` and ``body`` of IR-SE50, from the upstream facts above."""
    s = {"input_layer.0.weight": (64, input_nc, 3, 3), "input_layer.2.weight": (64,)}
    _bn("input_layer.1", 64, s)
    i, cin = 0, 64
    for depth, units in ((64, 3), (128, 4), (256, 14), (512, 3)):
        for _ in range(units):
            p = f"body.{i}"
            if cin != depth:
                s[f"{p}.shortcut_layer.0.weight"] = (depth, cin, 1, 1)
                _bn(f"{p}.shortcut_layer.1", depth, s)
            _bn(f"{p}.res_layer.0", cin, s)
            s[f"{p}.res_layer.1.weight"] = (depth, cin, 3, 3)
            s[f"{p}.res_layer.2.weight"] = (depth,)
            s[f"{p}.res_layer.3.weight"] = (depth, depth, 3, 3)
            _bn(f"{p}.res_layer.4", depth, s)
            s[f"{p}.res_layer.5.fc1.weight"] = (depth // 16, depth, 1, 1)
            s[f"{p}.res_layer.5.fc2.weight"] = (depth, depth // 16, 1, 1)
            i, cin = i + 1, depth
    return s


def upstream_encoder_shapes(kind, input_nc, n_styles):
    s = upstream_irse_shapes(input_nc)
    for i in range(n_styles):
        spatial = 16 if kind == "BackboneEncoder" or i < 3 else 32 if i < 7 else 64
        for k in range(int(math.log2(spatial))):
            s[f"styles.{i}.convs.{2 * k}.weight"] = (512, 512, 3, 3)
            s[f"styles.{i}.convs.{2 * k}.bias"] = (512,)
        s[f"styles.{i}.linear.weight"] = (512, 512)
        s[f"styles.{i}.linear.bias"] = (512,)
    if kind != "BackboneEncoder":
        s.update({"latlayer1.weight": (512, 256, 1, 1), "latlayer1.bias": (512,),
                  "latlayer2.weight": (512, 128, 1, 1), "latlayer2.bias": (512,)})
    return s


def upstream_arcface_shapes():
    s = upstream_irse_shapes(3)
    _bn("output_layer.0", 512, s)
    s["output_layer.3.weight"] = (512, 512 * 7 * 7)
    s["output_layer.3.bias"] = (512,)
    _bn("output_layer.4", 512, s)
    return s


def shapes_of(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_layouts_match_upstream_at_ffhq_size():
    with torch.device("meta"):      # shapes only: no 200 M random weights
        models = {"BackboneEncoder": BackboneEncoder(6, 18), "Encoder4Editing": Encoder4Editing(3, 18),
                  "GradualStyleEncoder": GradualStyleEncoder(3, 18)}
        arcface = ArcFace()
    for kind, model in models.items():
        input_nc = 6 if kind == "BackboneEncoder" else 3
        assert shapes_of(model) == upstream_encoder_shapes(kind, input_nc, 18), kind
    assert shapes_of(arcface) == upstream_arcface_shapes()
    assert stage_ends()[1:] == [6, 20, 23]      # the pyramid taps c1, c2, c3
    assert "body.0.shortcut_layer.0.weight" not in upstream_irse_shapes(3)   # 64 → 64: a MaxPool


def test_weights_registry_has_the_three_files():
    from helpers.weights import get_spec
    assert get_spec("restyle-psp-ffhq").format == "restyle-psp"
    assert get_spec("e4e-ffhq").format == "e4e"
    assert get_spec("arcface-ir-se50").format == "arcface-ir-se50"


# --------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def restyle(tmp_path_factory):
    """A ReStyle-pSp file: opts as upstream stores them, including the training device."""
    torch.manual_seed(0)
    encoder, decoder = BackboneEncoder(6, N_STYLES), Generator(32, 512, **SMALL_DECODER)
    randomise_batchnorm(encoder, 0)
    opts = {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 32,
            "n_styles": N_STYLES, "device": "cuda:0", "n_iters_per_batch": 5}
    ckpt = encoder_checkpoint(encoder, decoder, opts, seed=1)
    path = tmp_path_factory.mktemp("restyle") / "restyle_psp_ffhq_encode.pt"
    torch.save(ckpt, path)
    yield path, ckpt
    path.unlink()           # 400 MB: not left behind in pytest's kept temporary folders


@pytest.fixture(scope="module")
def e4e(tmp_path_factory):
    """An e4e file: its opts carry ``stylegan_size``, not ``output_size``/``n_styles``/``input_nc``;
    its decoder lacks the FIR kernel buffers, as some public copies do (NOTES §2)."""
    torch.manual_seed(2)
    encoder, decoder = Encoder4Editing(3, N_STYLES), Generator(32, 512, **SMALL_DECODER)
    randomise_batchnorm(encoder, 2)
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 32, "device": "cuda:0",
            "start_from_latent_avg": True}
    ckpt = encoder_checkpoint(encoder, decoder, opts, seed=3)
    full = len(ckpt["state_dict"])
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items()
                          if not k.endswith(("blur.kernel", "upsample.kernel"))}
    assert len(ckpt["state_dict"]) < full
    path = tmp_path_factory.mktemp("e4e") / "e4e_ffhq_encode.pt"
    torch.save(ckpt, path)
    yield path, ckpt, decoder
    path.unlink()


def _faces(n=2, size=ENCODER_INPUT, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _assert_close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * (1 + b.abs().max().item()))


def test_restyle_loads_ignores_stored_device_and_iterates(restyle):
    path, ckpt = restyle
    model = load_encoder(path, "cpu", decoder_config=SMALL_DECODER, input_size=ENCODER_INPUT)
    # the stored 'cuda:0' was not used: everything is where we asked, on a machine without CUDA too
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model.latent_avg.device.type == "cpu" and model.iterations == 5
    for key in ("encoder.styles.7.linear.weight", "encoder.body.23.res_layer.4.running_var",
                "decoder.convs.0.conv.weight"):
        torch.testing.assert_close(model.state_dict()[key], ckpt["state_dict"][key], rtol=0, atol=0)
    torch.testing.assert_close(model.latent_avg, ckpt["latent_avg"])

    faces = _faces()
    out = model.invert(faces)
    assert out.codes.shape == (2, N_STYLES, 512) and len(out.steps) == 5
    assert out.images.shape == (2, 3, ENCODER_INPUT, ENCODER_INPUT)
    # ReStyle's loop: start at the average image/code, add the encoder's residual each step
    def render(code):
        return F.adaptive_avg_pool2d(model.decoder.synthesis(code, noise_mode="const"), ENCODER_INPUT)

    with torch.no_grad():
        code, recon = ckpt["latent_avg"].expand(2, -1, -1), model.average_image().expand(2, -1, -1, -1)
        for step in out.steps[:2]:
            code = code + model.encoder(torch.cat([faces, recon], 1))
            _assert_close(step, code)
            recon = render(code)
        last = out.steps[-2] + model.encoder(torch.cat([faces, render(out.steps[-2])], 1))
    _assert_close(out.steps[-1], last)
    _assert_close(out.codes, last)
    _assert_close(out.images, render(last))
    assert not torch.equal(out.steps[0], out.steps[-1])
    # an input at another size is resized to the encoder's
    assert model.invert(_faces(1, 2 * ENCODER_INPUT), iterations=1).codes.shape == (1, N_STYLES, 512)


def test_e4e_is_one_pass_w0_plus_deltas_plus_average(e4e):
    path, ckpt, decoder = e4e
    model = load_encoder(path, "cpu", decoder_config=SMALL_DECODER, input_size=ENCODER_INPUT)
    assert model.iterations == 1 and next(model.parameters()).device.type == "cpu"
    # the missing FIR kernels are the deterministic ones
    torch.testing.assert_close(model.decoder.convs[0].conv.blur.kernel, decoder.convs[0].conv.blur.kernel)
    torch.testing.assert_close(model.decoder.to_rgbs[0].upsample.kernel, decoder.to_rgbs[0].upsample.kernel)
    faces = _faces(seed=1)
    out = model.invert(faces)
    assert out.codes.shape == (2, N_STYLES, 512) and len(out.steps) == 1
    enc = model.encoder
    with torch.no_grad():
        levels = enc.level_features(faces)
        w0 = enc.styles[0](levels[0])
        _assert_close(out.codes[:, 0], w0 + ckpt["latent_avg"][0])
        # entry 3 reads the middle (p2) map, entry 7 the fine (p1) map: w0 + delta_i + avg_i
        for i, level in ((1, 0), (3, 1), (7, 2)):
            _assert_close(out.codes[:, i], w0 + enc.styles[i](levels[level]) + ckpt["latent_avg"][i])
        assert [tuple(f.shape[-2:]) for f in levels] == [(4, 4), (8, 8), (16, 16)]   # 64 px input


def test_missing_unexpected_and_misshaped_keys_are_refused(restyle, tmp_path):
    _, ckpt = restyle
    bad = {k: v for k, v in ckpt["state_dict"].items() if k != "encoder.styles.5.linear.bias"}
    bad["encoder.extra.weight"] = torch.zeros(1)
    bad["encoder.input_layer.0.weight"] = torch.zeros(64, 3, 3, 3)      # ReStyle takes 6 channels
    path = tmp_path / "bad.pt"
    torch.save({**ckpt, "state_dict": bad}, path)
    with pytest.raises(ValueError) as err:
        load_encoder(path, decoder_config=SMALL_DECODER, input_size=ENCODER_INPUT)
    path.unlink()
    message = str(err.value)
    for words in ("missing keys ['encoder.styles.5.linear.bias']", "unexpected keys ['encoder.extra.weight']",
                  "encoder.input_layer.0.weight: file (64, 3, 3, 3) vs model (64, 6, 3, 3)",
                  "fetch it again"):
        assert words in message, message


def test_unknown_encoder_type_and_bad_files_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}, "opts": {"encoder_type": "ProgressiveBackboneEncoder",
                                           "output_size": 32}, "latent_avg": torch.zeros(8, 512)}, path)
    with pytest.raises(ValueError, match="ProgressiveBackboneEncoder.*BackboneEncoder, Encoder4Editing"):
        load_encoder(path)
    torch.save({"g_ema": {}, "latent_avg": torch.zeros(512)}, path)
    with pytest.raises(ValueError, match="not a pSp/e4e/ReStyle checkpoint"):
        load_encoder(path)
    path.write_text("<!doctype html><html>quota exceeded</html>")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_encoder(path)


# --------------------------------------------------------------------------- ArcFace
def test_arcface_loads_a_legacy_state_dict_and_embeds(tmp_path):
    torch.manual_seed(4)
    model = ArcFace()
    randomise_batchnorm(model, 4)
    # TreB1eN's file predates BatchNorm's num_batches_tracked counters
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "model_ir_se50.pth"
    torch.save(state, path)
    loaded = load_arcface(path, "cpu")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    torch.testing.assert_close(loaded.output_layer[3].weight, state["output_layer.3.weight"])

    images = _faces(1, 256, seed=5)
    emb = identity_embedding(loaded, images)
    assert emb.shape == (1, 512)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(1))
    # pSp's IDLoss preprocessing: crop rows 35:223, columns 32:220, average-pool to 112
    with torch.no_grad():
        manual = loaded(F.adaptive_avg_pool2d(images[:, :, 35:223, 32:220], 112))
    _assert_close(emb, manual)
    # larger images are first average-pooled to 256 px (StyleCLIP)
    _assert_close(identity_embedding(loaded, F.interpolate(images, scale_factor=2, mode="nearest")), emb)

    del state["output_layer.3.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys \['output_layer\.3\.weight'\]"):
        load_arcface(path)
    path.unlink()


def test_the_ffhq_world_falls_back_to_e4e_when_restyle_cannot_be_fetched(e4e, tmp_path,
                                                                         monkeypatch):
    """No ReStyle mirror answers: the encoder is e4e (verified hash), with a warning saying so."""
    import helpers.weights
    from helpers.worlds.ffhq import world as ffhq_world
    from ffhq_fakes import SMALL_CONFIG, generator_checkpoint
    e4e_path, _, decoder = e4e
    torch.save(generator_checkpoint(decoder), tmp_path / "g.pt")
    asked = []

    def fetch(name, *, allow_unverified=False, **kw):
        asked.append(name)
        if name == "restyle-psp-ffhq":
            raise helpers.weights.WeightsError("Could not fetch weights 'restyle-psp-ffhq'")
        return {"stylegan2-ffhq": tmp_path / "g.pt", "e4e-ffhq": e4e_path}[name]

    monkeypatch.setattr(helpers.weights, "fetch", fetch)
    world = ffhq_world.load("cpu", config=SMALL_CONFIG, encoder_input=ENCODER_INPUT)
    with pytest.warns(RuntimeWarning, match="e4e encoder stands in"):
        encoder = world.encoder
    assert isinstance(encoder.encoder, Encoder4Editing)
    assert asked == ["stylegan2-ffhq", "restyle-psp-ffhq", "e4e-ffhq"]
