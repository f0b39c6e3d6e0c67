"""Benchmark the synthfaces world: renderer throughput, world load time, package import time.

Prints numbers measured side by side in one run (these machines are noisy): the batched renderer
against a one-face-at-a-time loop, and load/import times against their targets (1 s, 2 s).

    .venv/bin/python bench/synthfaces.py
"""
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import worlds  # noqa: E402
from helpers.worlds.synthfaces import renderer  # noqa: E402


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    torch.set_num_threads(1)
    n = 256
    f = renderer.sample_factors(n, seed=0)
    batched = best_of(lambda: renderer.render(f, seeds=0))
    single = best_of(lambda: [renderer.render(f[i:i + 1], seeds=i) for i in range(64)], repeat=1) * n / 64
    print(f"renderer, 64 px, 1 thread: batched {n / batched:7.0f} faces/s, one by one {n / single:6.0f} faces/s, "
          f"ratio {single / batched:.1f}x")
    for style in renderer.STYLES[1:]:
        t = best_of(lambda: renderer.render(f, style=style, seeds=0))
        print(f"  style {style:10s} {n / t:7.0f} faces/s")
    load = best_of(lambda: worlds.load("synthfaces", device="cpu"))
    print(f"load('synthfaces') incl. hash checks: {load:.3f} s (target 1 s: {load / 1.0:.2f} of it)")
    cmd = [sys.executable, "-c", "import time; t=time.perf_counter(); import helpers, helpers.worlds; "
           "print(time.perf_counter()-t)"]
    imp = min(float(subprocess.check_output(cmd, cwd=Path(__file__).resolve().parents[1])) for _ in range(3))
    print(f"import helpers: {imp:.3f} s (target 2 s: {imp / 2.0:.2f} of it)")


if __name__ == "__main__":
    main()
