"""Benchmark text anchors: all prompts and identities in one batch vs the paper's one-by-one loop.

Same world, same start codes, same prompts, same steps; prints both wall times, their ratio
(goal ≥ 3× on CPU, ≥ 8× on a GPU) and the largest difference between the two sets of anchors.

    .venv/bin/python bench/anchors.py [--identities 2] [--steps 40] [--device auto]
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import anchors, worlds  # noqa: E402
from helpers.worlds.synthfaces.captions import PERCENTAGES, prompts  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--identities", type=int, default=2)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    world = worlds.load("synthfaces", device=a.device)
    starts = world.sample_wplus(a.identities, seed=1)
    texts = prompts("A person with {} smile", PERCENTAGES)
    sync = torch.cuda.synchronize if world.device.type == "cuda" else (lambda: None)
    t = time.perf_counter()
    batched = anchors.optimise_prompts(world, starts.repeat_interleave(len(texts), 0), texts * a.identities,
                                       a.steps, progress=False)
    sync()
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    loop = torch.cat([anchors.optimise_prompts(world, starts[i:i + 1], [text], a.steps, progress=False)
                      for i in range(a.identities) for text in texts])
    sync()
    t_loop = time.perf_counter() - t
    print(f"{a.identities} identities × {len(texts)} prompts × {a.steps} steps on {world.device} "
          f"({torch.get_num_threads()} threads)")
    print(f"one by one: {t_loop:7.2f} s   batched: {t_batch:7.2f} s   ratio {t_loop / t_batch:.1f}x "
          f"(goal ≥ 3x CPU, ≥ 8x GPU); max |difference| {float((batched - loop).abs().max()):.1e}")


if __name__ == "__main__":
    main()
