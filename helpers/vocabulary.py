"""The paper's vocabulary: its prompt templates, its two degree sets, and the prompts they make.

World-neutral: the synthfaces captions, the ffhq world's text anchors, the command line and the
directions all speak it. The templates are the four of the paper (§4) plus one for the head turn,
which the paper anchors with video instead; the degree words are the released code's percentages
("no", 10 % … 100 %) and the paper's adjective set. Imports nothing heavy: ``micromotion --help``
reads the micromotion names from here.
"""
from __future__ import annotations

TEMPLATES = {
    "smile": "A person with {} smile",
    "anger": "A person with {} angry face",
    "eye_closure": "A person with eyes {} closed",
    "age": "{} old person with gray hair",
    "yaw": "A person with the head {} turned to the right",
}
#: Templates for things the synthfaces world has no factor for (no renderer draws glasses or
#: freckles, no caption names them): text anchors made with them move the codes only as far as an
#: uninformed guide does, the irrelevant-prompt null of the low-rank test (chapter 6).
IRRELEVANT_TEMPLATES = {"glasses": "A person wearing {} glasses", "freckles": "A person with {} freckles"}
#: The released code's degrees: "no", then 10 % … 100 % (11 prompts).
PERCENTAGES = ("no",) + tuple(f"{p}%" for p in range(10, 101, 10))
#: The paper's adjective set, with the strength range each one stands for.
ADJECTIVES = {"no": (0.0, 0.08), "a slight": (0.08, 0.35), "slight": (0.08, 0.35), "": (0.35, 0.6),
              "a big": (0.6, 0.85), "big": (0.6, 0.85), "a large": (0.85, 1.0), "large": (0.85, 1.0)}
#: Named degree sets: the released code's percentages and the paper's adjective set.
DEGREE_SETS = {"percent": PERCENTAGES, "adjectives": tuple(ADJECTIVES)}
#: The micromotions by name.
MICROMOTIONS = tuple(TEMPLATES)


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


def parse_degrees(spec) -> tuple[str, ...]:
    """``'percent'`` | ``'adjectives'`` | ``'w1,w2,…'`` | a sequence of words → the degree words.

    A direction needs at least two degrees (the start code plus one anchor gives a line, not a motion
    the decomposition can check), so fewer are refused, as are repeated words.
    """
    if isinstance(spec, str):
        if spec.strip().lower() in DEGREE_SETS:
            return DEGREE_SETS[spec.strip().lower()]
        words = tuple(w.strip() for w in spec.split(",") if w.strip())
    else:
        words = tuple(str(w) for w in spec)
    hint = "give 'percent', 'adjectives' or at least 2 comma-separated degree words, e.g. 'no,slight,big'"
    if not words:
        raise ValueError(f"the degree list is empty: {hint}")
    if len(words) == 1:
        raise ValueError(f"one degree ({words[0]!r}) gives one anchor only, too few for a direction: {hint}")
    repeated = sorted({w for w in words if words.count(w) > 1})
    if repeated:
        raise ValueError(f"the degree list repeats {', '.join(map(repr, repeated))}: each degree is one anchor")
    return words


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
