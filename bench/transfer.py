"""Benchmark edit videos: frames per second of ``render_edit`` vs the plain generator, same batch.

    .venv/bin/python bench/transfer.py [--frames 64] [--batch 32] [--device auto]
Prints both throughputs and their ratio (goal ≥ 0.9: the edit adds almost nothing to rendering).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import transfer, worlds  # noqa: E402


def best_of(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    world = worlds.load("synthfaces", device=a.device)
    target = world.sample_wplus(1, seed=0)
    direction = torch.randn(world.num_ws, world.style_dim) * 0.1
    alphas = np.linspace(-1, 1, a.frames)
    codes = transfer.transfer(target, direction, alphas)[0]
    plain = best_of(lambda: world.synthesize(codes, batch=a.batch))
    edit = best_of(lambda: transfer.render_edit(world, target, direction, alphas, batch=a.batch, progress=False))
    print(f"{a.frames} frames at {world.resolution} px, batch {a.batch}, {world.device}")
    print(f"plain generator: {a.frames / plain:7.1f} frames/s   edit video: {a.frames / edit:7.1f} frames/s   "
          f"ratio {plain / edit:.2f} (goal ≥ 0.9)")


if __name__ == "__main__":
    main()
