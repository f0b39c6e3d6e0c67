"""The synthfaces encoder: an e4e-style network from a 64 px image to a W+ code, trained here.

Taught in ``notebooks/02_inversion.ipynb``. The paper inverts with ReStyle-pSp; e4e (Tov et al. 2021)
is its one-pass sibling. Ours has e4e's shape at the scale of the synthfaces generator:

* a small CNN reads the image into a feature pyramid (16×16, 8×8 and 4×4 maps at a 64 px input);
* as in e4e's ``GradualStyleEncoder`` / ``Encoder4Editing``, the coarse W+ entries (4–8 px layers)
  read the deepest map, the middle ones (16–32 px) that map upsampled and added to the next
  shallower one (a feature pyramid network), the fine ones (≥ 64 px) the shallowest merge;
* the code is ``latent_avg + w₀ + Δᵢ``: one shared offset w₀ from the coarse map and a per-entry
  Δᵢ (Δ₀ = 0), which keeps codes near W and so easy to edit.

It is trained on generator samples drawn on the fly, where the true code is known (W+ ↔ image
pairs: z → w with a random truncation, style mixing and a little per-entry noise to cover W+), plus
photo-style renders, which have no code and only teach through the image loss. Losses: latent MSE
to the true W+ (samples only) and, for every image, pixel MSE + factor-meter feature MSE between the
image and the generator's rendering of the predicted code.

    python -m helpers.worlds.synthfaces.encoder --steps 3000 --max-minutes 60   # fresh run
    python -m helpers.worlds.synthfaces.encoder --steps 4000 --resume           # continue it
    python -m helpers.worlds.synthfaces.encoder --steps 4000 --from-export      # continue the shipped one

The run state (model, optimiser, step) is saved atomically to ``data/training/encoder_state.pt``
every ``--save-every`` steps and when time runs out, so ``--resume`` continues where it stopped.
Every stop exports ``data/synthfaces_encoder.pt`` (recorded in the manifest), and the export names
the sha256 of the generator it was trained against: after the GAN is retrained, the world warns
until the encoder is retrained (the same one line; ``--resume`` fine-tunes instead of restarting).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ...files import atomic_write
from ...latent_spaces import layer_groups
from ...shipped import DATA, record, verified
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


def load_generator_snapshot(path=DATA / "synthfaces_g.pt"):
    """(generator, latent_avg, sha256, meta) read from one snapshot of the file's bytes.

    The GAN may rewrite the file while the encoder trains; reading its bytes once keeps the
    generator and the hash that names it in step.
    """
    from ...stylegan2 import load_generator
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    generator, latent_avg = load_generator(io.BytesIO(data))
    meta = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return generator, latent_avg, sha, {"trained_steps": int(meta.get("trained_steps", 0))}


# --------------------------------------------------------------------------- training data
def sample_codes(generator, latent_avg, n: int, gen: torch.Generator, truncation=(0.4, 1.0),
                 mixing: float = 0.5, noise: float = 0.05, w_std=None) -> torch.Tensor:
    """W+ codes [n, num_ws, d] spread over what the generator draws.

    z → w truncated toward ``latent_avg`` by ψ ~ U(``truncation``); with probability ``mixing``
    the entries from a random cut on come from a second such w (style mixing); then every entry
    gets Gaussian noise of ``noise`` × the per-coordinate spread of w (``w_std``) on half the codes.
    """
    num_ws, d = generator.num_ws, generator.style_dim
    dev = latent_avg.device

    def draw():
        z = torch.randn(n, d, generator=gen).to(dev)
        psi = torch.empty(n, 1).uniform_(*truncation, generator=gen).to(dev)
        return latent_avg + psi * (generator.mapping(z) - latent_avg)

    with torch.no_grad():
        codes = draw()[:, None].repeat(1, num_ws, 1)
        second = draw()
        cut = torch.randint(1, num_ws, (n,), generator=gen)
        mixed = torch.rand(n, generator=gen) < mixing
        after = (torch.arange(num_ws)[None] >= cut[:, None]) & mixed[:, None]
        codes = torch.where(after[..., None].to(dev), second[:, None].expand_as(codes), codes)
        if noise:
            scale = (w_std if w_std is not None else torch.ones(d)).to(dev)
            jitter = torch.randn(n, num_ws, d, generator=gen).to(dev) * scale * noise
            codes = codes + jitter * (torch.rand(n, 1, 1, generator=gen) < 0.5).to(dev)
    return codes


def renders(n: int, seed: int, style: str = "photo", size: int = 64):
    """(images [n, 3, size, size], factors [n, F]) from the renderer, a fixed function of ``seed``."""
    f = renderer.sample_factors(n, seed=seed)
    return renderer.render(f, style=style, size=size, seeds=seed), f


def image_loss(generator, meter, codes, images, feature_weight: float):
    """Per-image pixel MSE and meter-feature MSE between ``images`` and the codes' renderings."""
    out = generator.synthesis(codes, noise_mode="const")
    pixel = (out - images).pow(2).mean([1, 2, 3])
    feature = (meter.features(out) - meter.features(images)).pow(2).mean(1)
    return pixel, feature_weight * feature


def learning_rate(step: int, steps: int, lr: float, warmup: float = 0.03) -> float:
    """Linear warm-up, then cosine decay to 5 % over ``steps`` (a function of the step: resumable)."""
    t = step / max(steps, 1)
    if t < warmup:
        return lr * (t / warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warmup) / (1 - warmup)))))


# --------------------------------------------------------------------------- evaluation
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


# --------------------------------------------------------------------------- training
class Trainer:
    """Encoder, optimiser and step against one generator snapshot; ``state_dict`` makes it resumable."""

    def __init__(self, args, generator, latent_avg, generator_sha256, meter):
        self.args, self.generator, self.meter, self.latent_avg = args, generator, meter, latent_avg
        self.generator_sha256 = generator_sha256
        self.encoder = SynthfacesEncoder(generator.num_ws, generator.style_dim, size=generator.size)
        self.encoder.latent_avg.copy_(latent_avg)
        self.opt = torch.optim.Adam(self.encoder.parameters(), lr=args.lr, betas=(0.9, 0.99))
        self.step = 0
        self.log: list[dict] = []
        self.history: list[dict] = []   # the generators this encoder has been trained against
        with torch.no_grad():           # the spread of w per coordinate scales the code noise
            z = torch.from_numpy(np.random.RandomState(0).randn(4096, generator.style_dim).astype(np.float32))
            self.w_std = generator.mapping(z).std(0)

    def state_dict(self):
        return {"model": self.encoder.state_dict(), "config": json.dumps(self.encoder.config),
                "opt": self.opt.state_dict(), "step": self.step, "log": json.dumps(self.log[-500:]),
                "generator_sha256": self.generator_sha256, "history": json.dumps(self.history)}

    def load_state_dict(self, state):
        self.encoder.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.log = json.loads(state["log"])
        self.history = json.loads(state.get("history", "[]"))
        if state["generator_sha256"] != self.generator_sha256:
            # fine-tuning on a retrained GAN: the new average is where codes start from now
            self.encoder.latent_avg.copy_(self.latent_avg)
        return state["generator_sha256"]

    def load_export(self, payload):
        """Continue from an exported encoder (weights, step, history; the optimiser starts afresh):
        what ``--from-export`` uses where the run state is not at hand (it is not committed)."""
        self.encoder.load_state_dict({k: v.float() for k, v in payload["model"].items()})
        self.step = int(payload["steps"])
        self.history = json.loads(payload.get("history", "[]"))
        if payload.get("generator_sha256") != self.generator_sha256:
            self.encoder.latent_avg.copy_(self.latent_avg)
        return payload.get("generator_sha256") or ""

    def batch(self):
        """(generator samples, their W+ codes, photo renders) for this step: a fixed function of
        (seed, step), so a resumed run sees the batches an uninterrupted one would."""
        a = self.args
        gen = torch.Generator().manual_seed(a.seed * 1_000_003 + self.step)
        n_real = int(round(a.batch * a.real_fraction))
        codes = sample_codes(self.generator, self.encoder.latent_avg, a.batch - n_real, gen,
                             truncation=(a.psi_min, a.psi_max), mixing=a.mixing, noise=a.code_noise,
                             w_std=self.w_std)
        with torch.no_grad():
            fake = self.generator.synthesis(codes, noise_mode="const").clamp(-1, 1)
        real = renders(n_real, TRAIN_SEED_BASE + a.seed * 100_003 + self.step, "photo", self.generator.size)[0]
        return fake, codes, real

    def train_step(self) -> dict:
        a = self.args
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.step, a.steps, a.lr)
        fake, codes, real = self.batch()
        self.encoder.train()
        images = torch.cat([fake, real])
        pred = self.encoder(images)
        latent = (pred[:len(fake)] - codes).pow(2).mean()
        pixel, feature = image_loss(self.generator, self.meter, pred, images, a.feature_weight)
        loss = a.latent_weight * latent + a.pixel_weight * pixel.mean() + feature.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.encoder.parameters(), 5.0)
        self.opt.step()
        self.step += 1
        return {"step": self.step, "loss": loss.item(), "latent": latent.item(),
                "pixel_fake": pixel[:len(fake)].mean().item(), "pixel_real": pixel[len(fake):].mean().item(),
                "feature": feature.mean().item()}


def made_by(args) -> str:
    """The command that reproduces a run with these arguments (non-default ones only)."""
    defaults = vars(parse_args([]))
    parts = ["python -m helpers.worlds.synthfaces.encoder", f"--steps {args.steps}"]
    for name in ("batch", "lr", "real_fraction", "latent_weight", "pixel_weight", "feature_weight",
                 "psi_min", "psi_max", "mixing", "code_noise", "seed"):
        if getattr(args, name) != defaults[name]:
            parts.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    return " ".join(parts)


def export(trainer: Trainer, out: Path, world=None, evaluation: dict | None = None) -> Path:
    """Write the encoder (half precision, < 2 MB) with its config and the generator it fits."""
    command = made_by(trainer.args)     # a fresh run; resumes and generator changes are in "history"
    payload = {"model": {k: (v.half() if v.is_floating_point() else v)
                         for k, v in trainer.encoder.state_dict().items()},
               "config": json.dumps(trainer.encoder.config), "steps": trainer.step,
               "complete": trainer.step >= trainer.args.steps,
               "generator_sha256": trainer.generator_sha256,
               "history": json.dumps(trainer.history), "made_by": json.dumps(command),
               "evaluation": json.dumps(evaluation or {})}
    atomic_write(out, lambda fh: torch.save(payload, fh))
    if Path(out).resolve().parent == DATA:
        record(out, command)
    return Path(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000, help="train until this many steps in total")
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--real-fraction", type=float, default=0.25,
                   help="share of each batch that is photo renders (image loss only)")
    p.add_argument("--latent-weight", type=float, default=1.0)
    p.add_argument("--pixel-weight", type=float, default=4.0)
    p.add_argument("--feature-weight", type=float, default=1.0, help="weight of the meter-feature MSE")
    p.add_argument("--psi-min", type=float, default=0.4, help="truncation range of the sampled codes")
    p.add_argument("--psi-max", type=float, default=1.0)
    p.add_argument("--mixing", type=float, default=0.5, help="style-mixing probability")
    p.add_argument("--code-noise", type=float, default=0.05, help="per-entry noise, × the spread of w")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 for background runs: 2 collapse when the other core is busy)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --state")
    p.add_argument("--from-export", nargs="?", const=str(ENCODER_PATH), default=None, metavar="FILE",
                   help="continue from an exported encoder (default: the shipped one) with a fresh optimiser, "
                        "where no run state is at hand")
    p.add_argument("--state", default=str(STATE_PATH))
    p.add_argument("--generator", default=str(DATA / "synthfaces_g.pt"),
                   help="the generator to fit (its bytes are read once: a GAN run may rewrite the file)")
    p.add_argument("--out", default=str(ENCODER_PATH))
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (save, export) after this long")
    p.add_argument("--eval-n", type=int, default=64, help="held-out images per style in the final report")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from .meter import load_meter
    generator, latent_avg, sha, meta = load_generator_snapshot(args.generator)
    meter = load_meter()
    trainer = Trainer(args, generator, latent_avg, sha, meter)
    state_path = Path(args.state)
    if args.resume and args.from_export:
        raise SystemExit("give --resume (the saved run state) or --from-export (an exported encoder), not both")
    if args.resume or args.from_export:
        source = Path(args.from_export or state_path)
        flag, what = ("--from-export", "exported encoder") if args.from_export else ("--resume", "run state")
        if not source.exists():
            raise SystemExit(f"{flag}: no {what} at {source}; start without it")
        state = torch.load(source, map_location="cpu", weights_only=True)
        before = trainer.load_export(state) if args.from_export else trainer.load_state_dict(state)
        print(f"continuing from {source} at step {trainer.step}", flush=True)
        if before != sha:
            print(f"the generator changed since ({before[:12]}… → {sha[:12]}…): fine-tuning on the new one",
                  flush=True)
    if not trainer.history or trainer.history[-1]["generator_sha256"] != sha:
        trainer.history.append({"generator_sha256": sha, "generator_steps": meta["trained_steps"],
                                "from_step": trainer.step})
    elif state_path.exists():
        print(f"starting a fresh run: the run saved in {state_path} will be replaced (--resume continues it)",
              flush=True)
    log_path = state_path.with_suffix(".log.jsonl")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as f:      # one log for every run; each begins with this line
        f.write(json.dumps({"event": "resume" if args.resume or args.from_export else "start", "step": trainer.step,
                            "time": time.time(), "command": made_by(args), "generator_sha256": sha[:12]}) + "\n")
    start = time.time()
    bar = tqdm(total=args.steps, initial=trainer.step, desc="encoder steps", mininterval=10)
    window = []
    while trainer.step < args.steps:
        t0 = time.time()
        rec = trainer.train_step()
        rec["sec"] = round(time.time() - t0, 3)
        window.append(rec)
        trainer.log = trainer.log[-499:] + [rec]
        bar.update(1)
        bar.set_postfix(latent=f"{rec['latent']:.3f}", pix=f"{rec['pixel_fake']:.4f}/{rec['pixel_real']:.4f}")
        done = args.max_minutes is not None and time.time() - start > args.max_minutes * 60
        if trainer.step % args.save_every == 0 or trainer.step >= args.steps or done:
            atomic_write(state_path, lambda f: torch.save(trainer.state_dict(), f))
            summary = {k: float(np.mean([r[k] for r in window])) for k in window[0] if k != "step"}
            with open(log_path, "a") as f:
                f.write(json.dumps({"step": trainer.step, "time": time.time(), "lr": learning_rate(
                    trainer.step, args.steps, args.lr), "generator_sha256": sha[:12], **summary}) + "\n")
            window = []
        if done:
            break
    bar.close()
    from ..world import World
    world = World("synthfaces", generator, latent_avg, torch.device("cpu"), meter=meter,
                  info={"weights_sha256": sha})
    trainer.encoder.eval()
    report = evaluate(world, trainer.encoder, n=args.eval_n)
    out = export(trainer, Path(args.out), evaluation=report)
    print(f"step {trainer.step} of {args.steps} after {(time.time() - start) / 60:.1f} min; wrote {out}")
    print("held-out reconstruction (encoder only):\n" + format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
