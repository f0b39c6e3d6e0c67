"""Captions of synthfaces renders with the paper's prompt templates and degree sets.

Taught in ``notebooks/00_synthfaces.ipynb`` and used to train the synthfaces text model. The
templates are the four of the paper (§4) plus one for the head turn, which the paper anchors with
video instead; the degree words are the paper's adjective set and its percentage set.
"""
from __future__ import annotations

import numpy as np

from .renderer import FACTORS, factor_index

TEMPLATES = {
    "smile": "A person with {} smile",
    "anger": "A person with {} angry face",
    "eye_closure": "A person with eyes {} closed",
    "age": "{} old person with gray hair",
    "yaw": "A person with the head {} turned to the right",
}
#: The released code's degrees: "no", then 10 % … 100 % (11 prompts).
PERCENTAGES = ("no",) + tuple(f"{p}%" for p in range(10, 101, 10))
#: The paper's adjective set, with the strength range each one stands for.
ADJECTIVES = {"no": (0.0, 0.08), "a slight": (0.08, 0.35), "slight": (0.08, 0.35), "": (0.35, 0.6),
              "a big": (0.6, 0.85), "big": (0.6, 0.85), "a large": (0.85, 1.0), "large": (0.85, 1.0)}


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


def degree_value(word: str) -> float:
    """A degree word → the strength it stands for ("no" 0, "30%" 0.3, an adjective its range's middle)."""
    word = word.strip()
    if word.endswith("%") and word[:-1].isdigit():
        return int(word[:-1]) / 100
    key = word[:1].lower() + word[1:]
    if key not in ADJECTIVES:
        raise ValueError(f"unknown degree word {word!r}: use 'no', a percentage or one of "
                         f"{', '.join(repr(w) for w in ADJECTIVES)}")
    lo, hi = ADJECTIVES[key]
    return 0.0 if key == "no" else (lo + hi) / 2


def degree_word(text: str, template: str) -> str:
    """The degree word that :func:`fill` put into ``template`` to make ``text``."""
    head, tail = (" ".join(part.split()) for part in template.split("{}"))
    body = " ".join(text.split())
    if head and body.lower().startswith(head.lower()):
        body = body[len(head):]
    if tail and body.lower().endswith(tail.lower()):
        body = body[:len(body) - len(tail)]
    return body.strip()


def fill(template: str, degree: str) -> str:
    """Put ``degree`` into ``template``'s ``{}`` and tidy spaces and the leading capital."""
    if "{}" not in template:
        raise ValueError(f"template {template!r} has no '{{}}' for the degree word, e.g. "
                         "'A person with {} smile'")
    text = " ".join(template.format(degree).split())
    return text[:1].upper() + text[1:]


def prompts(template: str, degrees=PERCENTAGES) -> list[str]:
    """The prompt sweep of one template, e.g. the code's 11 prompts "no" … "100%"."""
    if len(degrees) == 0:
        raise ValueError("the degree list is empty: give at least two degrees, e.g. PERCENTAGES")
    return [fill(template, d) for d in degrees]


def caption(factors, micromotion: str, kind: str = "percent", rng=None) -> list[str]:
    """One caption per face describing ``micromotion`` with percentages or adjectives."""
    if micromotion not in TEMPLATES:
        raise ValueError(f"no template for {micromotion!r}; micromotions: {', '.join(TEMPLATES)}")
    word = percentage_word if kind == "percent" else (lambda s: adjective_word(s, rng))
    if kind not in ("percent", "adjective"):
        raise ValueError("kind must be 'percent' or 'adjective'")
    return [fill(TEMPLATES[micromotion], word(s)) for s in strength(factors, micromotion)]


def resolve_template(template: str) -> str:
    """A micromotion name (``smile``, ``age``…) or a template with ``{}`` → the template.

    Used by :meth:`helpers.worlds.World.template` and the command line, which refuses a bad
    template before any model is built.
    """
    if template in TEMPLATES:
        return TEMPLATES[template]
    if not isinstance(template, str) or "{}" not in template:
        raise ValueError(f"unknown prompt template {template!r}: give a micromotion name "
                         f"({', '.join(TEMPLATES)}) or a template with '{{}}' for the degree word, "
                         "e.g. 'A person with {} smile'")
    if template.count("{}") > 1 or "{" in template.replace("{}", "") or "}" in template.replace("{}", ""):
        raise ValueError(f"template {template!r} must hold exactly one '{{}}' (where the degree word "
                         "goes) and no other braces")
    return template
