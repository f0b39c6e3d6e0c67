"""Exercises are numbered within their chapter ("Exercise 9.2"), in the chapter and in the
solutions appendix alike: a small Sphinx build with the book's extension."""
import importlib.util
import sys
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[1] / "book" / "_ext"


def _module():
    spec = importlib.util.spec_from_file_location("chapter_numbers", EXT / "chapter_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_label_is_the_title_number_else_a_letter_of_the_name():
    m = _module()
    assert m.chapter_label("9. Ablations: how many anchors", "chapters/09_ablations") == "9"
    assert m.chapter_label("12. What replicated", "chapters/12_what_replicated") == "12"
    assert m.chapter_label("The paper in one page", "chapters/00_paper") == "P"
    numbers = {"a": {"exercise": {"x": (7,), "y": (5,)}, "figure": {"f": (1,)}}, "b": {}}
    assert m.renumber(numbers, {"a": "3. Three"}) == ["a"]
    assert numbers["a"]["exercise"] == {"y": ("3", 1), "x": ("3", 2)}
    assert numbers["a"]["figure"] == {"f": (1,)}


EXERCISE = """```{{exercise}} {title}
:label: {label}

Do it.
```
"""


def test_a_built_book_numbers_exercises_per_chapter(tmp_path):
    pytest.importorskip("sphinx_exercise")
    pytest.importorskip("myst_parser")
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    (src / "chapters").mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys; sys.path.insert(0, {str(EXT)!r})\n"
        "extensions = ['myst_parser', 'sphinx_exercise', 'chapter_numbers']\n")
    (src / "index.md").write_text(
        "# Book\n\n```{toctree}\nchapters/00_paper\nchapters/09_ablations\nsolutions\n```\n")
    (src / "chapters" / "00_paper.md").write_text(
        "# The paper in one page\n\n" + EXERCISE.format(title="First", label="ex-p-1"))
    (src / "chapters" / "09_ablations.md").write_text(
        "# 9. Ablations\n\n" + EXERCISE.format(title="One", label="ex-a-1")
        + "\n" + EXERCISE.format(title="Two", label="ex-a-2"))
    (src / "solutions.md").write_text(
        "# Solutions\n\n```{solution} ex-a-2\n:label: sol-a-2\n\nDone.\n```\n")
    out = tmp_path / "html"
    app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html",
                 status=None, warning=sys.stderr, freshenv=True)
    app.build()
    paper = (out / "chapters" / "00_paper.html").read_text()
    chapter = (out / "chapters" / "09_ablations.html").read_text()
    solutions = (out / "solutions.html").read_text()
    assert "Exercise P.1" in paper
    assert "Exercise 9.1" in chapter and "Exercise 9.2" in chapter
    assert "Exercise 3" not in chapter
    assert "Exercise 9.2" in solutions
