"""The synthfaces text-image model: the `clip` package's own CLIP architecture, small, trained here.

Taught in ``notebooks/03_text_anchors.ipynb``. The paper scores prompts with CLIP ViT-B/32; our world
has its own CLIP — the very same class (``clip.model.CLIP``), tokenizer (``clip``'s BPE) and loss path
(image upsampled ×7, average-pooled to 224 px, no normalisation, ``1 − logits/100``) — trained
contrastively on renders and their captions from the paper's templates. Positives are graded by how
well a caption's degree fits the face's true strength (:func:`soft_targets`): with exact-caption
positives alone the model never learned to rank smiles (zero-shot accuracy 0.50, chance).

    python -m helpers.worlds.synthfaces.text_model --steps 3000   # writes data/synthfaces_clip.pt

``import clip`` itself needs torchvision (for ``clip.load``'s preprocessing, which the paper's loss
does not use); on machines without it, the two modules we need are loaded straight from the
installed package's files.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...files import atomic_write, snapshot
from ...guidance import clip_image_input, clip_loss, clip_module, tokenize, with_fast_patch_embedding
from ...shipped import DATA, record, verified
from ... import vocabulary
from . import captions, renderer

CLIP_PATH = DATA / "synthfaces_clip.pt"
CLIP_CONFIG = dict(embed_dim=128, image_resolution=112, vision_layers=4, vision_width=128,
                   vision_patch_size=16, context_length=77, vocab_size=49408, transformer_width=64,
                   transformer_heads=2, transformer_layers=4)
STYLE_WEIGHTS = {"photo": 0.7, "painting": 0.1, "cartoon": 0.1, "sculpture": 0.1}


def build() -> torch.nn.Module:
    """A fresh small CLIP; its logit scale is fixed at 100 like the real model's (clamped) one."""
    model = clip_module("model").CLIP(**CLIP_CONFIG)
    model.logit_scale.data.fill_(math.log(100.0))
    model.logit_scale.requires_grad_(False)
    return model


def load_text_model(path=None, device="cpu"):
    """The shipped synthfaces CLIP (hash-checked), eval mode, frozen."""
    path = verified(CLIP_PATH.name) if path is None else path
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build()
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return with_fast_patch_embedding(model.eval().requires_grad_(False).to(device))


def training_batch(step: int, batch: int, seed: int = 0):
    """Renders (mostly photo style) and one caption each: a random micromotion, percent or adjective.

    Half the faces are neutral except for the captioned micromotion, so every degree word has clean
    examples (the situation of the anchors: one face, one motion); the rest vary in everything.
    Returns ``images, texts, strengths [batch, motions], motion index [batch], degree [batch]``.
    """
    rng = np.random.RandomState((seed * 9_000_011 + step) % (2 ** 31))
    f = renderer.sample_factors(batch, seed=int(rng.randint(2 ** 31)))
    motions = rng.choice(list(vocabulary.TEMPLATES), size=batch)
    clean = rng.rand(batch) < 0.5
    for i in np.flatnonzero(clean):
        keep = float(f[i, renderer.factor_index(motions[i])])
        f[i:i + 1] = renderer.set_factors(f[i:i + 1], **{**renderer.NEUTRAL, motions[i]: keep})
    styles = rng.choice(list(STYLE_WEIGHTS), size=batch, p=list(STYLE_WEIGHTS.values()))
    images = torch.empty(batch, 3, 64, 64)
    for style in renderer.STYLES:
        idx = np.flatnonzero(styles == style)
        if len(idx):
            images[idx] = renderer.render(f[idx], style=style, seeds=int(rng.randint(2 ** 30)) + idx)
    kinds = rng.choice(["percent", "adjective"], size=batch)
    texts = [captions.caption(f[i:i + 1], motions[i], kinds[i], rng)[0] for i in range(batch)]
    names = list(vocabulary.TEMPLATES)
    strengths = np.stack([captions.strength(f, m) for m in names], 1)
    motion_index = np.array([names.index(m) for m in motions])
    degree = np.array([vocabulary.degree_value(vocabulary.degree_word(t, vocabulary.TEMPLATES[m]))
                       for t, m in zip(texts, motions)])
    return images, texts, strengths, motion_index, degree


def soft_targets(strengths, motion_index, degree, width: float = 0.12) -> torch.Tensor:
    """How well image i fits caption j: a Gaussian in (i's strength of j's motion − j's degree).

    Exact-string positives treat "60% smile" as a wrong caption for a 55 % smile; this graded
    match is still contrastive but teaches the order of the degrees.
    """
    s = np.asarray(strengths)[:, np.asarray(motion_index)]          # [images, texts]
    return torch.from_numpy(np.exp(-0.5 * ((s - np.asarray(degree)[None]) / width) ** 2)).float()


def contrastive_loss(model, images, texts, match: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE with soft positives: ``match[i, j]`` ≥ 0 says how well image i fits text j
    (default: 1 where the captions are identical strings)."""
    logits_per_image, logits_per_text = model(clip_image_input(images, model.visual.input_resolution),
                                              tokenize(texts))
    if match is None:
        match = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.float32)
    match = match + 1e-6 * torch.eye(len(texts))                     # every row/column has a positive
    to_text = match / match.sum(1, keepdim=True)
    to_image = match.t() / match.t().sum(1, keepdim=True)
    return 0.5 * (-(to_text * logits_per_image.log_softmax(1)).sum(1).mean()
                  - (to_image * logits_per_text.log_softmax(1)).sum(1).mean())


@torch.no_grad()
def ranking_accuracy(model, n: int = 48, seed: int = 31337) -> dict[str, float]:
    """Zero-shot check per micromotion: for the prompt of a strong degree ("big"/"90%"), how often does
    an image with more of the motion score higher than one with less? (0.5 = chance, 1 = perfect)."""
    out = {}
    strengths = np.array([0.0, 0.3, 0.6, 0.9])
    for m, template in vocabulary.TEMPLATES.items():
        base = renderer.sample_factors(n, seed=seed, neutral=True)
        f = base.repeat_interleave(len(strengths), 0)
        f = renderer.set_factors(f, **{m: torch.as_tensor(captions.factor_value(m, np.tile(strengths, n)),
                                                          dtype=torch.float32)})
        images = renderer.render(f, seeds=seed)
        loss = clip_loss(model, images, tokenize([vocabulary.fill(template, "90%")]))
        score = (-loss).reshape(n, len(strengths))
        pairs = [(i, j) for i in range(len(strengths)) for j in range(i + 1, len(strengths))]
        out[m] = float(np.mean([(score[:, j] > score[:, i]).float().mean().item() for i, j in pairs]))
    return out


def train(steps: int = 3000, batch: int = 128, lr: float = 5e-4, seed: int = 0, out=CLIP_PATH,
          threads: int = 1, resume=None) -> dict:
    """Train on fresh renders and captions every step (or continue the model at ``resume``); save."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build()
    made_by = f"python -m helpers.worlds.synthfaces.text_model --steps {steps} --batch {batch}"
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        seed += 1 + int(state.get("steps", 0))  # new batches, not a replay of the earlier run
        previous = state.get("made_by") or (f"python -m helpers.worlds.synthfaces.text_model "
                                            f"--steps {state.get('steps')} --batch {state.get('batch')}")
        made_by = f"{previous} && {made_by} --lr {lr} --resume"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    model.train()
    bar = tqdm(range(steps), desc="text model", mininterval=5)
    for step in bar:
        images, texts, strengths, motion_index, degree = training_batch(step, batch, seed)
        loss = contrastive_loss(model, images, texts, soft_targets(strengths, motion_index, degree))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    report = ranking_accuracy(model)
    # stored in half precision: the token table alone is 3 M numbers
    payload = {"model": {k: v.half() for k, v in model.state_dict().items()}, "config": json.dumps(CLIP_CONFIG),
               "steps": steps, "batch": batch, "ranking_accuracy": json.dumps(report), "made_by": made_by}
    atomic_write(out, lambda fh: torch.save(payload, fh))
    if Path(out).resolve().parent == DATA:
        record(out, made_by)
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description="Train the synthfaces CLIP on renders and their captions.")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(CLIP_PATH))
    p.add_argument("--resume", action="store_true",
                   help="continue from the model at --out (e.g. after the renderer changed)")
    a = p.parse_args(argv)
    t = time.time()
    if not a.resume:
        report = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads)
    elif not Path(a.out).is_file():
        print(f"text_model: no model at {a.out} to continue from; train one first (without --resume)",
              file=sys.stderr)
        return 2
    else:
        with snapshot(a.out) as start:
            report = train(a.steps, a.batch, a.lr, out=a.out, threads=a.threads, resume=start)
    print(f"trained in {time.time() - t:.0f} s; ranking accuracy for the '90%' prompt:",
          {k: round(v, 3) for k, v in report.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
