"""What the synthfaces training commands share (``train_meter``, ``train_text_model``).

Fresh renders every step (the renderer never runs out), AdamW under a one-cycle schedule, a
progress bar that redraws slowly, the result written atomically and recorded in
``data/MANIFEST.json`` when it lands in ``data/``, and one command line: ``--steps --batch --lr
--threads --out --resume`` and a module's own flags (a resumed run continues from a snapshot of
``--out``, which it then rewrites).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ...files import atomic_write, snapshot
from ...shipped import DATA, record


def fit(model: torch.nn.Module, params, batch_loss: Callable[[int], torch.Tensor], steps: int, lr: float,
        weight_decay: float, pct_start: float, desc: str, loss_format: str = ".4f") -> None:
    """Train ``model`` for ``steps`` steps on ``batch_loss(step)`` (a fresh batch's loss), then
    leave it in eval mode."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=pct_start)
    model.train()
    bar = tqdm(range(steps), desc=desc, mininterval=5)
    for step in bar:
        loss = batch_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():{loss_format}}")
    model.eval()


def save(out, payload: dict, made_by: str) -> None:
    """Write ``payload`` atomically; a file in ``data/`` is recorded in the manifest."""
    atomic_write(out, lambda fh: torch.save(payload, fh))
    if Path(out).resolve().parent == DATA:
        record(out, made_by)


def command(argv, *, prog: str, description: str, steps: int, batch: int, lr: float, out,
            train: Callable, report: Callable[[object, float], None], resume_help: str,
            what: str = "model", missing_hint: str = "", options: dict | None = None) -> int:
    """The command line of a training module: parse, train (or continue), print the report.

    ``options``: a module's own flags, ``{"--flag": argparse keywords}``, passed to ``train`` as
    keywords; ``out``: the default output file, or a function of those keywords that picks it."""
    p = argparse.ArgumentParser(prog=f"python -m helpers.worlds.synthfaces.{prog}", description=description)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--resume", action="store_true", help=resume_help)
    for flag, spec in (options or {}).items():
        p.add_argument(flag, **spec)
    try:
        a = p.parse_args(argv)
    except SystemExit as stop:            # a bad flag: argparse has said why on stderr
        return int(stop.code or 0)
    extra = {name: getattr(a, name) for name in (f.lstrip("-").replace("-", "_") for f in options or {})}
    a.out = a.out or str(out(**extra) if callable(out) else out)
    t = time.time()
    if not a.resume:
        result = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads, **extra)
    elif not Path(a.out).is_file():
        print(f"{prog}: no {what} at {a.out} to continue from; train one first (without --resume)"
              f"{missing_hint}", file=sys.stderr)
        return 2
    else:
        with snapshot(a.out) as start:
            result = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads, resume=start, **extra)
    report(result, time.time() - t)
    return 0
