"""Does the text model order faces by a micromotion as the judge does? Pairwise ranking accuracy.

Taught in ``notebooks/03_text_anchors.ipynb``. Text anchors can only follow what CLIP's loss can
tell apart, and the small CLIP was trained on renders. Here it is measured where the anchors live,
on GAN images: of all pairs of images whose judged strength of a micromotion differs by more than
``margin``, the fraction whose CLIP similarity to a degree prompt orders them the same way (0.5:
chance; 1: every pair right). Strength is :func:`captions.strength` of the judge's reading (the head
turn counts rightward turns, as the prompts do).
"""
from __future__ import annotations

import numpy as np
import torch

from .vocabulary import TEMPLATES, fill
from .worlds.synthfaces import captions

MARGIN = 0.1            # pairs closer than this in judged strength are not counted (meter noise)


def concordance(scores, strengths, groups=None, margin: float = MARGIN) -> tuple[int, int]:
    """(pairs ordered right, pairs counted): pairs whose ``strengths`` differ by more than ``margin``,
    right when ``scores`` differ the same way. With ``groups``, only pairs within a group count."""
    s, t = np.asarray(scores, float), np.asarray(strengths, float)
    ds, dt = s[:, None] - s[None], t[:, None] - t[None]
    counted = dt > margin                                  # each unordered pair once: i stronger
    if groups is not None:
        g = np.asarray(groups)
        counted &= g[:, None] == g[None]
    return int((counted & (ds > 0)).sum()), int(counted.sum())


def ranking_accuracy(scores, strengths, groups=None, margin: float = MARGIN, resamples: int = 500,
                     seed: int = 0) -> dict:
    """:func:`concordance` as a fraction with a 95 % bootstrap interval over images (or over groups,
    when given: pairs of one image are not independent, so whole units are resampled)."""
    right, total = concordance(scores, strengths, groups, margin)
    if total == 0:
        raise ValueError("no pair of images differs in judged strength by more than the margin")
    s, t = np.asarray(scores, float), np.asarray(strengths, float)
    units = np.arange(len(s)) if groups is None else np.asarray(groups)
    members = [np.flatnonzero(units == u) for u in np.unique(units)]
    rng, fractions = np.random.RandomState(seed), []
    for _ in range(resamples):
        pick = rng.choice(len(members), len(members))
        idx = np.concatenate([members[k] for k in pick])
        # a unit drawn twice is two units: its copies get their own labels and never pair; without
        # groups an image drawn twice ties with itself in strength, so it is never counted anyway
        labels = np.repeat(np.arange(len(pick)), [len(members[k]) for k in pick])
        r, n = concordance(s[idx], t[idx], labels if groups is not None else None, margin)
        if n:
            fractions.append(r / n)
    low, high = np.percentile(fractions, [2.5, 97.5])
    return {"accuracy": right / total, "low": float(min(low, right / total)),
            "high": float(max(high, right / total)), "pairs": total, "n": len(members)}


@torch.no_grad()
def clip_scores(world, images: torch.Tensor, micromotion: str, degree: str = "100%",
                batch: int = 64) -> np.ndarray:
    """The text model's similarity of each image to ``micromotion``'s prompt at ``degree``
    (``1 −`` the paper's CLIP loss: higher is more alike) [n]."""
    text = world.encode_text([fill(TEMPLATES[micromotion], degree)])
    out = [1 - world.clip_loss(images[i:i + batch].to(world.device), text).cpu()
           for i in range(0, len(images), batch)]
    return torch.cat(out).numpy()


def judged_strength(world, images: torch.Tensor, micromotion: str) -> np.ndarray:
    """How much of ``micromotion`` each image shows, as the judge reads it, in [0, 1] [n]."""
    return captions.strength(world.measure(images).numpy(), micromotion)


def gan_ranking(world, micromotion: str, n: int = 200, seed: int = 0, degree: str = "100%") -> dict:
    """:func:`ranking_accuracy` on ``n`` GAN samples at ψ = 1 (all pairs)."""
    images = world.synthesize(world.sample_wplus(n, seed, truncation=1.0))
    return ranking_accuracy(clip_scores(world, images, micromotion, degree),
                            judged_strength(world, images, micromotion), seed=seed)


def edit_ranking(world, micromotion: str, direction: torch.Tensor, targets: torch.Tensor,
                 alphas=(0.0, 0.25, 0.5, 0.75, 1.0), degree: str = "100%", seed: int = 0) -> dict:
    """:func:`ranking_accuracy` along edits: each target moved by ``α · direction``, pairs within
    one target's sweep only (the identity fixed, only the micromotion varies), targets resampled."""
    from .transfer import render_edit
    frames = render_edit(world, targets, direction, alphas, progress=False)
    images = frames.reshape(-1, *frames.shape[2:])
    groups = np.repeat(np.arange(len(targets)), len(alphas))
    return ranking_accuracy(clip_scores(world, images, micromotion, degree),
                            judged_strength(world, images, micromotion), groups, seed=seed)


def render_ranking(world, micromotion: str, n: int = 200, seed: int = 0, degree: str = "100%") -> dict:
    """:func:`ranking_accuracy` on ``n`` renders of random people (the text model's training
    distribution), scored by the judge like the GAN's images."""
    from .worlds.synthfaces import renderer
    images = renderer.render(renderer.sample_factors(n, seed=seed + 7), size=world.resolution,
                             seeds=seed + 7)
    return ranking_accuracy(clip_scores(world, images, micromotion, degree),
                            judged_strength(world, images, micromotion), seed=seed)
