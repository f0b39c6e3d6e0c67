"""The factor meter: a small CNN that reads every factor off a synthfaces image.

Taught in ``notebooks/00_synthfaces.ipynb``. It is the book's ground-truth instrument: it scores
edits (did the smile grow? did the identity stay?), gives the feature space of the Fréchet
distance that measures the GAN, and its identity outputs are the identity embedding of this world.

    python -m helpers.worlds.synthfaces.meter --steps 3000     # trains, writes data/synthfaces_meter.pt
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...files import atomic_write, snapshot
from ...shipped import DATA, record, verified
from . import renderer
from .renderer import FACTORS, IDENTITY_FACTORS, MICROMOTION_FACTORS, STYLES

METER_PATH = DATA / "synthfaces_meter.pt"
STYLE_WEIGHTS = {"photo": 0.4, "painting": 0.2, "cartoon": 0.2, "sculpture": 0.2}
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


def training_batch(step: int, batch: int, seed: int = 0):
    """Renders in all styles with their true factors; a fixed function of (seed, step)."""
    rng = np.random.RandomState((seed * 7_000_003 + step) % (2 ** 31))
    f = renderer.sample_factors(batch, seed=int(rng.randint(2 ** 31)))
    styles = rng.choice(list(STYLE_WEIGHTS), size=batch, p=list(STYLE_WEIGHTS.values()))
    images = torch.empty(batch, 3, 64, 64)
    for style in STYLES:
        idx = np.flatnonzero(styles == style)
        if len(idx):
            images[idx] = renderer.render(f[idx], style=style, seeds=int(rng.randint(2 ** 30)) + idx)
    # small shifts and grain so the meter also reads generator samples and inversions
    dx, dy = rng.randint(-2, 3, size=2)
    images = torch.roll(images, shifts=(int(dy), int(dx)), dims=(2, 3))
    images = images + 0.03 * torch.from_numpy(rng.randn(*images.shape).astype(np.float32))
    return images, f


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


def load_meter(path=None, device="cpu") -> FactorMeter:
    """The meter in eval mode, frozen; by default the shipped one, hash-checked."""
    path = verified(METER_PATH.name) if path is None else path
    state = torch.load(path, map_location="cpu", weights_only=True)
    meter = FactorMeter(**state.get("config", {}))
    meter.load_state_dict(state["model"])
    return meter.eval().requires_grad_(False).to(device)


def train(steps: int = 3000, batch: int = 96, lr: float = 2e-3, seed: int = 0, out=METER_PATH,
          threads: int = 1, resume=None) -> dict:
    """Train on fresh renders every step (or continue from the meter at ``resume``); evaluate; save."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    meter = FactorMeter()
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=True)
        meter.load_state_dict(state["model"])
        seed += 1  # new batches, not a replay of the first run
    opt = torch.optim.AdamW(meter.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    meter.train()
    bar = tqdm(range(steps), desc="meter", mininterval=5)
    for step in bar:
        images, f = training_batch(step, batch, seed)
        loss = F.mse_loss(meter(images), f)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    meter.eval()
    report = evaluate(meter)
    made_by = f"python -m helpers.worlds.synthfaces.meter --steps {steps} --batch {batch} --lr {lr}"
    if resume is not None:
        previous = json.loads(state.get("made_by", '"python -m helpers.worlds.synthfaces.meter --steps 2000"'))
        made_by = f"{previous} && {made_by} --resume"
    payload = {"model": meter.state_dict(), "config": {}, "steps": steps, "batch": batch,
               "r2": json.dumps(report), "made_by": json.dumps(made_by)}
    atomic_write(out, lambda fh: torch.save(payload, fh))
    if Path(out).resolve().parent == DATA:
        record(out, made_by)
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the synthfaces factor meter on renders of all styles.")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=96)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(METER_PATH))
    p.add_argument("--resume", action="store_true", help="continue from the meter at --out")
    a = p.parse_args(argv)
    t = time.time()
    if not a.resume:
        report = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads)
    elif not Path(a.out).is_file():
        print(f"meter: no meter at {a.out} to continue from; train one first (without --resume) "
              "or point --out at an existing meter", file=sys.stderr)
        return 2
    else:
        with snapshot(a.out) as start:
            report = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads, resume=start)
    print(f"trained in {time.time() - t:.0f} s; held-out R²:")
    for style, scores in report.items():
        motion = {k: round(scores[k], 3) for k in MICROMOTION_FACTORS}
        ident = np.mean([scores[k] for k in IDENTITY_FACTORS])
        print(f"  {style:10s} micromotions {motion}  identity mean {ident:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
