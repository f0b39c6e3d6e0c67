"""Where a GAN's training curve is heading: a saturating power law fitted to its Fréchet distances.

    FD(n) = F∞ + a · (n / 10⁵)^(−b)        (n: images seen; a, b > 0)

F∞ is the distance the recipe tends to however many images it sees. If F∞'s interval lies above
a goal, no amount of that recipe's compute reaches the goal; otherwise the goal takes
n* = 10⁵ · (a / (goal − F∞))^(1/b) images. The intervals resample the saves (a bootstrap over
the curve's points). #25's experiments are listed in :data:`EXPERIMENTS`, each a log committed in
``data/training/`` with the command that made it; chapter 0 reads them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...shipped import DATA

SCALE = 1e5


@dataclass(frozen=True)
class Experiment:
    label: str
    logs: tuple[str, ...]      # in data/training/, one run's logs in order
    start_step: int = 0        # fit the curve from this step on (after the recipe's last change)


CONTINUED = "gan_continued.2026-12-04.log.jsonl"
#: #25's runs: the shipped recipe (its own log, then its continuation from the shipped state) and
#: the three ways tried to move its plateau
EXPERIMENTS = {
    "shipped": Experiment("shipped recipe (width 1)", ("gan_state.log.jsonl", CONTINUED), 9000),
    "augment": Experiment("+ differentiable augmentation", ("gan_augment.2026-12-04.log.jsonl",)),
    "projected": Experiment("+ projected discriminator", ("gan_projected.2026-12-04.log.jsonl",)),
    "width2": Experiment("G and D twice as wide", ("gan_width2.2026-12-03.log.jsonl",), 1375),
}


def history(name: str) -> dict[str, np.ndarray]:
    """One experiment's saves (``train_gan.training_history`` of its committed logs, joined)."""
    from .train_gan import training_history
    parts = [training_history(DATA / "training" / log) for log in EXPERIMENTS[name].logs
             if (DATA / "training" / log).is_file()]
    if not parts:
        raise FileNotFoundError(f"no log of experiment {name!r} in {DATA / 'training'}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _curve(x, f_inf, a, b):
    return f_inf + a * np.power(x, -b)


def _fit_once(x, y):
    from scipy.optimize import curve_fit
    span = max(float(y.max() - y.min()), 1e-6)
    p0 = (max(float(y.min()) - 0.1 * span, 0.0), span, 1.0)
    upper = (float(y.min()), np.inf, 5.0)
    params, _ = curve_fit(_curve, x, y, p0=p0, bounds=((0.0, 0.0, 1e-3), upper), maxfev=20000)
    return params


def images_to(goal: float, f_inf: float, a: float, b: float) -> float:
    """Images the curve needs to reach ``goal`` (inf where its floor F∞ is at or above it)."""
    if f_inf >= goal:
        return float("inf")
    return SCALE * (a / (goal - f_inf)) ** (1 / b)


def fit(images, fd, goal: float = 10.0, resamples: int = 300, seed: int = 0) -> dict:
    """Fit FD(n) to a curve's saves → ``f_inf`` with its 95 % ``low``/``high``, ``a``, ``b``,
    ``n`` (saves fitted), ``goal`` and ``images_to_goal`` with its interval (inf: never)."""
    x, y = np.asarray(images, float) / SCALE, np.asarray(fd, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[keep], y[keep]
    if len(x) < 4:
        raise ValueError(f"a curve needs at least 4 saves with a Fréchet distance, got {len(x)}")
    f_inf, a, b = _fit_once(x, y)
    rng = np.random.RandomState(seed)
    boot = []
    for _ in range(resamples):
        i = rng.randint(0, len(x), len(x))
        if len(np.unique(x[i])) < 3:
            continue
        try:
            boot.append(_fit_once(x[i], y[i]))
        except RuntimeError:           # a resample the optimiser cannot fit is left out
            continue
    boot = np.array(boot)
    needs = np.sort([images_to(goal, *p) for p in boot])     # inf: that resample never gets there
    return {"f_inf": float(f_inf), "low": float(np.percentile(boot[:, 0], 2.5)),
            "high": float(np.percentile(boot[:, 0], 97.5)), "a": float(a), "b": float(b),
            "n": int(len(x)), "resamples": int(len(boot)), "goal": goal,
            "images_to_goal": images_to(goal, f_inf, a, b),
            "images_to_goal_low": float(np.percentile(needs, 2.5, method="lower")),
            "images_to_goal_high": float(np.percentile(needs, 97.5, method="higher"))}


def summary(goal: float = 10.0) -> dict[str, dict]:
    """Every experiment: images seen, last distances (guide and judge), seconds per step where
    logged, and the fit of the distance logged throughout its window (judge's if it has one)."""
    out = {}
    for name, exp in EXPERIMENTS.items():
        try:
            h = history(name)
        except FileNotFoundError:
            continue
        window = h["step"] >= exp.start_step
        key = "fd_judge" if np.isfinite(h["fd_judge"][window]).all() else "fd"
        row = {"label": exp.label, "images": float(h["images"][-1]), "saves": int(len(h["step"])),
               "fd": float(h["fd"][-1]), "fd_judge": float(h["fd_judge"][-1]), "fitted": key,
               "sec_per_step": float(np.nanmedian(h["sec_per_step"]))
               if np.isfinite(h["sec_per_step"]).any() else float("nan")}
        try:
            row["fit"] = fit(h["images"][window], h[key][window], goal=goal)
        except ValueError:
            row["fit"] = None
        out[name] = row
    return out


def _images(n: float) -> str:
    if not np.isfinite(n):
        return "never"
    if n >= 1e12:
        return "over a trillion"
    return f"{n / 1e9:.1f} billion" if n >= 1e9 else f"{n / 1e6:.1f} million"


def _times(n: float, seen: float) -> str:
    return f", {n / seen:,.0f}× what it has seen" if n < 1e12 else ""


def _days(n: float, sec_per_image: float) -> str:
    if not (np.isfinite(n) and np.isfinite(sec_per_image)) or n >= 1e12:
        return ""
    return f" (~{n * sec_per_image / 86400:,.0f} CPU-days at this machine's measured rate)"


def goal_text(row: dict) -> str:
    """What reaching the goal takes by the experiment's fitted curve, as a phrase."""
    f = row["fit"]
    if f is None:
        return "not known (too few saves to fit a curve)"
    floor = f"levels off at {f['f_inf']:.1f} (95 % interval {f['low']:.1f}–{f['high']:.1f})"
    need = f["images_to_goal"]
    if np.isfinite(need):
        rate = row["sec_per_step"] / 32           # every run here uses batch 32
        return (f"about {_images(need)} images{_times(need, max(row['images'], 1.0))}"
                f"{_days(need, rate)}, as the fitted curve {floor}")
    if f["low"] >= f["goal"]:
        return f"never, since the fitted curve {floor}, above {f['goal']:g}"
    return (f"never by the fitted curve, which {floor}; but the interval reaches below "
            f"{f['goal']:g}, so this short curve cannot rule the goal out")


def _kind(row: dict) -> str:
    return "judge" if row["fitted"] == "fd_judge" else "guide"


def table(rows: dict) -> dict:
    """The experiments as rows for :func:`helpers.tables.table`."""
    out = {}
    for row in rows.values():
        f = row["fit"]
        out[row["label"]] = {
            "images seen": f"{row['images'] / 1e3:,.0f}k",
            "last FD guide / judge": f"{row['fd']:.1f} / " + (
                f"{row['fd_judge']:.1f}" if np.isfinite(row["fd_judge"]) else "—"),
            "F∞ (95 % interval)": "—" if f is None else
            f"{f['f_inf']:.1f} ({f['low']:.1f}–{f['high']:.1f}), {_kind(row)}",
            "images to FD 10": "—" if f is None else _images(f["images_to_goal"]),
        }
    return out


def plot(rows: dict, axes, floor: float | None = None, goal: float = 10.0):
    """Two panels: every experiment's curve (the distance its fit uses) against images seen,
    log-log; and, zoomed, the runs continued from the shipped state in the judge's features."""
    overview, zoom = axes
    start = None
    for name, row in rows.items():
        h = history(name)
        ok = np.isfinite(h[row["fitted"]])
        overview.plot(h["images"][ok] / 1e3, h[row["fitted"]][ok], "o-", ms=2.5, lw=1,
                      label=f"{row['label']} ({_kind(row)})")
        if name in ("shipped", "augment", "projected"):
            judged = np.isfinite(h["fd_judge"])
            if judged.any():
                zoom.plot(h["images"][judged] / 1e3, h["fd_judge"][judged], "o-", ms=3, lw=1,
                          label=row["label"] + (", continued" if name == "shipped" else ""))
                first = h["images"][judged][0] / 1e3
                start = first if start is None else min(start, first)
    overview.axhline(goal, ls=":", c="k", lw=1, label=f"goal ({goal:g})")
    if floor is not None:
        overview.axhline(floor, ls="--", c="tab:green", lw=1, label="floor (renders vs renders)")
    overview.set_xscale("log")
    overview.set_yscale("log")
    overview.set_xlabel("thousands of images seen (log scale)")
    overview.set_ylabel("Fréchet distance to renders")
    overview.legend(fontsize=7, loc="lower left")
    zoom.set_xlabel("thousands of images seen")
    zoom.set_ylabel("FD, judge's features")
    zoom.set_title("from the shipped state", fontsize=9)
    if start is not None:
        zoom.legend(fontsize=7)
    else:
        zoom.text(0.5, 0.5, "no continued run logged", ha="center", transform=zoom.transAxes)


def arms_text(rows: dict) -> str:
    """The runs continued from the shipped state, side by side: their last distances in the
    judge's features after the same number of steps."""
    from_shipped = [r for n, r in rows.items() if n in ("shipped", "augment", "projected")
                    and np.isfinite(r["fd_judge"])]
    if not from_shipped:
        return "no run continued from the shipped state has been logged yet"
    return "; ".join(f"{r['label']} {r['fd_judge']:.1f} at {r['images'] / 1e3:,.0f}k images"
                     for r in from_shipped)
