"""The factor meter: a small CNN that reads every factor off a synthfaces image.

Taught in ``notebooks/00_synthfaces.ipynb``. The world has two, trained apart, so that what
scores is never what was optimised against:

* the **guide** (``data/synthfaces_meter.pt``, width 32, seed 0) takes part in optimisations: the
  inversions' feature loss, the identity loss of text anchors, the oracle guide, InterFaceGAN's labels;
* the **judge** (``data/synthfaces_judge.pt``, width 24, seed 1: its own initialisation and its own
  renders) only scores: every factor the book reports, and the feature space of the GAN's Fréchet
  distance. Their agreement on GAN images is measured (``quality.meter_agreement``).

Trained by ``python -m helpers.worlds.synthfaces.train_meter`` (the guide) and ``… --judge``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ...shipped import DATA, verified
from . import renderer
from .renderer import FACTORS, IDENTITY_FACTORS, STYLES

METER_PATH = DATA / "synthfaces_meter.pt"
JUDGE_PATH = DATA / "synthfaces_judge.pt"
JUDGE = {"width": 24, "seed": 1}   # the judge's own architecture width and training seed
HELD_OUT_SEED = 424242  # renders for evaluation use seeds no training batch uses
FOLD_BATCHNORM = True   # in eval mode, fold each BatchNorm into its conv (same map, faster)


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class FactorMeter(nn.Module):
    """Image [batch, 3, 64, 64] in [-1, 1] → factors [batch, len(FACTORS)] in [0, 1].

    Other sizes are resized to 64 px first. ``features`` gives the 256-d penultimate layer.
    """

    size = 64

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 3 * w),
                                  nn.Conv2d(3 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 16, 256), nn.ReLU(inplace=True))
        self.head = nn.Linear(256, len(FACTORS))

    def _prepare(self, images):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [batch, 3, H, W], got {tuple(images.shape)}")
        if images.shape[-1] != self.size or images.shape[-2] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear",
                                   align_corners=False, antialias=True)
        if images.device.type == "cpu":        # CPU convolutions are up to 3x faster in this layout
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def features(self, images):
        x = self._prepare(images)
        return self.neck(self.body(x) if self.training or not FOLD_BATCHNORM else self._folded_body(x))

    def _folded_body(self, x):
        """The body in eval mode with each BatchNorm folded into the conv before it: the same affine
        map, one pass over the feature maps fewer forward and backward (the text anchors' gradient)."""
        layers = [m for block in self.body for m in (block if isinstance(block, nn.Sequential) else [block])]
        i = 0
        while i < len(layers):
            m, bn = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(m, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
                x = F.conv2d(x, m.weight * scale[:, None, None, None],
                             (m.bias - bn.running_mean) * scale + bn.bias, m.stride, m.padding)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def forward(self, images):
        return torch.sigmoid(self.head(self.features(images)))

    @torch.no_grad()
    def measure(self, images, batch: int = 256) -> torch.Tensor:
        """Factors of many images, in batches, without gradients."""
        self.eval()
        dev = next(self.parameters()).device
        return torch.cat([self(images[i:i + batch].to(dev)).cpu() for i in range(0, len(images), batch)])

    def identity_embedding(self, images) -> torch.Tensor:
        """Predicted identity factors around their mid-range (so cosines compare), differentiable."""
        idx = [FACTORS.index(n) for n in IDENTITY_FACTORS]
        return self(images)[:, idx] - 0.5


def scoring_meter(world) -> FactorMeter:
    """The meter whose readings and features score: the world's judge, or its meter where it has
    none (a stand-in world in a test)."""
    return world.judge if getattr(world, "judge", None) is not None else world.meter


def held_out(n: int = 256, style: str = "photo", seed: int = HELD_OUT_SEED):
    """Renders the meter never saw: (images, factors)."""
    f = renderer.sample_factors(n, seed=seed)
    return renderer.render(f, style=style, seeds=seed), f


def r2_scores(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """Coefficient of determination per factor."""
    ss_res = ((pred - true) ** 2).sum(0)
    ss_tot = ((true - true.mean(0)) ** 2).sum(0)
    return {name: float(1 - ss_res[i] / ss_tot[i]) for i, name in enumerate(FACTORS)}


def evaluate(meter: FactorMeter, n: int = 256) -> dict[str, dict[str, float]]:
    """R² per factor on held-out renders of every style."""
    out = {}
    for k, style in enumerate(STYLES):
        images, f = held_out(n, style, HELD_OUT_SEED + k)
        out[style] = r2_scores(meter.measure(images), f)
    return out


def load_meter(path=None, device="cpu", judge: bool = False) -> FactorMeter:
    """A meter in eval mode, frozen; by default the shipped guide (or, with ``judge``, the shipped
    judge), hash-checked."""
    if path is None:
        path = verified((JUDGE_PATH if judge else METER_PATH).name)
    state = torch.load(path, map_location="cpu", weights_only=True)
    meter = FactorMeter(**state.get("config", {}))
    meter.load_state_dict(state["model"])
    return meter.eval().requires_grad_(False).to(device)
