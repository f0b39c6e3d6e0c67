"""Weights that ship in ``data/``: a manifest of sha256 hashes, checked on every load.

The synthfaces models are small and committed with the scripts that trained them; the manifest
(``data/MANIFEST.json``) records each file's hash, size and the command that made it, so a
silently corrupted or hand-edited file is refused instead of giving quietly wrong results.
"""
from __future__ import annotations

import json
from pathlib import Path

from .files import sha256_file

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFEST = DATA / "MANIFEST.json"


def manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def record(path, made_by: str) -> dict:
    """Hash ``path`` (a file in data/) into the manifest; called by the training scripts."""
    from .files import atomic_write
    path = Path(path)
    entries = manifest()
    entry = {"sha256": sha256_file(path), "size": path.stat().st_size, "made_by": made_by}
    entries[path.name] = entry
    text = json.dumps(dict(sorted(entries.items())), indent=2) + "\n"
    atomic_write(MANIFEST, lambda f: f.write(text), mode="w")
    return entry


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
