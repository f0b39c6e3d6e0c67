"""Benchmark text anchors: all prompts and identities in one batch vs one-by-one loops.

Same world, start codes, prompts and steps. Three timings, side by side in one run:

- **paper's loop**: one code at a time, each step computed as the paper's code does it (the prompt
  re-encoded inside the CLIP call and the start image's identity features re-extracted at every
  step, CLIP's input built through a ×7 image);
- **our loop**: one code at a time through :func:`helpers.anchors.optimise_prompts` (prompts and
  reference encoded once, CLIP's input by two small matrices);
- **batched**: every code in one call of the same function.

batched vs our loop is what batching alone buys (goal ≥ 3× on CPU, ≥ 8× on a GPU); batched vs the
paper's loop is what a user gains over the released code's way. Prints the largest difference too.

    .venv/bin/python bench/anchors.py [--identities 2] [--steps 40] [--device auto]
"""
import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import anchors, worlds  # noqa: E402
from helpers.worlds.synthfaces.captions import PERCENTAGES, prompts  # noqa: E402


def paper_clip_loss(model, images, tokens):
    """The released code's CLIP loss: ×7 nearest upsample, average pool, text encoded in the call."""
    k = images.shape[-1] * 7 // model.visual.input_resolution
    x = F.avg_pool2d(F.interpolate(images, scale_factor=7, mode="nearest"), k)
    logits_per_image, _ = model(x, tokens)
    return 1 - logits_per_image[:, 0] / 100


def paper_loop_one(world, start, text, steps, lr=0.1, l2_lambda=0.008, id_lambda=0.005):
    """One code, every step recomputing what never changes (the paper's run_optimization)."""
    g, model = world.generator, world.text_model
    w0 = start.detach().to(world.device)
    ws = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr)
    tokens = world.tokenize([text]).to(world.device)
    with torch.no_grad():
        reference = g.synthesis(w0)              # its identity features are re-extracted every step
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = anchors.styleclip_lr(step / steps, lr)
        images = g.synthesis(ws)
        loss = paper_clip_loss(model, images, tokens) + l2_lambda * (ws - w0).pow(2).sum([1, 2])
        loss = loss + id_lambda * world.identity_loss(images, reference)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return ws.detach()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--identities", type=int, default=2)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    world = worlds.load("synthfaces", device=a.device)
    starts = world.sample_wplus(a.identities, seed=1)
    texts = prompts("A person with {} smile", PERCENTAGES)
    pairs = [(i, text) for i in range(a.identities) for text in texts]
    sync = torch.cuda.synchronize if world.device.type == "cuda" else (lambda: None)

    def timed(fn):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        return out, time.perf_counter() - t

    # warm-up: lazy model loads and first-call kernel set-up must not land on any timing
    anchors.optimise_prompts(world, starts[:1], texts[:1], 1, progress=False)
    anchors.optimise_prompts(world, starts.repeat_interleave(len(texts), 0), texts * a.identities, 1,
                             progress=False)
    paper_loop_one(world, starts[:1], texts[0], 1)
    batched, t_batch = timed(lambda: anchors.optimise_prompts(
        world, starts.repeat_interleave(len(texts), 0), texts * a.identities, a.steps, progress=False))
    loop, t_loop = timed(lambda: torch.cat([anchors.optimise_prompts(
        world, starts[i:i + 1], [text], a.steps, progress=False) for i, text in pairs]))
    paper, t_paper = timed(lambda: torch.cat([paper_loop_one(world, starts[i:i + 1], text, a.steps)
                                              for i, text in pairs]))
    print(f"{a.identities} identities × {len(texts)} prompts × {a.steps} steps on {world.device} "
          f"({torch.get_num_threads()} threads)")
    print(f"paper's loop: {t_paper:7.2f} s   our loop: {t_loop:7.2f} s   batched: {t_batch:7.2f} s")
    print(f"batched vs our loop: {t_loop / t_batch:.1f}x (goal ≥ 3x CPU, ≥ 8x GPU)   "
          f"batched vs paper's loop: {t_paper / t_batch:.1f}x")
    w0 = starts.repeat_interleave(len(texts), 0).to(batched.device)
    moved = batched - w0

    def agreement(other):  # the difference as a fraction of how far the codes moved, and the cosine
        other = other.to(batched.device)
        rel = float((batched - other).norm() / moved.norm())
        cos = F.cosine_similarity(moved.flatten(1), (other - w0).flatten(1), dim=1)
        return f"{rel:.1e} of the movement, min cosine of the moves {float(cos.min()):.4f}"

    print(f"batched vs our loop: {agreement(loop)}; vs the paper's loop: {agreement(paper)}")
    print("(float sums in another order; Adam's normalised steps amplify rounding where a gradient is ~0)")


if __name__ == "__main__":
    main()
