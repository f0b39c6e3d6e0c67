"""Weights that ship in ``data/``: a manifest of sha256 hashes, checked on every load.

The synthfaces models are small and committed with the scripts that trained them; the manifest
(``data/MANIFEST.json``) records each file's hash, size and the command that made it, so a
silently corrupted or hand-edited file is refused instead of giving quietly wrong results.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from .files import sha256_file

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST = DATA / "MANIFEST.json"
WORLD_KEY = "world"            # the manifest's one entry that is not a file: the frozen version
WORLD_FILES = ("synthfaces_g.pt", "synthfaces_clip.pt", "synthfaces_meter.pt",
               "synthfaces_judge.pt", "synthfaces_encoder.pt")
FREEZE = "python -m helpers.shipped --freeze"


def _raw() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def manifest() -> dict:
    """The shipped files' entries (sha256, size, the command that made them), by file name."""
    return {k: v for k, v in _raw().items() if k != WORLD_KEY}


def _write(entries: dict) -> None:
    from .files import atomic_write
    text = json.dumps(dict(sorted(entries.items())), indent=2) + "\n"
    atomic_write(MANIFEST, lambda f: f.write(text), mode="w")


def record(path, made_by: str) -> dict:
    """Hash ``path`` (a file in data/) into the manifest; called by the training scripts."""
    path = Path(path)
    entries = _raw()
    entry = {"sha256": sha256_file(path), "size": path.stat().st_size, "made_by": made_by}
    entries[path.name] = entry
    _write(entries)
    return entry


# --------------------------------------------------------------------------- the world's version
def world_files() -> dict[str, str | None]:
    """The sha256 of each model the synthfaces world's numbers depend on (None if not shipped)."""
    entries = manifest()
    return {name: entries.get(name, {}).get("sha256") for name in WORLD_FILES}


def world_version(files: dict | None = None) -> str:
    """One short name for a set of model files: 12 hex digits of a hash of their hashes."""
    files = world_files() if files is None else files
    text = "\n".join(f"{k}:{files[k]}" for k in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def frozen() -> dict | None:
    """The version stamped by the last ``--freeze`` ({"version", "files"}), or None."""
    return _raw().get(WORLD_KEY)


def freeze() -> dict:
    """Stamp the shipped models, as they are now, as one world version in the manifest. Done once
    a new generator's world is complete (encoder, built-in directions, bound: see
    data/training/README.md); the study and the tests refuse models that differ from the stamp."""
    files = world_files()
    missing = sorted(k for k, v in files.items() if v is None)
    if missing:
        raise ValueError(f"cannot freeze: {', '.join(missing)} not in data/MANIFEST.json")
    entries = _raw()
    entries[WORLD_KEY] = {"version": world_version(files), "files": files, "made_by": FREEZE}
    _write(entries)
    return entries[WORLD_KEY]


def frozen_version() -> str:
    """The frozen world version, after checking the shipped models are the ones it stamped."""
    stamp, files = frozen(), world_files()
    if stamp is None:
        raise ValueError(f"data/MANIFEST.json has no frozen world version: stamp it with `{FREEZE}`")
    changed = sorted(k for k in files if stamp["files"].get(k) != files[k])
    if changed:
        raise ValueError(f"{', '.join(changed)} changed since world version {stamp['version']} was "
                         f"frozen: finish the new world (data/training/README.md) and `{FREEZE}`")
    return stamp["version"]


def verified(name: str) -> Path:
    """Path of shipped file ``name`` after checking it against the manifest."""
    path = DATA / name
    entry = manifest().get(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it ships with the repository. Restore it with "
                                f"`git checkout -- data/{name}` (or retrain it: {entry and entry['made_by']}).")
    if entry is None:
        raise ValueError(f"data/{name} is not listed in data/MANIFEST.json, so its hash cannot be checked")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ValueError(f"data/{name} fails its hash check (sha256 {digest[:12]}…, expected "
                         f"{entry['sha256'][:12]}…). It is corrupted or was changed by hand: restore it with "
                         f"`git checkout -- data/{name}`, or retrain with `{entry['made_by']}`.")
    return path


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description="The shipped synthfaces models and their world version.")
    p.add_argument("--freeze", action="store_true",
                   help="stamp the shipped models as one world version in data/MANIFEST.json")
    args = p.parse_args(argv)
    try:
        if args.freeze:
            stamp = freeze()
            print(f"froze world version {stamp['version']} ({len(stamp['files'])} models)")
        else:
            print(f"world version {frozen_version()} (frozen; the shipped models match it)")
    except ValueError as err:
        print(f"shipped: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
