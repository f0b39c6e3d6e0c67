"""Faces to invert: the paper's headline is an edit of a *real* or out-of-domain face.

A world with a renderer (synthfaces) draws its own people in each style — photo, painting,
cartoon, sculpture — with known factors. A world without one (ffhq) takes real photos instead: the
user's own files, else scikit-image's public-domain ``astronaut`` (Eileen Collins, NASA), each
FFHQ-aligned (:func:`helpers.alignment.align_face`) as the paper aligns every face before ReStyle.
Its out-of-domain styles are the aligned photo redrawn by fixed filters (a painting's flat strokes,
a cartoon's flat colours and ink lines, a sculpture's grey shaded stone), so the face stays where
the encoder expects it and only the domain changes. One call, :func:`faces`, serves both worlds;
chapters ask ``faces.kind`` ("rendered" or "real") what ground truth they have.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter, ImageOps

STYLES = ("photo", "painting", "cartoon", "sculpture")


@dataclass
class Faces:
    """``images`` [n, 3, res, res] in [-1, 1]; ``names`` one per image; ``kind``: "rendered"
    (``factors`` [n, k] known) or "real" (no ground truth); ``notes``: what was done or missing."""

    images: "object"
    names: list[str]
    kind: str
    style: str
    factors: "object" = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def faces(world, n: int, style: str = "photo", seed: int = 0,
          paths: Sequence | None = None) -> Faces:
    """Up to ``n`` faces in ``style`` for ``world`` to invert (see the module's docstring).

    Real photos (``paths``, or the astronaut when none are given) are aligned to the world's
    resolution; a world with a renderer ignores ``paths`` unless given, and renders ``n`` neutral
    people from ``RandomState(seed)``. Fewer real photos than ``n`` is not an error: ``notes``
    says how many there are.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are: {', '.join(STYLES)}")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, not {n!r}")
    if paths is None and world.has("renderer"):
        r = world.renderer
        people = r.sample_factors(int(n), seed=seed, neutral=True)
        images = r.render(people, style=style, size=world.resolution, seeds=range(int(n)))
        return Faces(images, [f"{style} render {i}" for i in range(int(n))], "rendered", style,
                     factors=people)
    sources, names = _photo_sources(paths)
    from .alignment import align_face
    aligned, notes = [], []
    for source, name in zip(sources[:int(n)], names):
        image, info = align_face(source, output_size=max(world.resolution, 256))
        aligned.append(stylise(image, style))
        notes += [f"{name}: {note}" for note in info.notes]
    if len(sources) < n:
        notes.append(f"{len(sources)} real photo(s) for the {int(n)} asked: pass paths= "
                     "(your own photos) for more")
    return Faces(world.preprocess(aligned), names[:len(aligned)], "real", style, notes=notes)


def _photo_sources(paths):
    if paths:
        return list(paths), [str(getattr(p, "name", p)) for p in paths]
    try:
        from skimage import data
    except ImportError as err:
        raise ImportError("the public-domain test photo comes with scikit-image: "
                          "`pip install scikit-image`, or pass paths= to your own photos") from err
    return [data.astronaut()], ["astronaut (scikit-image, public domain)"]


def stylise(image: Image.Image, style: str) -> Image.Image:
    """An aligned RGB face redrawn in ``style`` by fixed filters (deterministic; the geometry is
    unchanged, so the face stays where the encoder expects it)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are: {', '.join(STYLES)}")
    image = image.convert("RGB")
    side = image.size[0]
    k = max(3, (side // 96) | 1)                     # filter sizes scale with the image (odd)
    if style == "photo":
        return image
    if style == "painting":                           # flat strokes in a reduced palette
        strokes = image.filter(ImageFilter.ModeFilter(k)).filter(ImageFilter.SMOOTH_MORE)
        return strokes.quantize(24, dither=Image.Dither.NONE).convert("RGB")
    if style == "cartoon":                            # flat colours and dark ink lines
        flat = image.filter(ImageFilter.MedianFilter(k)).quantize(
            8, dither=Image.Dither.NONE).convert("RGB")
        edges = np.asarray(image.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32)
        ink = (edges > np.percentile(edges, 90))[..., None]
        return Image.fromarray(np.where(ink, 20, np.asarray(flat)).astype(np.uint8))
    grey = ImageOps.autocontrast(image.convert("L").filter(ImageFilter.GaussianBlur(side / 256)))
    relief = np.asarray(grey.filter(ImageFilter.EMBOSS), dtype=np.float32)
    stone = 0.6 * np.asarray(grey, dtype=np.float32) + 0.4 * relief
    tint = np.array([1.0, 0.97, 0.9], dtype=np.float32)          # warm marble
    return Image.fromarray(np.clip(stone[..., None] * tint, 0, 255).astype(np.uint8))


def edit_profile(world, codes, direction, micromotion: str, alphas, frames=None) -> dict:
    """What an edit of inverted faces shows where no meter knows the truth (real photos).

    For each α of ``w + α Δ`` (frames from :func:`helpers.transfer.render_edit`, or given):
    ``clip_degree`` [len(α), n], the degree of ``micromotion`` the text model reads (its zero-shot
    expected degree over the eleven prompts; a text direction was made against this reading, so
    it is the guide's view, not an independent judge) and ``identity`` [len(α), n], the cosine of
    each frame's identity embedding (ArcFace on ffhq) to the unedited frame's; ``judge`` [len(α),
    n] as well where the world has one (the ground truth).
    """
    import torch
    from . import text_ranking, transfer
    if frames is None:
        frames = transfer.render_edit(world, codes, direction, alphas, progress=False)
    n, t = frames.shape[:2]
    flat = frames.reshape(n * t, *frames.shape[2:])

    def per_alpha(values):
        return np.asarray(values, dtype=np.float64).reshape(n, t).T

    similarities = text_ranking.clip_similarities(world, flat, micromotion,
                                                  text_ranking.PERCENTAGES)
    out = {"alphas": np.asarray(alphas, dtype=np.float64),
           "clip_degree": per_alpha(text_ranking.read_degree(similarities))}
    with torch.no_grad():
        unedited = world.identity_embedding(world.synthesize(codes).to(world.device))
        edited = world.identity_embedding(flat.to(world.device))
        unedited = torch.nn.functional.normalize(unedited.float(), dim=-1)
        edited = torch.nn.functional.normalize(edited.float(), dim=-1).reshape(n, t, -1)
        out["identity"] = (edited * unedited[:, None]).sum(-1).T.cpu().numpy().astype(np.float64)
    if world.has("judge"):
        out["judge"] = per_alpha(text_ranking.judged_strength(world, flat, micromotion))
    return out


def reading(profile: dict) -> str:
    """One profile in a table cell: the text model's mean rise from the first α to the last /
    the mean identity cosine at the last α (/ the judge's mean rise, where there is one)."""
    rise = lambda v: v[-1].mean() - v[0].mean()
    text = f"{rise(profile['clip_degree']):+.2f} / {profile['identity'][-1].mean():.2f}"
    return text + (f" / {rise(profile['judge']):+.2f}" if "judge" in profile else "")


def proxy_agreement(profiles: dict, resamples: int = 2000, seed: int = 0) -> dict:
    """How far the readings without ground truth can stand in for the judge.

    ``profiles``: ``{style: {micromotion: edit_profile(...)}}`` made on a world with a judge. For
    each micromotion, every face's rise from the first α to the last as the text model reads it
    and as the judge reads it (pooled over styles), and Pearson's r between the two over faces;
    ``mean``: r averaged over micromotions, its 95 % interval from resampling faces
    (``RandomState(seed)``); ``n``: faces per micromotion. An r near 1 says the text model ranks
    the edits as the judge does; it says nothing about the identity readings.
    """
    rises: dict = {}
    for per_motion in profiles.values():
        for m, p in per_motion.items():
            if "judge" not in p:
                raise ValueError("proxy_agreement needs profiles from a world with a judge "
                                 "(synthfaces); on ffhq no reading is ground truth")
            clip, judge = rises.setdefault(m, ([], []))
            clip.extend(p["clip_degree"][-1] - p["clip_degree"][0])
            judge.extend(p["judge"][-1] - p["judge"][0])
    if not rises:
        raise ValueError("no profiles given")
    pairs = {m: (np.asarray(c), np.asarray(j)) for m, (c, j) in rises.items()}
    n = min(len(c) for c, _ in pairs.values())
    if n < 3:
        raise ValueError(f"need at least 3 faces per micromotion for a correlation, got {n}")

    def r(c, j):
        if c.std() == 0 or j.std() == 0:
            return float("nan")
        return float(np.corrcoef(c, j)[0, 1])

    per_motion = {m: r(c, j) for m, (c, j) in pairs.items()}
    rng = np.random.RandomState(seed)
    draws = []
    for _ in range(resamples):
        rs = []
        for c, j in pairs.values():
            i = rng.randint(0, len(c), len(c))
            rs.append(r(c[i], j[i]))
        draws.append(np.nanmean(rs) if np.isfinite(rs).any() else np.nan)
    mean = float(np.nanmean(list(per_motion.values())))
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"per_motion": per_motion, "mean": mean, "low": min(float(low), mean),
            "high": max(float(high), mean), "n": n}

