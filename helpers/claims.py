"""The paper's claims, each tied to the chapter that tests it and the numbers that judge it.

The front chapter (``notebooks/00_paper.ipynb``) lists them; the closing one
(``notebooks/12_what_replicated.ipynb``) judges them from the run's one results file
(:mod:`helpers.results`), never from typed numbers. A claim is judged per micromotion by where the
95 % interval of its measure lies against a bar: wholly on the claim's side → *replicated*, wholly
on the other → *not replicated*, across it → *undecided* (more samples would decide).
"""
from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import MICROMOTIONS

REPLICATED, NOT_REPLICATED, UNDECIDED, NOT_MEASURED = (
    "replicated", "not replicated", "undecided", "not measured in this run")
#: fewer samples than this leave a claim undecided: a bootstrap over 2–4 identities has an
#: interval of a handful of distinct values, often of zero width, which no bar should be judged by
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Claim:
    """One claim. ``key`` names its measure in the results file (``{m}``: the micromotion);
    ``bar`` is a number or another result's name (then its interval's ``bar_side`` end is the
    bar); the claim holds when the measure is above the bar (``above``) or below it."""

    number: int
    statement: str          # the paper's claim, in a sentence
    where: str              # where the paper makes it
    chapter: str            # the notebook that tests it
    measure: str            # what the number is, in words
    key: str
    bar: float | str
    above: bool = True
    bar_side: str = "low"   # for a named bar: its interval's "low" or "high" end, or "value"

    def bar_value(self, results: dict) -> float | None:
        if isinstance(self.bar, (int, float)):
            return float(self.bar)
        entry = results.get(self.bar)
        return None if entry is None else float(entry[self.bar_side])


CLAIMS = (
    Claim(1, "A micromotion's anchor codes span a low-dimensional subspace of W+ (rank about 4).",
          "§3.2 and Figure 2", "06_low_rank",
          "fraction of identities whose top-4 energy is above every null's 99th percentile "
          "(study table)", "study.above_nulls.text.{m}", 0.5),
    Claim(2, "That subspace is aligned across identities: one face's micromotion subspace is "
             "close to another's.", "§3.2 and Figure 2", "07_subspace_angles",
          "mean principal angle between two identities' rank-4 subspaces (study table), "
          "against the 5th percentile of random subspaces' angles",
          "study.angle_mean.text.{m}", "study.angle_random.mean", above=False),
    Claim(3, "A direction decoded from ONE identity's text anchors moves other faces smoothly "
             "(in-domain transfer).", "§3.3 step (c); §4.2, Figure 4", "08_transfer",
          "fraction of 100 held-out generated faces moved monotonically by identity 0's text "
          "direction, against 0.9", "text.monotonic.{m}", 0.9),
    Claim(4, "... and faces of other domains: paintings, cartoons, sculptures.",
          "§4.3, Figure 6", "08_transfer",
          "fraction of inverted painting renders moved monotonically by identity 0's text "
          "direction, against 0.9", "ood.monotonic.painting.{m}", 0.9),
    Claim(5, "Video anchors decode the micromotion with the same pipeline.",
          "§3.3; §4.2, Figure 5", "08_transfer",
          "fraction of 100 held-out faces moved monotonically by the direction from rendered "
          "clips, against 0.9", "clips.monotonic.{m}", 0.9),
    Claim(6, "CLIP's guidance is what finds the micromotion: text anchors need no other "
             "supervision.", "§3.3 step (a); §4.2, Figure 4", "03_text_anchors",
          "the text model's pairwise ranking of GAN faces by the micromotion, read over all "
          "degree prompts, against 0.9", "clip.readout_ranking.{m}", 0.9),
)


def judge(claim: Claim, results: dict, motion: str) -> dict:
    """One claim for one micromotion → {value, low, high, n, bar, verdict} from the results."""
    entry = results.get(claim.key.format(m=motion))
    bar = claim.bar_value(results)
    if entry is None or bar is None:
        return {"verdict": NOT_MEASURED}
    low, high = entry["low"], entry["high"]
    if entry["n"] < MIN_SAMPLES:
        return {"value": entry["value"], "low": low, "high": high, "n": entry["n"], "bar": bar,
                "verdict": UNDECIDED, "reason": f"n = {entry['n']} < {MIN_SAMPLES}"}
    if claim.above:
        verdict = REPLICATED if low > bar else NOT_REPLICATED if high < bar else UNDECIDED
    else:
        verdict = REPLICATED if high < bar else NOT_REPLICATED if low > bar else UNDECIDED
    return {"value": entry["value"], "low": low, "high": high, "n": entry["n"], "bar": bar,
            "verdict": verdict}


def world_versions(results: dict) -> list[str]:
    """The world versions the results were computed on (one, in a run of the book; an entry
    recorded before versions were recorded counts as "unrecorded")."""
    return sorted({str(e.get("world") or "unrecorded") for e in results.values()})


def verdicts(results: dict, motions=MICROMOTIONS) -> dict:
    """{(claim number, micromotion): judgement} for every claim and micromotion."""
    return {(c.number, m): judge(c, results, m) for c in CLAIMS for m in motions}
