"""Train the factor meter (``meter.FactorMeter``) on renders of every style with their factors.

    python -m helpers.worlds.synthfaces.train_meter --steps 3000     # writes data/synthfaces_meter.pt
    python -m helpers.worlds.synthfaces.train_meter --judge          # writes data/synthfaces_judge.pt

``--judge`` trains the independent judge: another width and another seed, so another initialisation
and other training renders (``meter.JUDGE``); the held-out renders of :func:`meter.evaluate` are
the same for both.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch
from torch.nn import functional as F

from . import renderer, training
from .meter import JUDGE, JUDGE_PATH, METER_PATH, FactorMeter, evaluate
from .renderer import IDENTITY_FACTORS, MICROMOTION_FACTORS, STYLES

STYLE_WEIGHTS = {"photo": 0.4, "painting": 0.2, "cartoon": 0.2, "sculpture": 0.2}


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


def train(steps: int = 3000, batch: int = 96, lr: float = 2e-3, seed: int = 0, out=METER_PATH,
          threads: int = 1, resume=None, width: int = 32, judge: bool = False) -> dict:
    """Train on fresh renders every step (or continue from the meter at ``resume``); evaluate; save.

    ``judge``: the judge's width and seed (``meter.JUDGE``) instead of ``width`` and ``seed``."""
    if judge:
        width, seed = JUDGE["width"], JUDGE["seed"]
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    state = None if resume is None else torch.load(resume, map_location="cpu", weights_only=True)
    if state is not None:
        width = state.get("config", {}).get("width", width)      # a resumed meter keeps its width
    meter = FactorMeter(width)
    if state is not None:
        meter.load_state_dict(state["model"])
        seed += 1  # new batches, not a replay of the first run

    def batch_loss(step):
        images, f = training_batch(step, batch, seed)
        return F.mse_loss(meter(images), f)

    training.fit(meter, meter.parameters(), batch_loss, steps, lr, weight_decay=1e-4, pct_start=0.1,
                 desc="meter")
    report = evaluate(meter)
    made_by = f"python -m helpers.worlds.synthfaces.train_meter --steps {steps} --batch {batch} --lr {lr}"
    made_by += " --judge" if judge else ""
    if resume is not None:
        previous = json.loads(state.get("made_by", '"python -m helpers.worlds.synthfaces.meter --steps 2000"'))
        made_by = f"{previous} && {made_by} --resume"
    training.save(out, {"model": meter.state_dict(), "config": {"width": width}, "steps": steps, "batch": batch,
                        "r2": json.dumps(report), "made_by": json.dumps(made_by)}, made_by)
    return report


def _report(report: dict, seconds: float) -> None:
    print(f"trained in {seconds:.0f} s; held-out R²:")
    for style, scores in report.items():
        motion = {k: round(scores[k], 3) for k in MICROMOTION_FACTORS}
        ident = np.mean([scores[k] for k in IDENTITY_FACTORS])
        print(f"  {style:10s} micromotions {motion}  identity mean {ident:.3f}")


def main(argv=None) -> int:
    return training.command(argv, prog="train_meter", steps=3000, batch=96, lr=2e-3,
                            out=lambda judge: JUDGE_PATH if judge else METER_PATH,
                            description="Train the synthfaces factor meter (or, with --judge, the "
                                        "independent judge) on renders of all styles.",
                            train=train, report=_report,
                            resume_help="continue from the meter at --out",
                            what="meter", missing_hint=" or point --out at an existing meter",
                            options={"--judge": dict(action="store_true", help=(
                                "train the judge: its own width and seed, written to "
                                f"{JUDGE_PATH.name} unless --out says otherwise"))})


if __name__ == "__main__":
    sys.exit(main())
