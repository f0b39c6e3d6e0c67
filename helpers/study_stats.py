"""The paper's claims over a study table (:mod:`helpers.study`), each with its interval.

(a) **Low rank**: each identity's energy in the top ``rank`` singular values of its centred anchor
matrix, against the 99th percentile of every null (random codes, matched random moves, irrelevant
prompts). A centred 12-row matrix has rank ≤ 11, so its top 4 directions already hold ≥ 4/11 of
its energy whatever the rows are: the nulls, not a fixed number, are the bar. Reported: the fraction of identities
above the bar (Wilson interval) and the mean energy (bootstrap over identities).

(b) **Shared subspace**: first and mean principal angles between the rank-``rank`` subspaces of
every pair of identities, same micromotion and source, against pairs of *different* micromotions
and random subspaces of the same dimension; intervals by resampling identities.

(c) **Transfer**: each identity's direction (per method) scored on the same held-out faces: the
mean monotonic fraction (bootstrap over identities) and the fraction of identities whose
direction moves ≥ 90 % of the faces monotonically (Wilson).

Chapters 6, 7 and 8 read these numbers (:func:`record`, ``source: study``) instead of computing
them on three identities. :func:`load` refuses a table made with other weights.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from . import results, study, subspaces

NULLS = ("random", "matched", "irrelevant")
PERCENTILE = 99


def load(out=study.TABLE) -> list[dict]:
    """The table's rows, after checking they were made with the shipped world's files."""
    rows = study.read_rows(out)
    if not rows:
        raise ValueError(f"no study table at {out}: make it with `{study.MADE_BY}`")
    shipped = study.world_version()
    stale = sorted({r["world_version"] for r in rows} - {shipped})
    if stale:
        raise ValueError(f"the study table at {out} was made with another world version "
                         f"({', '.join(stale)}; shipped: {shipped}): remake it with `{study.MADE_BY}`")
    return rows


def _select(rows, source, motion=None, targets="generated"):
    """The rows of one source (and micromotion) scored on ``targets`` (generated faces unless
    a style is named)."""
    return [r for r in rows if r["source"] == source and (motion is None or r["motion"] == motion)
            and r.get("targets", "generated") == targets]


def _bootstrap_mean(values) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    if len(v) < 2:
        return float(v.mean()), float(v.min()), float(v.max())
    low, high = results.bootstrap(v)
    return float(v.mean()), min(low, float(v.mean())), max(high, float(v.mean()))


def null_bar(rows, column: str = "energy") -> dict:
    """Each null's ``PERCENTILE``th percentile of ``column`` and its size; ``bar``: the highest."""
    out = {}
    for name in NULLS:
        values = [r[column] for r in _select(rows, name)]
        if values:
            out[name] = {"percentile": float(np.percentile(values, PERCENTILE)), "n": len(values)}
    if not out:
        raise ValueError("the table has no null rows: run the study with the random, matched "
                         "and irrelevant sources")
    return {"nulls": out, "bar": max(v["percentile"] for v in out.values())}


def low_rank(rows, source: str, motion: str, column: str = "energy") -> dict:
    """Claim (a) for one source and micromotion."""
    values = [r[column] for r in _select(rows, source, motion)]
    if not values:
        raise ValueError(f"no {source} rows for {motion} in the study table")
    bar = null_bar(rows, column)["bar"]
    above = int(sum(v > bar for v in values))
    mean, low, high = _bootstrap_mean(values)
    return {"mean": mean, "low": low, "high": high, "n": len(values), "bar": bar,
            "above": above, "above_interval": results.wilson(above, len(values))}


def _bases(out, rows) -> list[np.ndarray]:
    return [study.load_basis(out, r["key"]) for r in rows]


def _pair_angles(bases_a, bases_b=None):
    """{(i, j): principal angles} over pairs: within one list (i < j) or across two lists."""
    if bases_b is None:
        pairs = combinations(range(len(bases_a)), 2)
        return {(i, j): subspaces.principal_angles(bases_a[i], bases_a[j]) for i, j in pairs}
    return {(i, j): subspaces.principal_angles(a, b)
            for i, a in enumerate(bases_a) for j, b in enumerate(bases_b) if i != j}


def _identity_bootstrap(angles: dict, n: int, which, resamples: int = 1000, seed: int = 0):
    """Mean of ``which(angles)`` over pairs, and a 95 % interval from resampling identities (pairs
    of a unit with a copy of itself are left out)."""
    table = np.full((n, n), np.nan)
    for (i, j), a in angles.items():
        table[i, j] = table[j, i] = which(a)
    value = float(np.nanmean(table))
    rng, stats = np.random.RandomState(seed), []
    upper = np.triu(np.ones((n, n), bool), 1)
    for _ in range(resamples):
        pick = rng.randint(0, n, n)
        sub = table[np.ix_(pick, pick)][upper & (pick[:, None] != pick[None])]
        if sub.size:
            stats.append(sub.mean())
    low, high = np.percentile(stats, [2.5, 97.5])
    return value, min(float(low), value), max(float(high), value)


def shared_subspace(out, rows, source: str, motion: str, seed: int = 0) -> dict:
    """Claim (b) for one source and micromotion: angles between identities' subspaces, next to
    the same identities' subspaces of the other micromotions and random subspaces."""
    own = sorted(_select(rows, source, motion), key=lambda r: int(r["identity"]))
    if len(own) < 2:
        raise ValueError(f"claim (b) needs at least 2 identities' {source} {motion} rows")
    bases = _bases(out, own)
    angles = _pair_angles(bases)
    ids = [int(r["identity"]) for r in own]
    others = [r for r in _select(rows, source) if r["motion"] not in (motion, "-")
              and int(r["identity"]) in ids]
    other_angles = [subspaces.principal_angles(bases[ids.index(int(r["identity"]))],
                                               study.load_basis(out, r["key"])).mean()
                    for r in others]
    n_features, rank = bases[0].shape[1], bases[0].shape[0]
    null = subspaces.random_angles(n_features, rank, trials=200, seed=seed)
    out_row = {"pairs": len(angles), "n": len(own)}
    for name, which, random in (("first", lambda a: a[0], null[:, 0]),
                                ("mean", lambda a: a.mean(), null.mean(1))):
        value, low, high = _identity_bootstrap(angles, len(own), which, seed=seed)
        out_row[name] = {"value": value, "low": low, "high": high, "random": float(random.mean()),
                         "random_5th": float(np.percentile(random, 5)),
                         "random_95th": float(np.percentile(random, 95)), "trials": len(random)}
    out_row["other_micromotion_mean"] = float(np.mean(other_angles)) if other_angles else float("nan")
    return out_row


def transfer(rows, source: str, motion: str, method: str = "rpca_released",
             targets: str = "generated") -> dict:
    """Claim (c) for one source, micromotion and method (``<decomposition>_<rule>``), on
    ``targets`` (generated faces, or inverted faces of a style)."""
    own = _select(rows, source, motion, targets)
    if not own:
        raise ValueError(f"no {source} rows for {motion} on {targets} targets in the study table")
    fractions = [r[f"monotonic_{method}"] / float(r["n_targets"]) for r in own]
    mean, low, high = _bootstrap_mean(fractions)
    good = int(sum(f >= 0.9 for f in fractions))
    return {"mean": mean, "low": low, "high": high, "n": len(own),
            "n_targets": int(float(own[0]["n_targets"])), "good": good,
            "good_interval": results.wilson(good, len(own))}


#: the (decomposition, rule) pairs each anchor task scores, as the book names them
METHOD_NAMES = {"rpca_released": "robust PCA, released rule",
                "pca_released": "PCA, released rule",
                "rpca_principal": "robust PCA, principal rule"}


def method_table(rows, sources=study.ANCHOR_SOURCES) -> dict:
    """Mean monotonic fraction (bootstrap interval over identities) of every anchor source ×
    micromotion × method, formatted for :func:`helpers.tables.table`."""
    table = {}
    for source in sources:
        for m in motions_of(rows, source):
            cells = {}
            for method, label in METHOD_NAMES.items():
                c = transfer(rows, source, m, method)
                cells[label] = f"{c['mean']:.0%} ({c['low']:.0%}–{c['high']:.0%})"
            table[f"{source} / {m}"] = {"identities": c["n"], **cells}
    return table


def paired_gain(rows, source: str, method: str, versus: str = "rpca_released",
                motion: str | None = None) -> dict:
    """How much ``method`` moves more faces monotonically than ``versus`` on the *same*
    identities: each identity's difference of fractions (averaged over its micromotions unless
    ``motion`` is given), then the mean over identities with a bootstrap interval. Pairing by
    identity removes what the identities share, so the interval is narrower than the two
    methods' own intervals suggest."""
    by_identity: dict = {}
    for r in _select(rows, source, motion):
        n = float(r["n_targets"])
        by_identity.setdefault(r["identity"], []).append(
            (float(r[f"monotonic_{method}"]) - float(r[f"monotonic_{versus}"])) / n)
    if not by_identity:
        raise ValueError(f"no {source} rows{f' for {motion}' if motion else ''} in the table")
    diffs = [float(np.mean(v)) for v in by_identity.values()]
    mean, low, high = _bootstrap_mean(diffs)
    return {"mean": mean, "low": low, "high": high, "n": len(diffs)}


def source_gain(rows, source: str, versus: str = "text", method: str = "rpca_principal",
                resamples: int = 2000, seed: int = 0) -> dict:
    """How many more faces ``source``'s directions move monotonically than ``versus``'s, with
    ``method``: each identity's fraction averaged over the micromotions both sources hold, then
    the difference of the two sources' means. The sources' identity ``i`` are different people (a
    start code vs a rendered person), so nothing is paired: the interval resamples each source's
    identities on its own (``RandomState(seed)``)."""
    motions = set(motions_of(rows, source)) & set(motions_of(rows, versus))
    if not motions:
        raise ValueError(f"no micromotion has both {source} and {versus} rows in the table")

    def per_identity(s):
        by_identity: dict = {}
        for r in _select(rows, s):
            if r["motion"] in motions:
                by_identity.setdefault(r["identity"], []).append(
                    float(r[f"monotonic_{method}"]) / float(r["n_targets"]))
        return np.array([np.mean(v) for v in by_identity.values()])

    a, b = per_identity(source), per_identity(versus)
    rng = np.random.RandomState(seed)
    diffs = [a[rng.randint(0, len(a), len(a))].mean() - b[rng.randint(0, len(b), len(b))].mean()
             for _ in range(resamples)]
    mean = float(a.mean() - b.mean())
    low, high = (np.percentile(diffs, [2.5, 97.5]) if min(len(a), len(b)) > 1
                 else (mean, mean))
    return {"mean": mean, "low": min(float(low), mean), "high": max(float(high), mean),
            "n": min(len(a), len(b)), "n_source": len(a), "n_versus": len(b),
            "motions": sorted(motions)}


def styles_of(rows, source: str) -> list[str]:
    """The styled targets (not "generated") that ``source``'s directions were scored on."""
    have = {r.get("targets", "generated") for r in rows if r["source"] == source}
    return [t for t in study.TARGETS if t in have and t != "generated"]


def style_table(rows, sources=study.ANCHOR_SOURCES) -> dict:
    """Claim (c) per style of target: each source × micromotion's mean monotonic fraction
    (released pipeline; bootstrap interval over identities) on generated faces and on each
    style's inverted faces, formatted for :func:`helpers.tables.table`."""
    table = {}
    for source in sources:
        styles = styles_of(rows, source)
        if not styles:
            continue
        for m in motions_of(rows, source):
            cells = {}
            for t in ("generated", *styles):
                if _select(rows, source, m, t):
                    c = transfer(rows, source, m, targets=t)
                    cells[t] = f"{c['mean']:.0%} ({c['low']:.0%}–{c['high']:.0%}) n={c['n']}"
            table[f"{source} / {m}"] = cells
    return table


def style_mean(rows, source: str, targets: str, method: str = "rpca_released") -> dict:
    """``source``'s mean monotonic fraction on ``targets`` over every micromotion: each
    identity's mean over its micromotions, then the mean over identities (bootstrap)."""
    by_identity: dict = {}
    for r in _select(rows, source, None, targets):
        by_identity.setdefault(r["identity"], []).append(
            float(r[f"monotonic_{method}"]) / float(r["n_targets"]))
    if not by_identity:
        raise ValueError(f"no {source} rows on {targets} targets in the table")
    mean, low, high = _bootstrap_mean([np.mean(v) for v in by_identity.values()])
    return {"mean": mean, "low": low, "high": high, "n": len(by_identity)}


def motions_of(rows, source: str) -> list[str]:
    return list(dict.fromkeys(r["motion"] for r in _select(rows, source)))


def record(out=study.TABLE, chapter: str = "study", claims=("a", "b", "c")) -> dict:
    """Write the table's aggregates into the book's results file (``source: study``) → them."""
    rows = load(out)
    made = f"committed study table ({Path(out).name}); {study.MADE_BY}"
    entries = {}
    for source in study.ANCHOR_SOURCES:
        for m in motions_of(rows, source):
            if "a" in claims:
                a = low_rank(rows, source, m)
                entries[f"study.energy.{source}.{m}"] = results.record(
                    f"study.energy.{source}.{m}", a["mean"], a["low"], a["high"], a["n"],
                    chapter=chapter, source=made,
                    protocol=f"top-4 energy of the centred anchors, mean over identities")
                lo, hi = a["above_interval"]
                entries[f"study.above_nulls.{source}.{m}"] = results.record(
                    f"study.above_nulls.{source}.{m}", a["above"] / a["n"], lo, hi, a["n"],
                    chapter=chapter, source=made,
                    protocol=f"identities above every null's {PERCENTILE}th percentile "
                             f"({a['bar']:.3f}); Wilson")
            if "b" in claims and len(_select(rows, source, m)) >= 2:
                b = shared_subspace(out, rows, source, m)
                for name in ("first", "mean"):
                    v = b[name]
                    null = f"study.angle_random.{name}"  # one null for every source and motion
                    if null not in entries:
                        entries[null] = results.record(
                            null, v["random"], v["random_5th"], v["random_95th"], v["trials"],
                            chapter=chapter, source="subspaces.random_angles",
                            protocol=f"{name} principal angle between random rank-4 subspaces "
                                     f"of the same space: mean, 5th–95th percentile")
                    entries[f"study.angle_{name}.{source}.{m}"] = results.record(
                        f"study.angle_{name}.{source}.{m}", v["value"], v["low"], v["high"],
                        b["n"], chapter=chapter, source=made,
                        protocol=f"{name} principal angle (degrees) over {b['pairs']} pairs of "
                                 f"identities; random: {v['random']:.1f}; bootstrap over identities")
            if "c" in claims:
                c = transfer(rows, source, m)
                entries[f"study.monotonic.{source}.{m}"] = results.record(
                    f"study.monotonic.{source}.{m}", c["mean"], c["low"], c["high"], c["n"],
                    chapter=chapter, source=made,
                    protocol=f"mean monotonic fraction of each identity's direction (robust PCA, "
                             f"released rule) on {c['n_targets']} held-out faces; bootstrap")
        if "c" in claims:
            for m in motions_of(rows, source):
                for t in styles_of(rows, source):
                    if not _select(rows, source, m, t):
                        continue
                    c = transfer(rows, source, m, targets=t)
                    entries[f"study.monotonic.{source}.{m}.{t}"] = results.record(
                        f"study.monotonic.{source}.{m}.{t}", c["mean"], c["low"], c["high"],
                        c["n"], chapter=chapter, source=made,
                        protocol=f"mean monotonic fraction of each identity's direction (robust "
                                 f"PCA, released rule) on {c['n_targets']} {t} renders, "
                                 "inverted; bootstrap")
            styles = styles_of(rows, source)
            for t in ("generated", *styles) if styles else ():
                c = style_mean(rows, source, t)
                entries[f"study.style.{source}.{t}"] = results.record(
                    f"study.style.{source}.{t}", c["mean"], c["low"], c["high"], c["n"],
                    chapter=chapter, source=made,
                    protocol=f"mean monotonic fraction of each identity's direction (robust PCA, "
                             f"released rule) on {t} faces"
                             + ("" if t == "generated" else ", rendered and inverted")
                             + "; each identity averaged over micromotions; bootstrap")
    return entries


def summary_lines(out=study.TABLE) -> list[str]:
    """The claims as printed lines, for the command line."""
    rows = load(out)
    bar = null_bar(rows)
    lines = [f"{len(rows)} rows, world version {rows[0]['world_version']}",
             "(a) null bars (99th percentile of top-4 energy): " + ", ".join(
                 f"{k} {v['percentile']:.3f} (n={v['n']})" for k, v in bar["nulls"].items())]
    for source in study.ANCHOR_SOURCES:
        for m in motions_of(rows, source):
            a = low_rank(rows, source, m)
            c = transfer(rows, source, m)
            line = (f"{source:6s} {m:12s} n={a['n']:2d}  energy {a['mean']:.3f} "
                    f"({a['low']:.3f}–{a['high']:.3f}), above nulls {a['above']}/{a['n']};  "
                    f"monotonic {c['mean']:.0%} ({c['low']:.0%}–{c['high']:.0%}), "
                    f"≥90 %: {c['good']}/{c['n']}")
            if a["n"] >= 2:
                b = shared_subspace(out, rows, source, m)
                line += (f";  angles first {b['first']['value']:.1f}° mean {b['mean']['value']:.1f}°"
                         f" (random {b['mean']['random']:.1f}°, other micromotions "
                         f"{b['other_micromotion_mean']:.1f}°)")
            lines.append(line)
    for source in study.ANCHOR_SOURCES:
        for t in styles_of(rows, source):
            c = style_mean(rows, source, t)
            lines.append(f"{source:6s} on inverted {t} faces: monotonic {c['mean']:.0%} "
                         f"({c['low']:.0%}–{c['high']:.0%}) over {c['n']} identities, all "
                         f"micromotions (generated: {style_mean(rows, source, 'generated')['mean']:.0%})")
    return lines


def table_for(world, out=study.TABLE) -> list[dict] | None:
    """The committed table's rows if they were made with ``world``'s own files (the synthfaces
    world as shipped), else None: another world has no table."""
    if not (Path(out) / "rows.csv").is_file():
        return None
    if world.version != study.world_version():
        return None
    return load(out)


def _row(r: dict, mean_label: str, fmt: str, share_label: str, count: str) -> dict:
    """A claim's mean with its interval and a share of identities with its Wilson interval."""
    return {"identities": r["n"],
            mean_label: f"{r['mean']:{fmt}} ({r['low']:{fmt}}–{r['high']:{fmt}})",
            share_label: "{} of {} ({:.0%}–{:.0%})".format(r[count], r["n"],
                                                           *r[f"{count}_interval"])}


def claim_table(rows, claim: str, out=study.TABLE) -> dict:
    """One claim over every source and micromotion of the table, formatted for
    :func:`helpers.tables.table` (rows: "source / micromotion")."""
    table = {}
    for source in study.ANCHOR_SOURCES:
        for m in motions_of(rows, source):
            if claim == "a":
                table[f"{source} / {m}"] = _row(low_rank(rows, source, m), "top-4 energy",
                                                ".3f", "above every null", "above")
            elif claim == "b" and len(_select(rows, source, m)) >= 2:
                b = shared_subspace(out, rows, source, m)
                f, mean = b["first"], b["mean"]
                table[f"{source} / {m}"] = {
                    "pairs": b["pairs"],
                    "first angle": f"{f['value']:.1f}° ({f['low']:.1f}–{f['high']:.1f})",
                    "mean angle": f"{mean['value']:.1f}° ({mean['low']:.1f}–{mean['high']:.1f})",
                    "other micromotions": f"{b['other_micromotion_mean']:.1f}°",
                    "random (first / mean)": f"{f['random']:.1f}° / {mean['random']:.1f}°"}
            elif claim == "c":
                table[f"{source} / {m}"] = _row(transfer(rows, source, m), "mean monotonic",
                                                ".0%", "directions ≥ 90 %", "good")
    return table
