"""The book's one results file: every chapter's headline numbers with their intervals.

During a build each chapter merges what it measured into ``results.json`` in its working folder
(``book/chapters/`` when the book is executed; ``$MICROMOTION_RESULTS`` names another file):
``name → {"value", "low", "high", "n", "chapter", "source", "protocol"}``, with 95 % intervals —
Wilson's for a fraction, a seeded percentile bootstrap otherwise. Chapters run one after another,
but a merge still takes a lock and replaces the file atomically, so a reader never sees half of it.
Later chapters and the README read numbers from here instead of repeating them.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ENV = "MICROMOTION_RESULTS"
FIELDS = ("value", "low", "high", "n", "chapter", "source", "protocol", "world")
#: the version of the world this process loaded (``helpers.worlds.load`` sets it): every entry
#: records it, so the closing chapter can tell numbers of two model sets apart
world_version: str | None = None


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a fraction ``successes / n`` (95 % by default): unlike the normal
    approximation it stays inside [0, 1] and is honest at 0 % and 100 %."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 ≤ successes ≤ n and n > 0, got {successes} of {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if successes == 0 else low), (1.0 if successes == n else high)   # exact at the ends


def bootstrap(values: Sequence[float], statistic: Callable = np.mean, resamples: int = 2000,
              seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values`` (resampled with
    ``RandomState(seed)``, so the same numbers give the same interval on every machine)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 2 or not np.isfinite(x).all():
        raise ValueError(f"need at least 2 finite values in a 1-D sequence, got shape {x.shape}")
    idx = np.random.RandomState(seed).randint(0, len(x), size=(resamples, len(x)))
    stats = np.array([statistic(x[i]) for i in idx])
    tail = (1 - level) / 2 * 100
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100 - tail))


def path() -> Path:
    """Where results go: ``$MICROMOTION_RESULTS``, else ``results.json`` in the working folder."""
    return Path(os.environ.get(ENV) or "results.json")


def read(file=None) -> dict:
    """Every result recorded so far (``{}`` before the first)."""
    file = Path(file) if file is not None else path()
    if not file.exists():
        return {}
    data = json.loads(file.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{file} is not a results file (a JSON object of named results)")
    return data


def record(name: str, value: float, low: float, high: float, n: int, chapter: str,
           source: str, protocol: str, file=None) -> dict:
    """Merge one result into the results file (locked, then replaced atomically) → the entry.

    ``low``/``high``: the 95 % interval; ``n``: the sample size behind it; ``source``: what
    computed it (a function or a committed table); ``protocol``: how, in a sentence. The entry
    also records ``world``: the version of the world this process loaded (``world_version``).
    """
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"a result name is one word with dots, e.g. 'text.monotonic.smile', got {name!r}")
    value, low, high = float(value), float(low), float(high)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}: need a finite value inside its interval, got {value} in [{low}, {high}]")
    if int(n) < 1:
        raise ValueError(f"{name}: the sample size must be at least 1, got {n}")
    entry = dict(zip(FIELDS, (value, low, high, int(n), str(chapter), str(source), str(protocol),
                              world_version)))
    file = Path(file) if file is not None else path()
    if file.is_symlink():
        raise ValueError(f"{file} is a symbolic link: results are not written through links")
    file.parent.mkdir(parents=True, exist_ok=True)
    try:       # the lock file is opened without following a link someone could plant there
        held = os.open(file.with_name(f".{file.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise ValueError(f"cannot lock {file} for writing ({error.strerror}); remove a link or "
                         f"unwritable file named .{file.name}.lock beside it") from None
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        data = read(file)
        data[name] = entry
        from .files import atomic_write
        atomic_write(file, lambda f: f.write(json.dumps(data, indent=1, sort_keys=True) + "\n"),
                     mode="w")
    finally:
        os.close(held)
    glue(name, entry)
    return entry


def _myst_glue():
    """myst-nb's ``glue`` in a notebook kernel that has it (the book's build), else None."""
    try:
        from IPython import get_ipython
        from myst_nb import glue as myst_glue
    except ImportError:
        return None
    shell = get_ipython()
    return myst_glue if shell is not None and hasattr(shell, "kernel") else None


def glue(name: str, entry: dict) -> None:
    """Hand a result to the chapter's prose: in a notebook kernel with myst-nb installed (the
    book's build), ``{glue:text}`name:.1%``` shows its value and ``name.low``, ``name.high``,
    ``name.n`` its interval and sample size, as computed in this run. Elsewhere (Colab, tests) a
    no-op: the numbers are printed by the chapter anyway."""
    myst_glue = _myst_glue()
    if myst_glue is None:
        return
    myst_glue(name, entry["value"], display=False)
    for field in ("low", "high", "n"):
        myst_glue(f"{name}.{field}", entry[field], display=False)


def glue_text(name: str, text: str) -> None:
    """Hand a sentence computed in this run to the chapter's prose (``{glue:text}`name```), where
    a number alone cannot say it (e.g. "never: its floor lies above the goal"); a no-op outside
    the book's build, like :func:`glue`."""
    myst_glue = _myst_glue()
    if myst_glue is not None:       # a str's own repr would show its quotes on the page
        myst_glue(name, _Plain(text), display=False)


class _Plain(str):
    """Text whose plain-text display is itself, without quotes."""

    def __repr__(self) -> str:
        return str(self)


def record_fraction(name: str, successes: int, n: int, **context) -> dict:
    """:func:`record` a fraction with its Wilson interval."""
    low, high = wilson(successes, n)
    return record(name, successes / n, low, high, n, **context)


def record_mean(name: str, values: Sequence[float], **context) -> dict:
    """:func:`record` a mean with its bootstrap interval."""
    low, high = bootstrap(values)
    return record(name, float(np.mean(values)), low, high, len(values), **context)
