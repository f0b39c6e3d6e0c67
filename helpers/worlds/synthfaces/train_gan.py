"""Train the synthfaces StyleGAN2 as a real, unconditional GAN on photo-style renders.

Taught in ``notebooks/00_synthfaces.ipynb``. Non-saturating logistic loss, lazy R1 on reals,
style-mixing regularisation, an EMA generator; no labels and no factor ever reach the generator,
so whatever it knows about smiles it learned from static images — the paper's premise.

    python -m helpers.worlds.synthfaces.train_gan --steps 20000          # resumes if a state exists
    python -m helpers.worlds.synthfaces.train_gan --export-only          # write data/synthfaces_g.pt

The training state (G, D, EMA, optimisers, step) is saved atomically every ``--save-every`` steps,
so an interrupted run resumes where it stopped. The exported generator has the rosinality layout
``{"g_ema", "latent_avg"}`` plus its ``config``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...device import pick_device
from ...files import atomic_write
from ...shipped import DATA, record
from ...stylegan2 import Discriminator, Generator, save_generator
from . import renderer
from .augment import augment, parse_policy

GAN_CONFIG = dict(size=64, style_dim=128, n_mlp=4, channel_multiplier=1, channel_max=96,
                  channel_scale=0.125, lr_mlp=0.01)
D_CONFIG = dict(size=64, channel_multiplier=1, channel_max=96, channel_scale=0.125)


def widened(width: float) -> tuple[dict, dict]:
    """The shipped G and D configs with every channel count times ``width`` (1: the shipped model;
    the cap grows with it). #25's capacity experiment trains ``--width 2`` from scratch."""
    if width == 1.0:
        return dict(GAN_CONFIG), dict(D_CONFIG)
    g, d = dict(GAN_CONFIG), dict(D_CONFIG)
    for c in (g, d):
        c["channel_scale"] *= width
        c["channel_max"] = int(round(c["channel_max"] * width))
    return g, d


def real_batch(step: int, batch: int, seed: int, size: int) -> torch.Tensor:
    """Photo-style renders for one step: a fixed function of (seed, step), so resumes replay."""
    rng_seed = (seed * 1_000_003 + step) % (2 ** 31)
    f = renderer.sample_factors(batch, seed=rng_seed)
    return renderer.render(f, style="photo", size=size, seeds=rng_seed)


def _requires_grad(module, flag):
    for p in (module.parameters() if module is not None else []):
        p.requires_grad_(flag)


def _latents(batch, dim, mixing, gen, device="cpu"):
    """Two z per sample when style mixing applies (prob ``mixing``), else one; drawn on the CPU
    generator ``gen`` so a run's latents do not depend on the device."""
    z = torch.randn(batch, dim, generator=gen).to(device)
    if torch.rand((), generator=gen) < mixing:
        return z, torch.randn(batch, dim, generator=gen).to(device)
    return z, None


def generate(g: Generator, z, z2, gen):
    if z2 is None:
        return g(z, noise_mode="random")
    cut = int(torch.randint(1, g.num_ws, (), generator=gen))
    return g(z, mix_latent=z2, mix_index=cut, noise_mode="random")


class Trainer:
    """Holds G, D, EMA and optimisers; ``state_dict``/``load_state_dict`` make a run resumable."""

    def __init__(self, args):
        self.args = args
        self.device = pick_device(getattr(args, "device", "cpu"))
        self.g_config, self.d_config = widened(getattr(args, "width", 1.0))
        self.g = Generator(**self.g_config).to(self.device)
        self.d = Discriminator(**self.d_config).to(self.device)
        self.g_ema = Generator(**self.g_config).to(self.device).eval()
        self.g_ema.load_state_dict(self.g.state_dict())
        _requires_grad(self.g_ema, False)
        c = args.r1_every / (args.r1_every + 1)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=args.lr, betas=(0.0, 0.99))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=args.lr, betas=(0.0, 0.99 ** c))
        self.proj = self.p_opt = None
        if getattr(args, "projected", False):
            from .projected import ProjectedHeads
            from .text_model import load_text_model
            self.proj = ProjectedHeads(load_text_model(device=self.device).visual).to(self.device)
            self.p_opt = torch.optim.Adam(self.proj.parameters(), lr=args.lr, betas=(0.0, 0.99 ** c))
        self._set_learning_rates()
        self.step = 0
        self.gen = torch.Generator().manual_seed(args.seed)
        self.policy = parse_policy(getattr(args, "augment", ""))
        self.log = []

    def d_logits(self, x, heads: bool = True):
        """D's logits for ``x``, through the run's differentiable augmentation if it has one,
        plus the projected heads' if the run has them (R1 leaves them out, as Projected GANs do:
        they are not penalised, and attention has no double backward on a CPU)."""
        x = augment(x, self.policy, self.gen) if self.policy else x
        return self.d(x) if self.proj is None or not heads else self.d(x) + self.proj(x)

    def _d_update(self, loss):
        opts = [self.d_opt] + ([self.p_opt] if self.p_opt is not None else [])
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in opts:
            opt.step()

    def _set_learning_rates(self):
        """G at ``--lr``; D at ``--lr`` × r1_every/(r1_every + 1), StyleGAN2's correction for lazy R1."""
        c = self.args.r1_every / (self.args.r1_every + 1)
        for group in self.g_opt.param_groups:
            group["lr"] = self.args.lr
        for opt in (self.d_opt, self.p_opt):
            for group in (opt.param_groups if opt is not None else []):
                group["lr"] = self.args.lr * c

    def state_dict(self):
        return {"g": self.g.state_dict(), "d": self.d.state_dict(), "g_ema": self.g_ema.state_dict(),
                "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "step": self.step, "rng": self.gen.get_state(), "log": json.dumps(self.log),
                "g_config": self.g_config, "d_config": self.d_config,
                **({"proj": self.proj.state_dict(), "p_opt": self.p_opt.state_dict()}
                   if self.proj is not None else {})}

    def load_state_dict(self, state):
        for name in ("g", "d", "g_ema"):
            getattr(self, name).load_state_dict(state[name])
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        if self.proj is not None and "proj" in state:     # else the heads start fresh
            self.proj.load_state_dict(state["proj"])
            self.p_opt.load_state_dict(state["p_opt"])
        self._set_learning_rates()                           # --lr applies to a resumed run too
        self.step = int(state["step"])
        self.gen.set_state(state["rng"])
        self.log = json.loads(state["log"])

    def train_step(self):
        a, g, d, b = self.args, self.g, self.d, self.args.batch
        real = real_batch(self.step, b, a.seed, GAN_CONFIG["size"]).to(self.device)
        # discriminator
        _requires_grad(g, False), _requires_grad(d, True), _requires_grad(self.proj, True)
        with torch.no_grad():
            fake = generate(g, *_latents(b, g.style_dim, a.mixing, self.gen, self.device), self.gen)
        d_loss = F.softplus(self.d_logits(fake)).mean() + F.softplus(-self.d_logits(real)).mean()
        self._d_update(d_loss)
        r1 = torch.zeros((), device=self.device)
        if self.step % a.r1_every == 0:
            real.requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d_logits(real, heads=False).sum(), real, create_graph=True)
            r1 = grad.pow(2).sum([1, 2, 3]).mean()
            self._d_update(a.r1 / 2 * r1 * a.r1_every)
        # generator
        _requires_grad(g, True), _requires_grad(d, False), _requires_grad(self.proj, False)
        fake = generate(g, *_latents(b, g.style_dim, a.mixing, self.gen, self.device), self.gen)
        g_loss = F.softplus(-self.d_logits(fake)).mean()
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        # EMA with a ramp-up, half-life ``ema_kimg`` thousand images
        ema_nimg = min(a.ema_kimg * 1000, (self.step + 1) * b * 0.05) if a.ema_rampup else a.ema_kimg * 1000
        beta = 0.5 ** (b / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, p in zip(self.g_ema.parameters(), g.parameters()):
                pe.lerp_(p, 1 - beta)
            for be, bb in zip(self.g_ema.buffers(), g.buffers()):
                be.copy_(bb)
        self.step += 1
        return {"step": self.step, "d": d_loss.item(), "g": g_loss.item(), "r1": r1.item()}


def state_path(args) -> Path:
    return Path(args.state)


class QualityProbe:
    """The Fréchet distance of the EMA generator's samples to renders (``quality.frechet_distance``),
    logged at every save: ``fd`` in the guide meter's features (every run's curve since the first)
    and ``fd_judge`` in the judge's (the one the book's goals use), once a judge is shipped. The
    render features are computed once."""

    def __init__(self, n: int = 500, seed: int = 0):
        from ...shipped import manifest
        from . import meter as meter_lib, quality
        self.quality, self.n, self.seed = quality, n, seed
        self.meters = {"fd": meter_lib.load_meter()}
        if meter_lib.JUDGE_PATH.name in manifest():
            self.meters["fd_judge"] = meter_lib.load_meter(judge=True)
        f = renderer.sample_factors(n, seed=seed + 1)
        images = renderer.render(f, size=GAN_CONFIG["size"], seeds=seed + 1)
        self.reference = {k: quality.features(m, images) for k, m in self.meters.items()}

    @torch.no_grad()
    def __call__(self, g_ema) -> dict[str, float]:
        dev = next(g_ema.parameters()).device
        z = torch.from_numpy(np.random.RandomState(self.seed).randn(self.n, g_ema.style_dim).astype(np.float32))
        images = torch.cat([g_ema(z[i:i + 100].to(dev), noise_mode="random").clamp(-1, 1).cpu()
                            for i in range(0, self.n, 100)])
        return {k: self.quality.frechet_distance(self.quality.features(m, images), self.reference[k])
                for k, m in self.meters.items()}


def training_history(path=None) -> dict[str, np.ndarray]:
    """The saved log of a run: ``step``, ``images``, ``d`` and ``g`` losses, ``fd`` (the guide meter's
    features), ``fd_judge`` (the judge's), ``r1``, ``lr``, ``sec_per_step`` (NaN
    where not logged) and ``renderer`` (the renderer's version; 1 before it was logged), each an
    array over the saves."""
    path = Path(path) if path is not None else DATA / "training" / "gan_state.log.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = {k: np.array([r.get(k, np.nan) for r in rows], dtype=float)
           for k in ("step", "d", "g", "fd", "fd_judge", "r1", "lr", "sec_per_step")}
    out["renderer"] = np.array([r.get("renderer", 1) for r in rows], dtype=float)
    out["images"] = out["step"] * np.array([r.get("batch", 32) for r in rows])
    return out


def save_state(trainer, path: Path):
    atomic_write(path, lambda f: torch.save(trainer.state_dict(), f))


def export(trainer, out: Path):
    """Write the EMA generator in the rosinality layout with its latent average."""
    trainer.g_ema.set_latent_avg(4096)
    save_generator(out, trainer.g_ema,
                   extra={"trained_steps": trainer.step, "trained_images": trainer.step * trainer.args.batch})
    if Path(out).resolve().parent == DATA:
        # an --export-only call has default flags: the values the run trained with are in its log
        record(out, f"python -m helpers.worlds.synthfaces.train_gan --steps {trainer.step} (the R1 weight, "
                    "learning rate and renderer version of every save are in data/training/gan_state.log.jsonl)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20000, help="train until this many steps in total")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.0025)
    p.add_argument("--r1", type=float, default=0.1,
                   help="R1 weight gamma (the shipped run used 0.5 up to step 4750, which kept eyes and mouths "
                        "smeared; the log records each save's value)")
    p.add_argument("--r1-every", type=int, default=16, help="lazy regularisation interval")
    p.add_argument("--mixing", type=float, default=0.9, help="style-mixing probability")
    p.add_argument("--ema-kimg", type=float, default=10.0, help="EMA half-life, thousands of images")
    p.add_argument("--no-ema-rampup", dest="ema_rampup", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--projected", action="store_true",
                   help="add a discriminator on the frozen text model's image features")
    p.add_argument("--augment", default="",
                   help="differentiable augmentation of D's input, e.g. color,translation,cutout")
    p.add_argument("--width", type=float, default=1.0,
                   help="channel counts of G and D times this (a resumed state keeps its own)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 for background runs: 2 collapse when the other core is busy)")
    p.add_argument("--state", default=str(DATA / "training" / "gan_state.pt"))
    p.add_argument("--out", default=str(DATA / "synthfaces_g.pt"))
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this long")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument("--no-probe", dest="probe", action="store_false",
                   help="do not log the Fréchet distance to renders at each save")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(args)
    except ValueError as err:       # --device cuda without a GPU; an unknown --augment
        print(f"train_gan: {err}", file=sys.stderr)
        return 2
    path = state_path(args)
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        width = saved["g_config"]["channel_scale"] / GAN_CONFIG["channel_scale"]
        if abs(width - args.width) > 1e-9:     # the state's own width wins over the flag
            args.width = width
            trainer = Trainer(args)
        trainer.load_state_dict(saved)
        print(f"resumed from {path} at step {trainer.step}", flush=True)
    if args.export_only:
        export(trainer, Path(args.out))
        print(f"wrote {args.out} (step {trainer.step})")
        return 0
    start = time.time()
    bar = tqdm(total=args.steps, initial=trainer.step, desc="GAN steps", mininterval=10)
    log_path = path.with_suffix(".log.jsonl")
    probe = QualityProbe() if args.probe else None
    while trainer.step < args.steps:
        t0 = time.time()
        rec = trainer.train_step()
        rec["sec"] = round(time.time() - t0, 3)
        trainer.log = trainer.log[-499:] + [rec]
        bar.update(1)
        bar.set_postfix(d=f"{rec['d']:.3f}", g=f"{rec['g']:.3f}")
        done = args.max_minutes is not None and time.time() - start > args.max_minutes * 60
        if trainer.step % args.save_every == 0 or trainer.step >= args.steps or done:
            save_state(trainer, path)
            export(trainer, Path(args.out))
            entry = {"step": trainer.step, "time": time.time(), "batch": args.batch, "r1": args.r1,
                     "width": args.width, **({"augment": args.augment} if args.augment else {}),
                     **({"projected": True} if args.projected else {}),
                     "lr": args.lr, "renderer": renderer.VERSION,
                     "d": float(np.mean([r["d"] for r in trainer.log[-args.save_every:]])),
                     "g": float(np.mean([r["g"] for r in trainer.log[-args.save_every:]])),
                     "sec_per_step": round(float(np.median([r.get("sec", np.nan) for r in
                                                            trainer.log[-args.save_every:]])), 3),
                     "threads": args.threads}
            if probe is not None:
                entry.update(probe(trainer.g_ema))
                bar.write(f"step {trainer.step}: Fréchet distance to renders " + ", ".join(
                    f"{k} {v:.2f}" for k, v in entry.items() if k.startswith("fd")))
            with open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if done:
            break
    bar.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
