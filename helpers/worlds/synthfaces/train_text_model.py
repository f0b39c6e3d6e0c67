"""Train the synthfaces CLIP (``text_model``) contrastively on renders and their captions.

Positives are graded by how well a caption's degree fits the face's true strength
(:func:`soft_targets`): with exact-caption positives alone the model never learned to rank smiles.

    python -m helpers.worlds.synthfaces.train_text_model --steps 3000   # writes data/synthfaces_clip.pt
    python -m helpers.worlds.synthfaces.train_text_model --resume --steps 500 --gan-share 0.5
                                        # fine-tunes it with half of every batch from the GAN
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from ... import vocabulary
from ...guidance import clip_image_input, tokenize
from . import captions, renderer, training
from .text_model import CLIP_CONFIG, CLIP_PATH, build, ranking_accuracy

STYLE_WEIGHTS = {"photo": 0.7, "painting": 0.1, "cartoon": 0.1, "sculpture": 0.1}


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


def mixed_batch(step: int, batch: int, seed: int, world, directions: dict, gan_share: float):
    """:func:`training_batch` with a ``gan_share`` of its images replaced by :func:`gan_batch`'s,
    captioned the same way from the guide meter's reading."""
    k = int(round(gan_share * batch))
    images, texts, strengths, motion_index, degree = training_batch(step, batch - k, seed)
    if k == 0:
        return images, texts, strengths, motion_index, degree
    rng = np.random.RandomState((seed * 5_000_011 + step) % (2 ** 31))
    gan_images, f, motions = gan_batch(world, directions, k, rng)
    kinds = rng.choice(["percent", "adjective"], size=k)
    gan_texts = [captions.caption(f[i:i + 1].numpy(), motions[i], kinds[i], rng)[0] for i in range(k)]
    names = list(vocabulary.TEMPLATES)
    gan_strengths = np.stack([captions.strength(f.numpy(), m) for m in names], 1)
    gan_degree = np.array([vocabulary.degree_value(vocabulary.degree_word(t, vocabulary.TEMPLATES[m]))
                           for t, m in zip(gan_texts, motions)])
    return (torch.cat([images, gan_images]), texts + gan_texts,
            np.concatenate([strengths, gan_strengths]),
            np.concatenate([motion_index, [names.index(m) for m in motions]]),
            np.concatenate([degree, gan_degree]))


def gan_batch(world, directions: dict, n: int, rng: np.random.RandomState):
    """``n`` GAN images for fine-tuning on the generator's own pictures: samples at ψ = 1, each moved
    by a random multiple (−0.5 … 1.5) of the built-in direction of a random micromotion, with their
    factors as the **guide** meter reads them (the judge, which scores the text model, never labels
    its training data). Returns ``images, factors, motions``."""
    names = list(vocabulary.TEMPLATES)
    ws = world.sample_wplus(n, seed=int(rng.randint(2 ** 31)), truncation=1.0).cpu()
    motions = rng.choice(names, size=n)
    alphas = torch.from_numpy(rng.uniform(-0.5, 1.5, size=n).astype(np.float32))
    ws = ws + alphas[:, None, None] * torch.stack([directions[m] for m in motions])
    images = world.synthesize(ws)
    return images, world.measure(images, by="meter"), motions


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


def train(steps: int = 3000, batch: int = 128, lr: float = 5e-4, seed: int = 0, out=CLIP_PATH,
          threads: int = 1, resume=None, gan_share: float = 0.0) -> dict:
    """Train on fresh renders and captions every step (or continue the model at ``resume``); save.

    ``gan_share``: the fraction of every batch that is GAN images (:func:`gan_batch`) captioned from
    the guide meter's reading, to fine-tune the text model on the pictures its anchors are made of."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build()
    made_by = f"python -m helpers.worlds.synthfaces.train_text_model --steps {steps} --batch {batch}"
    world = directions = None
    if gan_share:
        from ... import worlds
        from ...directions import builtin_direction
        world = worlds.load("synthfaces", device="cpu")
        directions = {m: builtin_direction(world, m, progress=False)[0].cpu() for m in vocabulary.TEMPLATES}
        made_by += f" --gan-share {gan_share:g}"
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        seed += 1 + int(state.get("steps", 0))  # new batches, not a replay of the earlier run
        previous = state.get("made_by") or (f"python -m helpers.worlds.synthfaces.text_model "
                                            f"--steps {state.get('steps')} --batch {state.get('batch')}")
        made_by = f"{previous} && {made_by} --lr {lr} --resume"

    def batch_loss(step):
        images, texts, strengths, motion_index, degree = mixed_batch(step, batch, seed, world,
                                                                     directions, gan_share)
        return contrastive_loss(model, images, texts, soft_targets(strengths, motion_index, degree))

    training.fit(model, [p for p in model.parameters() if p.requires_grad], batch_loss, steps, lr,
                 weight_decay=0.05, pct_start=0.05, desc="text model", loss_format=".3f")
    report = ranking_accuracy(model)
    # stored in half precision: the token table alone is 3 M numbers
    training.save(out, {"model": {k: v.half() for k, v in model.state_dict().items()},
                        "config": json.dumps(CLIP_CONFIG), "steps": steps, "batch": batch,
                        "ranking_accuracy": json.dumps(report), "made_by": made_by}, made_by)
    return report


def _report(report: dict, seconds: float) -> None:
    print(f"trained in {seconds:.0f} s; ranking accuracy for the '90%' prompt:",
          {k: round(v, 3) for k, v in report.items()})


def share(text: str) -> float:
    """``--gan-share``'s value: a fraction in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("--gan-share takes a fraction in [0, 1), e.g. --gan-share 0.5")
    return value


def main(argv=None) -> int:
    return training.command(argv, prog="train_text_model", steps=3000, batch=128, lr=5e-4, out=CLIP_PATH,
                            description="Train the synthfaces CLIP on renders and their captions.",
                            train=train, report=_report, missing_hint="",
                            resume_help="continue from the model at --out (e.g. after the renderer changed)",
                            options={"--gan-share": dict(type=share, default=0.0, help=(
                                "a fraction of every batch from the GAN (fine-tuning)"))})


if __name__ == "__main__":
    sys.exit(main())
