"""Captions of synthfaces renders in the paper's vocabulary (``helpers.vocabulary``).

Taught in ``notebooks/00_synthfaces.ipynb`` and used to train the synthfaces text model: a render's
factors say how much of each micromotion it shows, and that strength becomes a degree word of the
paper's percentage or adjective set in its template.
"""
from __future__ import annotations

import numpy as np

from ...vocabulary import ADJECTIVES, TEMPLATES, fill
from .renderer import FACTORS, factor_index

def strength(factors, micromotion: str) -> np.ndarray:
    """How much of ``micromotion`` a face shows, in [0, 1] (the yaw one counts rightward turns)."""
    f = np.asarray(factors, dtype=np.float64).reshape(-1, len(FACTORS))[:, factor_index(micromotion)]
    return np.clip((f - 0.5) * 2, 0, 1) if micromotion == "yaw" else f


def factor_value(micromotion: str, strength_value):
    """Inverse of :func:`strength`: the factor value that shows ``strength_value``."""
    s = np.asarray(strength_value, dtype=np.float64)
    return 0.5 + s / 2 if micromotion == "yaw" else s


def percentage_word(s: float) -> str:
    """Strength → "no", "10%", …, "100%" (nearest tenth)."""
    k = int(round(float(s) * 10))
    return "no" if k == 0 else f"{10 * k}%"


def adjective_word(s: float, rng: np.random.RandomState | None = None) -> str:
    """Strength → one of the paper's adjectives whose range holds it (random among synonyms)."""
    words = [w for w, (lo, hi) in ADJECTIVES.items() if lo <= s <= hi]
    return words[0] if rng is None else words[rng.randint(len(words))]


def caption(factors, micromotion: str, kind: str = "percent", rng=None) -> list[str]:
    """One caption per face describing ``micromotion`` with percentages or adjectives."""
    if micromotion not in TEMPLATES:
        raise ValueError(f"no template for {micromotion!r}; micromotions: {', '.join(TEMPLATES)}")
    word = percentage_word if kind == "percent" else (lambda s: adjective_word(s, rng))
    if kind not in ("percent", "adjective"):
        raise ValueError("kind must be 'percent' or 'adjective'")
    return [fill(TEMPLATES[micromotion], word(s)) for s in strength(factors, micromotion)]
