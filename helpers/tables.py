"""Plain-text tables for the book's printouts: labelled rows (micromotions, methods), aligned columns.

A chapter that compares variants prints their numbers next to its figure; a table with aligned
columns reads faster than one long f-string per line, and looks the same in Colab, a terminal and
the rendered book (chapters 2, 3, 5, 7, 8, 9 and 11, e.g. ``notebooks/09_ablations.ipynb``).
"""
from __future__ import annotations

import math


def table(rows: dict, title: str | None = None, row_header: str = "") -> str:
    """``{row label: {column label: cell text}}`` → aligned text under a header of column labels.

    Columns come in order of first appearance; a cell a row lacks is left blank. Cells are
    right-aligned (numbers line up), row labels left-aligned.
    """
    if not rows:
        raise ValueError("table() needs at least one row")
    columns = list(dict.fromkeys(c for cells in rows.values() for c in cells))
    label_width = max(len(str(r)) for r in [row_header, *rows])
    widths = [max(len(str(c)), *(len(str(cells.get(c, ""))) for cells in rows.values())) for c in columns]
    lines = [] if title is None else [title]
    lines.append("  ".join([str(row_header).ljust(label_width)] + [str(c).rjust(w) for c, w in zip(columns, widths)]))
    for label, cells in rows.items():
        lines.append("  ".join([str(label).ljust(label_width)]
                               + [str(cells.get(c, "")).rjust(w) for c, w in zip(columns, widths)]))
    return "\n".join(line.rstrip() for line in lines)


def score(monotonic: float, slope: float) -> str:
    """A ground-truth score as ``83% (+0.123)``: the monotonic fraction, then the slope per unit α."""
    return f"{percent(monotonic)} ({slope:+.3f})"


def percent(fraction: float) -> str:
    """``0.83`` → ``83%``; a missing score (NaN) → ``–``."""
    return number(fraction, ".0%")


def number(x: float, spec: str = ".2f") -> str:
    """``x`` in the format ``spec``; a value not measured (NaN) → ``–``."""
    return "–" if math.isnan(x) else format(x, spec)
