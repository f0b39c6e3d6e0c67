"""Files: atomic output (a reader never sees a half-written file, a failure leaves nothing behind),
an output folder made and checked before the work (and removed if the work fails), the sha256
of a file."""
from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable, mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.

    Parent folders are created. On any error the temporary file is removed and the error re-raised.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def sha256_file(path) -> str:
    """Lowercase hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def snapshot(path):
    """A copy of ``path`` beside it (``.resume.pt``) for the duration, removed afterwards: a training
    run that continues from ``path`` and rewrites it keeps its start point until it ends."""
    path = Path(path)
    copy = path.with_suffix(".resume.pt")
    copy.write_bytes(path.read_bytes())
    try:
        yield copy
    finally:
        copy.unlink(missing_ok=True)


# --------------------------------------------------------------------------- an output folder

def output_folder(path, created: list) -> Path:
    """Create ``path`` and prove it writable now, before any long computation.

    The folders made here are appended to ``created`` (deepest first), so that a failed command
    can remove them again (:func:`remove_new_folders`). The probe is a fresh file created
    exclusively under a random name (never a fixed name someone could have planted a link at),
    then removed. Raises ``ValueError`` naming the folder and why.
    """
    path = Path(path)
    try:
        missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
        path.mkdir(parents=True, exist_ok=True)
        created.extend(missing)
        fd, probe = tempfile.mkstemp(prefix=".micromotion-write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"cannot write to {path}: {err.strerror or err}") from None
    return path


def remove_new_folders(created: list) -> None:
    """Remove the folders a failed command made, if they are still empty (deepest first)."""
    for folder in created:
        try:
            os.rmdir(folder)
        except OSError:
            break


def outputs_per_input(inputs, folder: Path, suffixes) -> dict[Path, list[Path]]:
    """The files written for each input (``folder/<stem>.<suffix>``), checked before any work: two
    inputs must not share an output, and no output may replace an input (even through a link) or
    a folder. Raises ``ValueError`` naming the clash."""
    plans, by_output = {}, {}
    for path in inputs:
        plans[path] = [Path(folder) / f"{path.stem}.{suffix}" for suffix in suffixes]
        for target in plans[path]:
            if target in by_output:
                raise ValueError(f"{by_output[target].name} and {path.name} would both be written to "
                                 f"{target}: rename one, or edit them separately")
            by_output[target] = path
    existing = [p for p in inputs if p.exists()]
    for target, source in by_output.items():
        if not os.path.lexists(target):
            continue
        if target.is_dir() and not target.is_symlink():
            raise ValueError(f"{target} is a folder, so {source.name}'s result cannot be written there")
        if target.exists() and any(os.path.samefile(target, p) for p in existing):
            raise ValueError(f"writing {target} would replace the input image {target.name}; choose an "
                             "output folder other than the images' own")
    return plans
