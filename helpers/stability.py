"""How much of a text-made direction survives float rounding: a committed table over many nudges.

Chapter 3 (``notebooks/03_text_anchors.ipynb``) reads it; five remakes of five micromotions' anchors
cost ~2 minutes on 2 cores, too much to repeat in every build. Made by

    python -m helpers.stability        # writes data/studies/stability.json

For each micromotion, identity 0's text anchors of chapter 3 are remade from start codes nudged by
1e-6 (``NUDGES`` seeds) and each direction is compared with the un-nudged one
(:func:`evaluation.rounding_sensitivity`, scored under the book's protocol). The table records the
sha256 of every file it was made with; :func:`load_table` refuses a table made with other weights,
and a test remakes one row and compares it.
"""
from __future__ import annotations

import json
import sys

from .shipped import DATA, manifest

NUDGES = 5
TABLE = DATA / "studies" / "stability.json"
WORLD_FILES = ("synthfaces_g.pt", "synthfaces_clip.pt", "synthfaces_meter.pt", "synthfaces_judge.pt")
MADE_BY = "python -m helpers.stability"


def world_files() -> dict[str, str]:
    """The sha256 of the shipped files a stability row depends on."""
    entries = manifest()
    return {name: entries.get(name, {}).get("sha256") for name in WORLD_FILES}


def measure(world, motion: str, nudges: int = NUDGES, n_targets: int = 16, seed: int = 1,
            steps: int = 40, n_identities: int = 3) -> dict:
    """One row: identity 0's anchors (chapter 3's, from its batch of ``n_identities``) remade
    ``nudges`` times."""
    from .anchors import anchor_sets
    from .evaluation import rounding_sensitivity
    anchors = anchor_sets(world, "text", [motion], n_identities=n_identities, seed=seed, steps=steps,
                          progress=False)[motion][0]
    targets = world.sample_wplus(n_targets, seed=seed + 1500)
    r = rounding_sensitivity(world, anchors, world.templates[motion], motion, targets,
                             repeats=nudges, steps=steps)
    return {"cosines": r.cosines, "gaps": r.gaps, "base_monotonic": r.base.monotonic,
            "base_slope": r.base.slope, "nudged_monotonic": [s.monotonic for s in r.nudged],
            "nudged_slopes": [s.slope for s in r.nudged], "n_targets": n_targets}


def make(world, path=TABLE) -> dict:
    """Measure every micromotion and write the table atomically."""
    from .evaluation import PROTOCOL
    from .files import atomic_write
    table = {"made_by": MADE_BY, "world_files": world_files(), "nudges": NUDGES, "scale": 1e-6,
             "protocol": PROTOCOL.describe(),
             "rows": {m: measure(world, m) for m in world.templates}}
    atomic_write(path, lambda f: f.write(json.dumps(table, indent=1) + "\n"), mode="w")
    return table


def load_table(world=None, path=TABLE) -> dict:
    """The committed table, after checking it was made with the shipped weights (and, given a
    ``world``, with that world's generator: another world has no table)."""
    if not path.is_file():
        raise ValueError(f"no stability table at {path}: make it with `{MADE_BY}`")
    table = json.loads(path.read_text())
    made_with = table.get("world_files", {})
    if world is not None and world.info.get("weights_sha256") != made_with.get("synthfaces_g.pt"):
        raise ValueError(f"the stability table is for the synthfaces world, not {world.name!r}")
    stale = {k for k, v in world_files().items() if made_with.get(k) != v}
    if stale:
        raise ValueError(f"the stability table was made with other weights ({', '.join(sorted(stale))} "
                         f"changed since): remake it with `{MADE_BY}`")
    return table


def main(argv=None) -> int:
    import time
    from . import worlds
    if argv:
        print(f"usage: {MADE_BY}  (no options: it writes {TABLE.relative_to(DATA.parent)})",
              file=sys.stderr)
        return 2
    t0 = time.time()
    table = make(worlds.load("synthfaces", device="cpu"))
    for m, row in table["rows"].items():
        print(f"{m:12s} cosines {min(row['cosines']):+.3f} … {max(row['cosines']):+.3f}")
    print(f"wrote {TABLE} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
