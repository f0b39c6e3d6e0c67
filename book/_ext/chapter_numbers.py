"""Number each chapter's exercises within the chapter: "Exercise 9.1", not "Exercise 50".

The chapters' toctree is not numbered (their titles carry the number: "9. Ablations"), so Sphinx
counts sphinx-exercise's exercises across the whole book. After Sphinx has assigned those numbers,
this extension replaces them per document by (chapter, i): the chapter is the number its title
starts with, else the first letter of its file name after the number ("00_paper" → "P", as its
figures are captioned). The solutions in the appendix read the same numbers ("Solution to
Exercise 9.1").
"""
from __future__ import annotations

import re

KIND = "exercise"


def chapter_label(title: str, docname: str) -> str:
    """The chapter's label: the number its title starts with, else a letter from its name."""
    number = re.match(r"\s*(\d+)\.\s", title)
    if number:
        return number.group(1)
    stem = docname.rsplit("/", 1)[-1]
    word = re.sub(r"^[\d_]+", "", stem) or stem
    return word[:1].upper()


def renumber(fignumbers: dict, titles: dict) -> list[str]:
    """Rewrite ``fignumbers[doc][KIND]`` to (chapter, 1…n) in each document's own order;
    → the documents whose numbers changed."""
    changed = []
    for doc, kinds in fignumbers.items():
        numbers = kinds.get(KIND)
        if not numbers:
            continue
        label = chapter_label(titles.get(doc, ""), doc)
        ordered = sorted(numbers, key=lambda node_id: numbers[node_id])
        new = {node_id: (label, i + 1) for i, node_id in enumerate(ordered)}
        if new != numbers:
            kinds[KIND] = new
            changed.append(doc)
    return changed


def _on_env_updated(app, env):
    titles = {doc: node.astext() for doc, node in env.titles.items()}
    return renumber(env.toc_fignumbers, titles)


def setup(app):
    # after Sphinx's own TocTreeCollector (priority 500) has assigned the book-wide numbers
    app.connect("env-get-updated", _on_env_updated, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
