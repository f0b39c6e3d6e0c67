"""The book teaches (issue #24): prose, displayed equations, captions, exercises and solutions.

Measured on the chapters' sources (the built site renders exactly these cells): the prose is
markdown outside code, math and directive blocks; an exercise is a ``{exercise}`` directive with
a tag line; its solution is a ``{solution}`` in the instructor appendix (book/solutions/).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = ROOT / "book" / "solutions"
TAG = re.compile(r"^\*Type: (concept|derivation|implement|run) · Difficulty: (★☆☆|★★☆|★★★)"
                 r" · CPU: [^·*]+ · GPU: (not needed|optional|needed)\*$", re.M)
FENCE = re.compile(r"^(`{3,}|:{3,})(.*?)^\1\s*$", re.M | re.S)
EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
FIGURE_CALL = re.compile(r"plt\.subplots\(|plt\.figure\(|media\.show_grid\(|\.imshow\(")


def _markdown(nb_path: Path) -> list[str]:
    cells = json.loads(nb_path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def prose_words(text: str) -> int:
    """Words of running text: code, math and directive blocks left out, inline math one word."""
    text = re.sub(r"\$\$.*?\$\$(\s*\([\w-]+\))?", " ", text, flags=re.S)
    text = FENCE.sub(" ", text)
    text = re.sub(r"\$[^$\n]+\$", " x ", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " x ", text)        # roles: {cite}, {glue:text}, {term}
    text = re.sub(r"\]\([^)]*\)", "]", text)                  # link targets
    return len(re.findall(r"[A-Za-z][A-Za-z'’-]*", text))


def displayed_equations(text: str) -> int:
    return len(re.findall(r"\$\$.+?\$\$", text, flags=re.S)) + text.count("{math}")


def _slug(nb_path: Path) -> str:
    return nb_path.stem.split("_", 1)[1].replace("_", "-")


def _exercises(nb_path: Path) -> list[tuple[str, str]]:
    found = []
    for md in _markdown(nb_path):
        for _, body in EXERCISE.findall(md):
            label = re.search(r"^:label: *(\S+)", body, re.M)
            found.append((label.group(1) if label else "", body))
    return found


def test_the_chapters_average_1500_words_of_prose_and_40_equations():
    words = {p.stem: sum(prose_words(md) for md in _markdown(p)) for p in CHAPTERS}
    equations = sum(displayed_equations(md) for p in CHAPTERS for md in _markdown(p))
    mean = sum(words.values()) / len(words)
    assert mean >= 1500, f"{mean:.0f} words per chapter on average: {words}"
    assert min(words.values()) >= 800, f"a chapter is too thin: {words}"
    assert equations >= 40, f"{equations} displayed equations"


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_five_tagged_exercises_with_solutions_in_the_appendix(nb_path):
    exercises = _exercises(nb_path)
    assert len(exercises) >= 5, f"{nb_path.name}: {len(exercises)} exercises"
    kinds = set()
    for i, (label, body) in enumerate(exercises, 1):
        assert label == f"ex-{_slug(nb_path)}-{i}", (nb_path.name, label)
        tag = TAG.search(body)
        assert tag, f"{label}: no tag line (type · difficulty · CPU · GPU)"
        kinds.add(tag.group(1))
        assert "http" not in body and "python -m" not in body, f"{label} leaves the chapter"
    assert len(kinds) >= 3, f"{nb_path.name}: exercises of kinds {kinds} only"
    page = SOLUTIONS / f"{nb_path.stem}.md"
    assert page.exists(), f"no solutions page {page.name}"
    solved = re.findall(r"\{solution\} *(\S+)\n((?::[^\n]*\n)*)", page.read_text())
    assert sorted(s for s, _ in solved) == sorted(label for label, _ in exercises)
    assert all(":class: dropdown" in options for _, options in solved), "solutions show"


def test_the_four_kinds_of_exercise_all_appear():
    kinds = {TAG.search(body).group(1) for p in CHAPTERS for _, body in _exercises(p)
             if TAG.search(body)}
    assert kinds == {"concept", "derivation", "implement", "run"}


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_a_numbered_caption_below_it(nb_path):
    cells = json.loads(nb_path.read_text())["cells"]
    number = re.match(r"(\d+)", nb_path.stem).group(1).lstrip("0") or "0"
    for i, c in enumerate(cells):
        if c["cell_type"] != "code" or not FIGURE_CALL.search("".join(c["source"])):
            continue
        nxt = cells[i + 1] if i + 1 < len(cells) else {"cell_type": "", "source": ""}
        text = "".join(nxt["source"]).lstrip()
        assert nxt["cell_type"] == "markdown" and re.match(r"\*\*Figure [0-9A-Z.]+\*\*|"
                                                            r"\*\*Figure [0-9A-Z]+\.\d+\.\*\*",
                                                            text), (
            f"{nb_path.name} cell {c.get('id')}: a figure without a caption below it")
        assert re.match(rf"\*\*Figure ({number}|[A-Z0-9]+)\.\d+", text), text[:40]


def test_prose_words_leave_code_math_and_directives_out():
    text = ("Two words.\n\n$$\na = b\n$$ (eq)\n\n```python\nx = 1\n```\n\n"
            ":::{note}\nhidden words here\n:::\n\nInline $x^2$ math {cite}`key`.")
    assert prose_words(text) == 2 + 4
    assert displayed_equations(text) == 1
