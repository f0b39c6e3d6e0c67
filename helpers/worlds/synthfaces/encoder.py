"""The synthfaces encoder: an e4e-style network from a 64 px image to a W+ code.

Taught in ``notebooks/02_inversion.ipynb``. The paper inverts with ReStyle-pSp; e4e (Tov et al. 2021)
is its one-pass sibling. Ours has e4e's shape at the scale of the synthfaces generator:

* a small CNN reads the image into a feature pyramid (16×16, 8×8 and 4×4 maps at a 64 px input);
* as in e4e's ``GradualStyleEncoder`` / ``Encoder4Editing``, the coarse W+ entries (4–8 px layers)
  read the deepest map, the middle ones (16–32 px) that map upsampled and added to the next
  shallower one (a feature pyramid network), the fine ones (≥ 64 px) the shallowest merge;
* the code is ``latent_avg + w₀ + Δᵢ``: one shared offset w₀ from the coarse map and a per-entry
  Δᵢ (Δ₀ = 0), which keeps codes near W and so easy to edit.

Trained by ``python -m helpers.worlds.synthfaces.train_encoder`` (how, in its docstring). The export
names the sha256 of the generator it was trained against: after the GAN is retrained, the world
warns until the encoder is retrained. :func:`evaluate` measures reconstructions on held-out images.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...latent_spaces import layer_groups
from ...shipped import DATA, verified
from . import renderer

ENCODER_PATH = DATA / "synthfaces_encoder.pt"
STATE_PATH = DATA / "training" / "encoder_state.pt"
HELD_OUT_SEED = 515151          # evaluation renders and samples; training seeds start at 10⁹
TRAIN_SEED_BASE = 1_000_000_000
LEVELS = ("coarse", "middle", "fine")


class GeneratorChangedWarning(UserWarning):
    """The encoder was trained against another generator than the one loaded."""


# --------------------------------------------------------------------------- the network
def _down(cin: int, cout: int) -> nn.Sequential:
    """Conv 3×3 then a strided conv 3×3: half the resolution, ``cout`` channels."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
                         nn.Conv2d(cout, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2))


class StyleHead(nn.Module):
    """Feature map [n, c, s, s] → one W+ offset [n, style_dim] (e4e's ``GradualStyleBlock``):
    log2(s) strided 3×3 convs shrink the map to 1×1, then a linear layer."""

    def __init__(self, spatial: int, channels: int, style_dim: int):
        super().__init__()
        layers = []
        for _ in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(channels, style_dim)

    def forward(self, features):
        return self.linear(self.convs(features).flatten(1))


def upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear resize of ``top`` to ``lateral``'s size, plus it (as e4e does)."""
    return F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class SynthfacesEncoder(nn.Module):
    """Image [n, 3, H, W] in [-1, 1] → W+ code [n, num_ws, style_dim] (e4e layout, 64 px input).

    ``widths``: channels of the stem (64 px) and of the 32, 16, 8 and 4 px stages; the 16, 8 and
    4 px maps are the pyramid's fine, middle and coarse taps. ``head_width``: channels of the merged
    maps the style heads read. Other input sizes are resized to ``size`` first.
    """

    def __init__(self, num_ws: int, style_dim: int, size: int = 64,
                 widths=(32, 48, 64, 96, 128), head_width: int = 64, image_size: int | None = None):
        super().__init__()
        self.num_ws, self.style_dim, self.size = num_ws, style_dim, size
        self.config = dict(num_ws=num_ws, style_dim=style_dim, size=size, widths=list(widths),
                           head_width=head_width, image_size=image_size or size)
        w = list(widths)
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, padding=1), nn.LeakyReLU(0.2))
        self.stages = nn.ModuleList(_down(w[i], w[i + 1]) for i in range(4))   # 32, 16, 8, 4 px
        self.toplayer = nn.Conv2d(w[4], head_width, 1)                          # c3 (4 px)
        self.latlayer1 = nn.Conv2d(w[3], head_width, 1)                         # c2 (8 px)
        self.latlayer2 = nn.Conv2d(w[2], head_width, 1)                         # c1 (16 px)
        # which map each entry reads, by the generator resolution it drives (coarse 4–8 px, …)
        groups = layer_groups(num_ws, image_size or size)
        self.entry_level = [next(k for k, g in enumerate(LEVELS) if i in groups[g]) for i in range(num_ws)]
        spatial = [size // 16, size // 8, size // 4]
        self.styles = nn.ModuleList(StyleHead(spatial[lvl], head_width, style_dim)
                                    for lvl in self.entry_level)
        for head in self.styles[1:]:     # Δᵢ start at zero: the first guess is w₀ for every entry
            nn.init.zeros_(head.linear.weight)
            nn.init.zeros_(head.linear.bias)
        self.register_buffer("latent_avg", torch.zeros(style_dim))

    def pyramid(self, images):
        """[n, 3, 64, 64] → the maps the heads read: [coarse 4 px, middle 8 px, fine 16 px]."""
        x = self.stem(images)
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        _, c1, c2, c3 = taps
        p3 = self.toplayer(c3)
        p2 = upsample_add(p3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        return [p3, p2, p1]

    def forward(self, images):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [n, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        if images.shape[-2:] != (self.size, self.size):
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear",
                                   align_corners=False, antialias=True)
        levels = self.pyramid(images)
        w0 = self.styles[0](levels[self.entry_level[0]])
        deltas = [torch.zeros_like(w0)] + [self.styles[i](levels[self.entry_level[i]])
                                           for i in range(1, self.num_ws)]
        return self.latent_avg + w0[:, None] + torch.stack(deltas, 1)

    @torch.no_grad()
    def encode(self, images, batch: int = 64) -> torch.Tensor:
        """Many images → W+ codes [n, num_ws, style_dim], in batches, without gradients."""
        dev = self.latent_avg.device
        return torch.cat([self(images[i:i + batch].to(dev, torch.float32))
                          for i in range(0, len(images), batch)])


# --------------------------------------------------------------------------- loading
def load_encoder(path=None, device="cpu", generator_sha256: str | None = None) -> SynthfacesEncoder:
    """The encoder in eval mode, frozen; by default the shipped one, hash-checked.

    With ``generator_sha256`` (the loaded generator's), warns when the encoder was trained against
    another generator: its codes then still start an inversion, but less well.
    """
    path = verified(ENCODER_PATH.name) if path is None else Path(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    config = json.loads(state["config"])
    model = SynthfacesEncoder(**config)
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    model.trained_for = state.get("generator_sha256")
    if generator_sha256 is not None and model.trained_for not in (None, generator_sha256):
        command = json.loads(state["made_by"]) if "made_by" in state else "python -m helpers.worlds.synthfaces.encoder"
        warnings.warn(f"{path.name} was trained against generator sha256 {model.trained_for[:12]}…, but "
                      f"the loaded generator is {generator_sha256[:12]}… (the GAN was retrained): "
                      f"encodings are rougher until the encoder is retrained with `{command}` (or the saved "
                      "run is continued on the new generator with --resume and a larger --steps)",
                      GeneratorChangedWarning, stacklevel=2)
    return model.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------- evaluation
def renders(n: int, seed: int, style: str = "photo", size: int = 64):
    """(images [n, 3, size, size], factors [n, F]) from the renderer, a fixed function of ``seed``."""
    f = renderer.sample_factors(n, seed=seed)
    return renderer.render(f, style=style, size=size, seeds=seed), f


@torch.no_grad()
def _reconstruct(world, encoder, images, refine_steps: int, lr: float):
    codes = encoder.encode(images.to(world.device))
    if refine_steps:
        from ...inversion import invert
        with torch.enable_grad():
            codes = invert(world, images, init=codes, steps=refine_steps, lr=lr,
                           feature_fn=world.meter.features, progress=False).codes
    return codes, world.synthesize(codes)


def evaluate(world, encoder=None, n: int = 64, refine_steps: int = 0, seed: int = HELD_OUT_SEED,
             lr: float = 0.03) -> dict:
    """Reconstruction quality on images the encoder never saw, per renderer style and on samples.

    For each of :data:`renderer.STYLES` (held-out renders) and for generator samples (ψ = 0.7):
    ``recon_mse`` (pixel MSE of G(encode(x)) vs x, images in [-1, 1]), ``factor_error`` (mean
    |meter(G(encode(x))) − meter(x)| over all factors) and ``micromotion_error`` (the same over the
    five micromotions); for samples also ``latent_mse`` against the true code. ``refine_steps`` > 0
    adds that many optimisation steps (learning rate ``lr``) from the encoder's guess, as
    ``world.invert`` does.
    """
    encoder = world.encoder if encoder is None else encoder
    motion = [renderer.FACTORS.index(m) for m in renderer.MICROMOTION_FACTORS]
    out = {}

    def scores(images, recon):
        a, b = world.measure(images), world.measure(recon)
        return {"recon_mse": float((recon - images.cpu()).pow(2).mean()),
                "factor_error": float((a - b).abs().mean()),
                "micromotion_error": float((a - b)[:, motion].abs().mean())}

    for k, style in enumerate(renderer.STYLES):
        images, _ = renders(n, seed + k, style, world.resolution)
        out[style] = scores(images, _reconstruct(world, encoder, images, refine_steps, lr)[1])
    true_codes = world.sample_wplus(n, seed=seed + 99)
    images = world.synthesize(true_codes)
    codes, recon = _reconstruct(world, encoder, images, refine_steps, lr)
    out["generator samples"] = {**scores(images, recon),
                                "latent_mse": float((codes.cpu() - true_codes.cpu()).pow(2).mean())}
    return out


def format_report(report: dict) -> str:
    rows = [f"  {'':18s} {'recon MSE':>10s} {'factor err':>11s} {'motion err':>11s}"]
    for name, s in report.items():
        rows.append(f"  {name:18s} {s['recon_mse']:10.4f} {s['factor_error']:11.4f} "
                    f"{s['micromotion_error']:11.4f}")
    return "\n".join(rows)
