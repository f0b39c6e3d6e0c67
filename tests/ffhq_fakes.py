"""Small random-weight checkpoints in the upstream file layouts of the ffhq world's models.

Shared by ``test_ffhq_models.py`` (the loaders) and ``test_ffhq_world.py`` (the world's wiring). The
IR-SE50 trunk has its one size; only the StyleGAN2 decoder is made small (32 px, 8 W+ entries).
"""
import torch

from helpers.stylegan2 import Generator

SMALL_SIZE = 32
SMALL_DECODER = dict(n_mlp=2, channel_scale=1 / 16)   # 32 px, style_dim 512: 8 W+ entries
SMALL_CONFIG = dict(size=SMALL_SIZE, style_dim=512, channel_multiplier=2, **SMALL_DECODER)
N_STYLES = 8
ENCODER_INPUT = 64                                     # the pooling allows it; 256 upstream


def randomise_batchnorm(module, seed):
    """Non-trivial running statistics, so that loading them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(1 + 0.1 * torch.rand(m.running_var.shape, generator=g))


def encoder_checkpoint(encoder, decoder, opts, seed):
    """``{"state_dict", "opts", "latent_avg"}`` with ``encoder.*`` / ``decoder.*`` keys (pSp/e4e/ReStyle)."""
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    latent_avg = torch.randn(N_STYLES, 512, generator=torch.Generator().manual_seed(seed)) * 0.1
    return {"state_dict": state, "opts": opts, "latent_avg": latent_avg}


def small_decoder(seed=0):
    torch.manual_seed(seed)
    return Generator(SMALL_SIZE, 512, **SMALL_DECODER).eval()


def restyle_checkpoint(decoder, seed=0):
    """A ReStyle-pSp file's contents: opts as upstream stores them, including the training device."""
    from helpers.worlds.ffhq import BackboneEncoder
    torch.manual_seed(seed)
    encoder = BackboneEncoder(6, N_STYLES)
    randomise_batchnorm(encoder, seed)
    opts = {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": SMALL_SIZE,
            "n_styles": N_STYLES, "device": "cuda:0", "n_iters_per_batch": 5}
    return encoder_checkpoint(encoder, decoder, opts, seed=seed + 1)


def generator_checkpoint(decoder):
    """A rosinality StyleGAN2 file without a config entry, as ``stylegan2-ffhq-config-f.pt``."""
    return {"g_ema": decoder.state_dict(), "latent_avg": decoder.mean_latent(256).reshape(-1)}


def arcface_state(seed=4):
    """TreB1eN's ``model_ir_se50.pth``: a bare state dict, without BatchNorm step counters."""
    from helpers.worlds.ffhq import ArcFace
    torch.manual_seed(seed)
    model = ArcFace()
    randomise_batchnorm(model, seed)
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def write_checkpoints(folder, seed: int = 7) -> dict:
    """The three downloaded files of the ffhq world, small and random, written under ``folder``:
    ``{registry name: path}`` (ReStyle and the generator share one decoder, as upstream)."""
    from pathlib import Path
    folder = Path(folder)
    decoder = small_decoder(seed=seed)
    paths = {"stylegan2-ffhq": folder / "g.pt", "restyle-psp-ffhq": folder / "restyle.pt",
             "arcface-ir-se50": folder / "arcface.pth"}
    torch.save(generator_checkpoint(decoder), paths["stylegan2-ffhq"])
    torch.save(restyle_checkpoint(decoder, seed=0), paths["restyle-psp-ffhq"])
    torch.save(arcface_state(seed=4), paths["arcface-ir-se50"])
    return paths


def small_clip(device="cpu"):
    """The ffhq world's CLIP stand-in: the synthfaces text model's architecture, random, seeded."""
    from helpers.worlds.synthfaces import text_model
    torch.manual_seed(0)
    return text_model.build().eval().requires_grad_(False).to(device)


class SmallIdentity(torch.nn.Module):
    """A stand-in for ArcFace in whole-notebook runs: same input (112 px face) and output (unit
    512-d), a thousandth of the arithmetic. ArcFace itself is tested by the loaders' tests."""

    def __init__(self, seed: int = 5):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 8, 8, stride=8)
        self.linear = torch.nn.Linear(8 * 14 * 14, 512)

    def forward(self, faces):
        return torch.nn.functional.normalize(self.linear(self.conv(faces).flatten(1)), dim=1)


LOADED = []      # one entry per ffhq world built by install_offline_ffhq's loader in this process


def install_offline_ffhq(paths: dict, small_identity: bool = True):
    """Make ``worlds.load("ffhq")`` in this process build the ffhq world from ``paths`` (see
    :func:`write_checkpoints`): no download, a 32 px decoder, a small random CLIP, and (by default)
    :class:`SmallIdentity` for ArcFace. A notebook run on the ffhq world calls this in its first cell."""
    from pathlib import Path

    import helpers.weights
    from helpers.worlds.ffhq import world as ffhq_world
    paths = {name: Path(p) for name, p in paths.items()}
    load_ffhq = ffhq_world.load

    def fetch(name, *, allow_unverified=False, **kw):
        return paths[name]

    def small_ffhq(dev, config=None, encoder_input=None):
        world = load_ffhq(dev, config=SMALL_CONFIG, encoder_input=ENCODER_INPUT)
        if small_identity:
            world.identity_model = SmallIdentity().eval().requires_grad_(False).to(dev)
        LOADED.append(world.name)
        return world

    helpers.weights.fetch = fetch
    ffhq_world.load_clip = small_clip
    ffhq_world.load = small_ffhq
