"""Train the synthfaces encoder (``encoder.SynthfacesEncoder``).

It is trained on generator samples drawn on the fly, where the true code is known (W+ ↔ image
pairs: z → w with a random truncation, style mixing and a little per-entry noise to cover W+), plus
photo-style renders, which have no code and only teach through the image loss. Losses: latent MSE
to the true W+ (samples only) and, for every image, pixel MSE + factor-meter feature MSE between the
image and the generator's rendering of the predicted code.

    python -m helpers.worlds.synthfaces.train_encoder --steps 3000 --max-minutes 60   # fresh run
    python -m helpers.worlds.synthfaces.train_encoder --steps 4000 --resume           # continue it
    python -m helpers.worlds.synthfaces.train_encoder --steps 4000 --from-export      # the shipped one

The run state (model, optimiser, step) is saved atomically to ``data/training/encoder_state.pt``
every ``--save-every`` steps and when time runs out, so ``--resume`` continues where it stopped.
Every stop exports ``data/synthfaces_encoder.pt`` (recorded in the manifest) with the sha256 of
the generator it fits (``--resume`` after a new GAN fine-tunes instead of restarting).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...files import atomic_write
from ...shipped import DATA, record
from .encoder import (ENCODER_PATH, STATE_PATH, TRAIN_SEED_BASE, SynthfacesEncoder, evaluate,
                      format_report, renders)


def load_generator_snapshot(path=DATA / "synthfaces_g.pt"):
    """(generator, sha256, meta) read from one snapshot of the file's bytes.

    The GAN may rewrite the file while the encoder trains; reading its bytes once keeps the
    generator and the hash that names it in step.
    """
    from ...stylegan2 import load_generator
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    generator = load_generator(io.BytesIO(data))
    meta = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return generator, sha, {"trained_steps": int(meta.get("trained_steps", 0))}


# --------------------------------------------------------------------------- training data
def sample_codes(generator, n: int, gen: torch.Generator, truncation=(0.4, 1.0),
                 mixing: float = 0.5, noise: float = 0.05, w_std=None) -> torch.Tensor:
    """W+ codes [n, num_ws, d] spread over what the generator draws.

    z → w truncated toward the generator's ``latent_avg`` by ψ ~ U(``truncation``); with probability ``mixing``
    the entries from a random cut on come from a second such w (style mixing); then every entry
    gets Gaussian noise of ``noise`` × the per-coordinate spread of w (``w_std``) on half the codes.
    """
    num_ws, d, latent_avg = generator.num_ws, generator.style_dim, generator.latent_avg
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


# --------------------------------------------------------------------------- training
class Trainer:
    """Encoder, optimiser and step against one generator snapshot; ``state_dict`` makes it resumable."""

    def __init__(self, args, generator, generator_sha256, meter):
        self.args, self.generator, self.meter = args, generator, meter
        self.latent_avg = generator.latent_avg
        self.generator_sha256 = generator_sha256
        self.encoder = SynthfacesEncoder(generator.num_ws, generator.style_dim, size=generator.size)
        self.encoder.latent_avg.copy_(self.latent_avg)
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
        codes = sample_codes(self.generator, a.batch - n_real, gen,
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
    parts = ["python -m helpers.worlds.synthfaces.train_encoder", f"--steps {args.steps}"]
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
    generator, sha, meta = load_generator_snapshot(args.generator)
    meter = load_meter()
    trainer = Trainer(args, generator, sha, meter)
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
    world = World("synthfaces", generator, torch.device("cpu"), meter=meter,
                  info={"weights_sha256": sha})
    trainer.encoder.eval()
    report = evaluate(world, trainer.encoder, n=args.eval_n)
    out = export(trainer, Path(args.out), evaluation=report)
    print(f"step {trainer.step} of {args.steps} after {(time.time() - start) / 60:.1f} min; wrote {out}")
    print("held-out reconstruction (encoder only):\n" + format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
