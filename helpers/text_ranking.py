"""Does the text model order faces by a micromotion as the judge does? Pairwise ranking accuracy.

Taught in ``notebooks/03_text_anchors.ipynb``. Text anchors can only follow what CLIP's loss can
tell apart, and the small CLIP was trained on renders. Here it is measured where the anchors live,
on GAN images: of all pairs of images whose judged strength of a micromotion differs by more than
``margin``, the fraction whose CLIP similarity to a degree prompt orders them the same way (0.5:
chance; 1: every pair right). Strength is :func:`captions.strength` of the judge's reading (the head
turn counts rightward turns, as the prompts do). One prompt's similarity is not the whole story:
:func:`degree_profile` measures it per degree and for the degree CLIP reads over all prompts.
"""
from __future__ import annotations

import numpy as np
import torch

from .vocabulary import PERCENTAGES, TEMPLATES, degree_value, fill
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
def clip_similarities(world, images: torch.Tensor, micromotion: str, degrees=("100%",),
                      batch: int = 64, features: torch.Tensor | None = None) -> np.ndarray:
    """The text model's similarity (``1 −`` the paper's CLIP loss: higher is more alike) of each image
    to ``micromotion``'s prompt at each of ``degrees`` [n, k]; each image is encoded once (or pass
    its :meth:`World.encode_image` ``features``)."""
    if features is None:
        features = torch.cat([world.encode_image(images[i:i + batch])
                              for i in range(0, len(images), batch)])
    text = world.encode_text([fill(TEMPLATES[micromotion], d) for d in degrees])
    return world.clip_similarity(features.to(world.device), text).cpu().numpy()


def clip_scores(world, images: torch.Tensor, micromotion: str, degree: str = "100%",
                batch: int = 64) -> np.ndarray:
    """:func:`clip_similarities` to one degree's prompt [n]."""
    return clip_similarities(world, images, micromotion, (degree,), batch)[:, 0]


def read_degree(similarities: np.ndarray, degrees=PERCENTAGES) -> np.ndarray:
    """The degree the text model reads in each image [n]: the expected degree value under its
    zero-shot classifier over the degree prompts (softmax of CLIP's logits, ``100 ×`` similarity)."""
    logits = 100 * np.asarray(similarities, float)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return (p / p.sum(1, keepdims=True)) @ np.array([degree_value(d) for d in degrees])


def degree_profile(world, images: torch.Tensor, micromotion: str, degrees=PERCENTAGES,
                   features: torch.Tensor | None = None, seed: int = 0) -> dict:
    """How the ranking depends on the prompt: pairwise accuracy of the similarity to each degree's
    prompt (below 0.5 for weak degrees: a face with more smile is *less* like "no smile"), and of
    :func:`read_degree`, the reading over all prompts at once, which is what text anchors are
    optimised against. ``guide``: the guide meter's own accuracy on the same pairs, the most that
    text-model training on the guide's captions can reach against the judge."""
    sims = clip_similarities(world, images, micromotion, degrees, features=features)
    judged = judged_strength(world, images, micromotion)
    per = [concordance(sims[:, k], judged) for k in range(len(degrees))]
    guide = captions.strength(world.measure(images, by="meter").numpy(), micromotion)
    return {"degrees": list(degrees), "per_degree": [r / n for r, n in per],
            "readout": ranking_accuracy(read_degree(sims, degrees), judged, seed=seed),
            "guide": ranking_accuracy(guide, judged, seed=seed)}


def judged_strength(world, images: torch.Tensor, micromotion: str) -> np.ndarray:
    """How much of ``micromotion`` each image shows, as the judge reads it, in [0, 1] [n]."""
    return captions.strength(world.measure(images).numpy(), micromotion)


def gan_samples(world, n: int = 200, seed: int = 0) -> torch.Tensor:
    """``n`` GAN samples at ψ = 1, the images :func:`gan_ranking` is measured on."""
    return world.synthesize(world.sample_wplus(n, seed, truncation=1.0))


def gan_ranking(world, micromotion: str, n: int = 200, seed: int = 0, degree: str = "100%",
                images: torch.Tensor | None = None, features: torch.Tensor | None = None) -> dict:
    """:func:`ranking_accuracy` on ``n`` GAN samples at ψ = 1 (all pairs); pass the
    :func:`gan_samples` (and their encoded ``features``) to measure several micromotions on them."""
    images = gan_samples(world, n, seed) if images is None else images
    scores = clip_similarities(world, images, micromotion, (degree,), features=features)[:, 0]
    return ranking_accuracy(scores, judged_strength(world, images, micromotion), seed=seed)


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
