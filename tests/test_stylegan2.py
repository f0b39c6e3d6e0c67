"""The generator: checkpoint layout of the rosinality format, W/W+ semantics, determinism."""
import pytest
import torch

from helpers.stylegan2 import Discriminator, Generator, load_generator, save_generator, z_from_seed


def rosinality_config_f_shapes():
    """Key → shape of ``stylegan2-ffhq-config-f.pt['g_ema']``, written from the format's facts
    (NOTES §2), not from our model: 4–64 px → 512 channels, 128 → 256, 256 → 128, 512 → 64,
    1024 → 32; 18 W+ entries; 17 noise buffers."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    s = 512
    shapes = {}
    for i in range(1, 9):
        shapes[f"style.{i}.weight"] = (s, s)
        shapes[f"style.{i}.bias"] = (s,)
    shapes["input.input"] = (1, 512, 4, 4)

    def styled(prefix, cin, cout, up):
        shapes[f"{prefix}.conv.weight"] = (1, cout, cin, 3, 3)
        shapes[f"{prefix}.conv.modulation.weight"] = (cin, s)
        shapes[f"{prefix}.conv.modulation.bias"] = (cin,)
        shapes[f"{prefix}.noise.weight"] = (1,)
        shapes[f"{prefix}.activate.bias"] = (cout,)
        if up:
            shapes[f"{prefix}.conv.blur.kernel"] = (4, 4)

    def to_rgb(prefix, cin, up):
        shapes[f"{prefix}.conv.weight"] = (1, 3, cin, 1, 1)
        shapes[f"{prefix}.conv.modulation.weight"] = (cin, s)
        shapes[f"{prefix}.conv.modulation.bias"] = (cin,)
        shapes[f"{prefix}.bias"] = (1, 3, 1, 1)
        if up:
            shapes[f"{prefix}.upsample.kernel"] = (4, 4)

    styled("conv1", 512, 512, False)
    to_rgb("to_rgb1", 512, False)
    res = [8, 16, 32, 64, 128, 256, 512, 1024]
    prev = 512
    for k, r in enumerate(res):
        styled(f"convs.{2 * k}", prev, ch[r], True)
        styled(f"convs.{2 * k + 1}", ch[r], ch[r], False)
        to_rgb(f"to_rgbs.{k}", ch[r], True)
        prev = ch[r]
    for i in range(17):
        r = 2 ** ((i + 5) // 2)
        shapes[f"noises.noise_{i}"] = (1, 1, r, r)
    return shapes


@pytest.fixture(scope="module")
def config_f():
    return Generator(1024, 512, 8, channel_multiplier=2)


def test_config_f_has_exact_rosinality_layout(config_f):
    expected = rosinality_config_f_shapes()
    ours = {k: tuple(v.shape) for k, v in config_f.state_dict().items()}
    assert set(ours) == set(expected), (set(ours) ^ set(expected))
    assert ours == expected
    assert config_f.num_ws == 18


def small(**kw):
    return Generator(32, style_dim=32, n_mlp=2, channel_multiplier=1, channel_scale=0.0625, **kw)


def test_checkpoint_round_trip(tmp_path):
    g = small()
    path = tmp_path / "g.pt"
    save_generator(path, g)
    g2 = load_generator(path)
    avg = g2.latent_avg
    z = z_from_seed(3, 2, 32)
    assert torch.equal(g(z), g2(z))
    assert avg.shape == (32,)


def test_latent_avg_travels_inside_the_generator(tmp_path):
    """The truncation centre is a buffer of the generator, outside its state dict, written
    beside ``g_ema`` and read back; a wrong-sized one is named; ``print(G)`` says what each layer is."""
    g = small()
    assert "latent_avg" not in g.state_dict() and not g.latent_avg.any()
    avg = g.set_latent_avg(256)
    torch.testing.assert_close(avg, g.mean_latent(256)[0])
    path = tmp_path / "g.pt"
    save_generator(path, g)
    assert torch.equal(torch.load(path, weights_only=True)["latent_avg"], avg)
    assert torch.equal(load_generator(path).latent_avg, avg)
    payload = torch.load(path, weights_only=True)
    del payload["latent_avg"]
    torch.save(payload, tmp_path / "no_avg.pt")      # recomputed from 4096 seeded samples
    torch.testing.assert_close(load_generator(tmp_path / "no_avg.pt").latent_avg, g.mean_latent()[0])
    torch.save(dict(payload, latent_avg=torch.zeros(7)), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"latent_avg has shape \(7,\), expected \[32\]"):
        load_generator(tmp_path / "bad.pt")
    text = repr(g)
    assert text.startswith("Generator(\n  32 px, style_dim 32, 2-layer mapping, W+ of 8 entries")
    assert "ModulatedConv2d(\n        32 → 32, 3×3, upsample ×2, demodulate" in text
    assert "EqualLinear(32 → 32, lr_mul=0.01, leaky ReLU)" in text
    assert "ModulatedConv2d(\n      32 → 3, 1×1\n" in text


def test_missing_kernel_buffers_are_tolerated(tmp_path):
    g = small()
    state = {k: v for k, v in g.state_dict().items() if not k.endswith("kernel")}
    torch.save({"g_ema": state, "latent_avg": torch.zeros(32), "config": g.config}, tmp_path / "g.pt")
    g2 = load_generator(tmp_path / "g.pt")
    z = z_from_seed(0, 1, 32)
    assert torch.allclose(g(z), g2(z))


def test_missing_key_and_wrong_shape_are_named(tmp_path):
    g = small()
    state = dict(g.state_dict())
    del state["conv1.noise.weight"]
    torch.save({"g_ema": state, "config": g.config}, tmp_path / "a.pt")
    with pytest.raises(ValueError, match=r"missing keys \['conv1.noise.weight'\]"):
        load_generator(tmp_path / "a.pt")
    state = dict(g.state_dict())
    state["input.input"] = torch.zeros(1, 7, 4, 4)
    torch.save({"g_ema": state, "config": g.config}, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="wrong shapes.*input.input"):
        load_generator(tmp_path / "b.pt")
    state = dict(g.state_dict(), extra_thing=torch.zeros(1))
    torch.save({"g_ema": state, "config": g.config}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="unexpected keys.*extra_thing"):
        load_generator(tmp_path / "c.pt")


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "page.pt").write_text("<!DOCTYPE html><html>quota exceeded</html>")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_generator(tmp_path / "page.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no 'g_ema'"):
        load_generator(tmp_path / "other.pt")


def test_w_equals_repeated_wplus_and_truncation_one_is_identity():
    g = small().eval()
    w = g.mapping(z_from_seed(1, 3, 32))
    wplus = w[:, None].repeat(1, g.num_ws, 1)
    assert torch.equal(g(w, input_space="w"), g(wplus, input_space="w+"))
    z = z_from_seed(2, 3, 32)
    assert torch.equal(g(z, truncation=1.0), g(z))
    # truncation 0 collapses every sample to the centre
    centre = g.mean_latent(256)
    out = g(z, truncation=0.0, truncation_latent=centre)
    assert torch.allclose(out[0], out[2], atol=1e-5)


def test_seed_gives_bit_identical_images():
    g1, g2 = small(), small()
    g2.load_state_dict(g1.state_dict())
    z = z_from_seed(7, 2, 32)
    assert torch.equal(z, z_from_seed(7, 2, 32))
    assert torch.equal(g1(z), g2(z))
    for name, p in g1.named_parameters():  # noise strengths start at 0: make noise matter
        if name.endswith("noise.weight"):
            p.data.fill_(0.5)
    assert torch.equal(g1(z), g1(z))
    assert not torch.equal(g1(z, noise_mode="random"), g1(z, noise_mode="random"))


def test_fused_and_unfused_modulation_agree():
    """The grouped-conv form (the default on a GPU) and the shared-weight form (CPU) are one
    computation: every modulated conv, upsampling ones included, in values and in gradients."""
    g = small().eval()
    ws = g.latent_to_wplus(z_from_seed(4, 2, 32))
    convs = [m for m in g.modules() if type(m).__name__ == "ModulatedConv2d"]
    assert any(m.upsample for m in convs) and any(not m.demodulate for m in convs)
    for m in convs:
        x = torch.randn(2, m.in_ch, 8, 8, requires_grad=True)
        s = ws[:, 0].detach().clone().requires_grad_(True)
        outs = [m(x, s, fused=f) for f in (True, False)]
        grads = [torch.autograd.grad(o.pow(2).sum(), [x, s]) for o in outs]
        scale = outs[1].abs().max()
        assert (outs[0] - outs[1]).abs().max() < 1e-5 * scale
        for a, b in zip(*grads):
            assert (a - b).abs().max() < 1e-5 * b.abs().max()


def test_cpu_styled_conv_folds_the_elementwise_steps_exactly():
    """On a CPU a styled conv folds demodulation, noise, bias and the activation's gain into one
    scale and one shift: the same values and gradients (input, style, every parameter) as the chain,
    with the stored noise, a per-sample noise and fresh random noise. Seeded: float32 sums in two
    orders differ by ~1e-5 of the largest gradient, so an unlucky draw (1 in 40) grazed the bound."""
    torch.manual_seed(0)
    g = small().eval().requires_grad_(True)
    ws = g.latent_to_wplus(z_from_seed(5, 2, 32)).detach()
    for name, p in g.named_parameters():          # noise strengths and biases start at 0: wake them
        if name.endswith("noise.weight") or name.endswith("activate.bias"):
            p.data.normal_(0, 0.5)
    styled = [m for m in g.modules() if type(m).__name__ == "StyledConv"]
    assert any(m.conv.upsample for m in styled)
    for m in styled:
        x = torch.randn(2, m.conv.in_ch, 8, 8, requires_grad=True)
        s = ws[:, 0].clone().requires_grad_(True)
        size = 16 if m.conv.upsample else 8
        for noise in (torch.randn(1, 1, size, size), torch.randn(2, 1, size, size), None):
            params = [x, s, *m.parameters()]
            torch.manual_seed(0)
            fast = m(x, s, noise)
            torch.manual_seed(0)
            chain = m.activate(m.noise(m.conv(x, s), noise))
            assert (fast - chain).abs().max() < 1e-5 * chain.abs().max()
            for a, b in zip(torch.autograd.grad(fast.pow(2).sum(), params),
                            torch.autograd.grad(chain.pow(2).sum(), params)):
                assert (a - b).abs().max() <= 1e-5 * b.abs().max() + 1e-7


def test_cpu_layout_changes_no_number(monkeypatch):
    """The CPU path computes in channels-last layout; images come back in the default layout and
    equal the default-layout computation, and the FIR filter keeps whichever layout it is given."""
    from helpers.stylegan2 import make_kernel, upfirdn2d
    g = small().eval()
    ws = g.latent_to_wplus(z_from_seed(6, 3, 32))
    layouts = []                 # every styled conv's output, up to the last one, in channels-last
    hooks = [m.register_forward_hook(lambda m, i, out: layouts.append(
        out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()))
        for m in g.convs]
    img = g.synthesis(ws)
    for h in hooks:
        h.remove()
    assert layouts == [True] * len(g.convs)
    assert img.is_contiguous()
    x = torch.randn(2, 5, 8, 8)
    cl = x.contiguous(memory_format=torch.channels_last)
    k = make_kernel((1, 3, 3, 1))
    for up, pad in ((1, (2, 1)), (2, (2, 1))):
        a, b = upfirdn2d(x, k, up=up, pad=pad), upfirdn2d(cl, k, up=up, pad=pad)
        assert a.is_contiguous() and b.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(a, b, atol=1e-6)
    monkeypatch.setattr("helpers.stylegan2.CHANNELS_LAST_ON_CPU", False)
    plain = g.synthesis(ws)
    assert (img - plain).abs().max() < 1e-5


def test_bad_latent_shape_is_clear():
    g = small()
    with pytest.raises(ValueError, match="expected W"):
        g.synthesis(torch.zeros(1, 3, 32))
    with pytest.raises(ValueError, match="input_space"):
        g(torch.zeros(1, 32), input_space="s")


def test_discriminator_scores_a_batch():
    d = Discriminator(32, channel_multiplier=1, channel_scale=0.0625)
    assert d(torch.randn(6, 3, 32, 32)).shape == (6, 1)


def test_ffhq_format_checkpoint_without_config_or_kernels_loads(tmp_path, config_f):
    """A real rosinality file has no 'config', may lack FIR buffers and may carry 'g'/'d' too."""
    from helpers.worlds import FFHQ_CONFIG
    state = {k: v for k, v in config_f.state_dict().items() if not k.endswith("kernel")}
    torch.save({"g_ema": state, "latent_avg": torch.randn(512), "d": {"x": torch.zeros(1)}},
               tmp_path / "stylegan2-ffhq-config-f.pt")
    with pytest.raises(ValueError, match="carries no generator config"):
        load_generator(tmp_path / "stylegan2-ffhq-config-f.pt")
    g = load_generator(tmp_path / "stylegan2-ffhq-config-f.pt", config=FFHQ_CONFIG)
    avg = g.latent_avg
    assert g.num_ws == 18 and avg.shape == (512,)
    assert torch.equal(g.style[1].weight, config_f.style[1].weight)
    assert torch.equal(g.convs[0].conv.blur.kernel, config_f.convs[0].conv.blur.kernel)
