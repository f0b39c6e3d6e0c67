"""Benchmark the study runner's engine: Ray workers against plain processes, side by side.

The same study tasks (text anchors with few steps, scored on few faces: real tasks, a few seconds
each) run four ways in one run, each from an empty anchor cache, every worker with one torch
thread and its own world:

- 1 plain process, 2 plain processes (``multiprocessing``: the hardware's own ceiling);
- Ray with 1 worker, Ray with 2 workers (:func:`helpers.study.run`, ``engine="ray"``).

Throughput counts from the first task handed out to the last row written (Ray's start-up, a few
seconds once per study, is printed apart). Goal: Ray with 2 workers ≥ 0.9 of 2 plain processes.
Run it on an idle machine (pause background jobs):

    .venv/bin/python bench/study.py [--tasks 8] [--steps 5] [--targets 20]
"""
import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import study  # noqa: E402


def _plain_worker(task_fields):
    import torch
    torch.set_num_threads(1)
    row, basis = study.compute(study.Task(**task_fields))
    return task_fields, row, basis


def plain(tasks, processes: int) -> float:
    """Seconds for ``processes`` plain processes to run ``tasks`` (rows written as they finish)."""
    from dataclasses import asdict
    out = Path(tempfile.mkdtemp(prefix="bench_plain_"))
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(processes) as pool:
        for fields, row, basis in pool.imap_unordered(_plain_worker, [asdict(t) for t in tasks]):
            study.append_row(out, study.Task(**fields), row, basis, {"commit": "bench"})
    return time.perf_counter() - t0


def with_ray(tasks, workers: int) -> tuple[float, float]:
    """(seconds for the tasks, seconds Ray took to start) with a local Ray of ``workers``."""
    out = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    t0 = time.perf_counter()
    report = study.run(tasks, out, engine="ray", workers=workers, progress=False)
    total = time.perf_counter() - t0
    return total - report["engine_start_s"], report["engine_start_s"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--targets", type=int, default=20)
    args = p.parse_args()
    tasks = study.grid(args.tasks, ["smile"], ["text"], steps=args.steps, n_targets=args.targets)
    print(f"{len(tasks)} text tasks ({args.steps} steps, {args.targets} faces), "
          f"{os.cpu_count()} cores")
    rates = {}
    for name, run in (("1 plain process", lambda: plain(tasks, 1)),
                      ("2 plain processes", lambda: plain(tasks, 2)),
                      ("Ray, 1 worker", lambda: with_ray(tasks, 1)),
                      ("Ray, 2 workers", lambda: with_ray(tasks, 2))):
        os.environ["MICROMOTION_CACHE"] = tempfile.mkdtemp(prefix="bench_cache_")
        seconds = run()
        if isinstance(seconds, tuple):
            seconds, start = seconds
            print(f"{'':18s} (Ray started in {start:.1f} s, not counted)")
        rates[name] = len(tasks) / seconds
        print(f"{name:18s} {seconds:6.1f} s  {rates[name]:.3f} tasks/s")
    print(f"2 plain processes / 1: {rates['2 plain processes'] / rates['1 plain process']:.2f}x "
          f"(the hardware's ceiling)")
    print(f"Ray 2 workers / 1: {rates['Ray, 2 workers'] / rates['Ray, 1 worker']:.2f}x")
    ratio = rates["Ray, 2 workers"] / rates["2 plain processes"]
    print(f"Ray 2 workers / 2 plain processes: {ratio:.2f} (goal ≥ 0.9: "
          f"{'met' if ratio >= 0.9 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
