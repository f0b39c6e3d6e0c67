"""Files: atomic output (a reader never sees a half-written file, a failure leaves nothing behind)
and the sha256 of a file."""
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
