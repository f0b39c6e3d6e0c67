"""Seconds per training step of each #25 GAN recipe, side by side in one run.

The shipped recipe (width 1), the same with differentiable augmentation, with the projected
discriminator, and G and D twice as wide: each a fresh ``train_gan.Trainer`` at batch 32, timed
over interleaved rounds (medians), with the ratio to the shipped recipe and the images a day one
such process trains. Chapter 0's compute estimates use the rate its runs logged; this says how the
recipes compare on one idle machine.

    .venv/bin/python bench/gan_steps.py [--rounds 2] [--steps 16] [--threads 1] [--device cpu]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.worlds.synthfaces import train_gan  # noqa: E402

RECIPES = {"shipped (width 1)": [], "+ augment": ["--augment", "color,translation,cutout"],
           "+ projected D": ["--projected"], "width 2": ["--width", "2"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=16,
                   help="timed steps per recipe per round (16: one lazy R1 step in each)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    trainers = {name: train_gan.Trainer(train_gan.parse_args(["--device", a.device, *flags]))
                for name, flags in RECIPES.items()}
    for t in trainers.values():            # warm-up: first steps allocate and include an R1 step
        t.train_step(), t.train_step()
    times = {name: [] for name in trainers}
    for _ in range(a.rounds):
        for name, t in trainers.items():
            t0 = time.perf_counter()
            for _ in range(a.steps):
                t.train_step()
            if a.device != "cpu" and torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - t0) / a.steps)
    base = statistics.median(times["shipped (width 1)"])
    print(f"GAN training step, batch 32, {a.threads} thread(s), {a.device}, "
          f"{a.rounds} rounds × {a.steps} steps (medians; every 16th step adds R1)")
    for name, ts in times.items():
        s = statistics.median(ts)
        print(f"  {name:20s} {s:6.3f} s/step  {s / base:4.2f}x shipped  "
              f"{86400 / s * 32 / 1e6:5.2f} M images/day")
    return 0


if __name__ == "__main__":
    sys.exit(main())
