"""Pretrained weights: a registry ``name → WeightSpec`` and a cached, verified download.

The paper's models are public files of 0.2–1.2 GB whose usual homes are Google Drive links, and the
field's most common failure is a Drive quota page saved as ``.pt``, a dead link or a file nobody can
check (NOTES §3). So every entry here lists mirrors, tried in order (model-hub copies first, whose
sha256 the hub publishes), and ``fetch`` moves a download into the cache only after it has passed
three checks: not an HTML page, not shorter than announced, and the registered sha256. A file in the
cache is used without any network request. When every mirror fails, one ``WeightsError`` says what
happened at each URL and where to put the file by hand.

The paper's models are registered by the ffhq world (``helpers.worlds.ffhq.catalogue``). CLIP is
not in the registry: the ``clip`` package downloads ViT-B/32 itself and checks the sha256 embedded
in its URL.

Importing this module is cheap (no torch): the CLI's ``info`` command and the notebooks' first cells
use it before any model is built.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .files import sha256_file
from .progress import bar as progress_bar

__all__ = [
    "WeightSpec", "WeightsError", "UnknownWeightsError", "UnverifiedWeightsWarning",
    "cache_dir", "register", "get_spec", "names", "sha256_file", "verify_file",
    "cached_path", "fetch", "info", "FILES_ENV", "user_files", "colab_drive_cache",
]

CACHE_ENV = "MICROMOTION_CACHE"
DEFAULT_TIMEOUT = 30.0          # seconds without a byte before a mirror counts as dead
_CHUNK = 1 << 20
_USER_AGENT = "micromotion-book (+https://github.com/wuqiuche/micromotion-styleGAN reproduction)"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class WeightsError(RuntimeError):
    """A weights file could not be fetched or verified; the message says what to do."""


class UnknownWeightsError(WeightsError, LookupError):
    """A name that is not in the registry."""


class UnverifiedWeightsWarning(UserWarning):
    """A file was accepted although no published sha256 exists to check it against."""


@dataclass(frozen=True)
class WeightSpec:
    """One weights file: where to get it, how to check it, what it is.

    ``urls`` are tried in order. ``sha256`` is the lowercase hex digest of the whole file, or None
    where no trustworthy hash is published (then ``fetch`` needs ``allow_unverified=True``).
    ``size`` is in bytes (None if unknown). ``format`` names the checkpoint layout a loader expects
    (e.g. ``"rosinality-stylegan2"``). ``source`` is the page a person can fetch the file from by hand.
    """
    name: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    format: str
    licence: str
    description: str
    filename: str
    source: str = ""
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "urls", tuple(self.urls))
        if isinstance(self.sha256, str):
            object.__setattr__(self, "sha256", self.sha256.lower())
            if not _SHA256_RE.fullmatch(self.sha256):
                raise ValueError(f"{self.name}: sha256 must be 64 hex digits, got {self.sha256!r}")
        if not self.filename or Path(self.filename).name != self.filename:
            raise ValueError(f"{self.name}: filename must be a bare file name, got {self.filename!r}")
        if self.size is not None and self.size <= 0:
            raise ValueError(f"{self.name}: size must be positive or None")


# --- the registry -------------------------------------------------------------------------------

_REGISTRY: dict[str, WeightSpec] = {}


def register(spec: WeightSpec, *, replace: bool = False) -> WeightSpec:
    """Add ``spec`` to the registry. Re-registering an identical spec is a no-op; a different spec
    under a taken name, or a second spec with the same cache file name, is refused unless ``replace``."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old != spec and not replace:
        raise ValueError(f"weights {spec.name!r} are already registered with other contents; "
                         "pass replace=True to overwrite")
    for other in _REGISTRY.values():
        if other.name != spec.name and other.filename == spec.filename and not replace:
            raise ValueError(f"weights {spec.name!r} and {other.name!r} would share the cache file "
                             f"{spec.filename!r}")
    _REGISTRY[spec.name] = spec
    return spec


def names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str | WeightSpec) -> WeightSpec:
    """The spec registered as ``name`` (a spec is returned as is)."""
    if isinstance(name, WeightSpec):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownWeightsError(f"no weights named {name!r}; known names: "
                                  f"{', '.join(names()) or '(none)'}") from None


# --- the cache ----------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where weights are kept: ``$MICROMOTION_CACHE`` if set, else ``~/.cache/micromotion``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "micromotion"


def check_cache_dir() -> Path:
    """The cache folder, checked before any work that will write there: it must be a folder (or a
    path one can be made at) that this user can write. Raises ``ValueError`` saying what to do."""
    cache = cache_dir()
    existing = next((p for p in (cache, *cache.parents) if os.path.lexists(p)), None)
    if existing is not None and not existing.is_dir():
        where = "it" if existing == cache else f"{existing}"
        raise ValueError(f"the cache folder {cache} cannot be used: {where} is a file, not a folder; set "
                         f"{CACHE_ENV} to a folder (or unset it for ~/.cache/micromotion)")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"the cache folder {cache} cannot be written ({existing} is not writable); set "
                         f"{CACHE_ENV} to a folder you can write to")
    return cache


def _target(spec: WeightSpec, cache) -> Path:
    return Path(cache).expanduser() / spec.filename if cache is not None else cache_dir() / spec.filename


def _stamp_path(target: Path) -> Path:
    # Records the hash a file had when it was accepted or verified. It is a record, never a
    # shortcut: a file is hashed again on every check (a corrupted file can keep its size and
    # mtime), which costs about a second per GB and is less than loading it.
    return target.with_name(f".{target.name}.verified.json")


def _read_stamp(target: Path) -> dict | None:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _write_stamp(target: Path, digest: str) -> None:
    from .files import atomic_write
    text = json.dumps({"sha256": digest, "size": target.stat().st_size})
    atomic_write(_stamp_path(target), lambda f: f.write(text), mode="w")


def verify_file(path, spec: WeightSpec | str) -> bool:
    """True when ``path`` has the spec's size (if known) and sha256.

    Raises ``WeightsError`` for a spec without a published sha256: such a file cannot be verified,
    and answering True would hide that.
    """
    spec = get_spec(spec)
    if spec.sha256 is None:
        raise WeightsError(f"weights {spec.name!r} have no published sha256, so {path} cannot be "
                           "verified; fetch(..., allow_unverified=True) accepts and records it")
    path = Path(path)
    if not path.is_file():
        return False
    if spec.size is not None and path.stat().st_size != spec.size:
        return False
    return sha256_file(path) == spec.sha256


def _cache_state(spec: WeightSpec, target: Path) -> tuple[str, str | None]:
    """State of the file at ``target``, without network: ("ok" | "missing" | "bad" | "unaccepted",
    a sentence saying why it is not usable)."""
    if not target.is_file():
        return "missing", None
    if spec.size is not None and target.stat().st_size != spec.size:
        return "bad", (f"the file already at {target} has {target.stat().st_size:,} bytes, "
                       f"expected {spec.size:,}")
    digest = sha256_file(target)            # computed now: a corrupt file never counts as verified
    stamp = _read_stamp(target)
    if spec.sha256 is not None:
        if digest != spec.sha256:
            return "bad", f"the file already at {target} has sha256 {digest}, expected {spec.sha256}"
        if stamp is None or stamp.get("sha256") != digest:
            _write_stamp(target, digest)
        return "ok", None
    if stamp is None:
        return "unaccepted", (f"the file at {target} has never been accepted (no published sha256 "
                              "to check it against)")
    if stamp.get("sha256") != digest:
        return "bad", (f"the file at {target} has sha256 {digest}, not the {stamp.get('sha256')} "
                       "recorded when it was accepted")
    return "ok", None                       # accepted earlier with allow_unverified=True


def cached_path(name: str | WeightSpec, *, cache=None) -> Path | None:
    """Path of the verified (or earlier accepted) cached file, or None. Never uses the network."""
    spec = get_spec(name)
    target = _target(spec, cache)
    state, _ = _cache_state(spec, target)
    return target if state == "ok" else None


def info(*, cache=None) -> list[dict]:
    """One dict per registered file (name, cached, path, size, format, sha256, description)."""
    rows = []
    for n in names():
        spec = _REGISTRY[n]
        target = _target(spec, cache)
        rows.append({
            "name": n,
            "cached": cached_path(spec, cache=cache) is not None,
            "path": str(target),
            "size": spec.size if spec.size is not None else
            (target.stat().st_size if target.is_file() else None),
            "format": spec.format,
            "sha256": spec.sha256,
            "description": spec.description,
        })
    return rows


# --- the download -------------------------------------------------------------------------------

class _Rejected(Exception):
    """A mirror answered, but not with the file."""


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _describe(err: BaseException) -> str:
    """A short reason for one failed URL, without a traceback."""
    if isinstance(err, _Rejected):
        return str(err)
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused (no server listening)"
        if isinstance(reason, socket.gaierror):
            return f"host name not found (DNS: {reason.strerror or reason})"
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return "timed out while connecting"
        return f"network error: {reason}"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timed out (no data for too long)"
    if isinstance(err, http.client.IncompleteRead):
        return f"truncated: connection closed after {len(err.partial):,} bytes"
    if isinstance(err, http.client.HTTPException):
        return f"bad HTTP response: {type(err).__name__} {err}"
    if isinstance(err, ConnectionError):
        return f"connection failed: {err.strerror or type(err).__name__}"
    if isinstance(err, OSError):
        return f"I/O error: {err.strerror or err}"
    return f"{type(err).__name__}: {err}"


def _is_offline(err: BaseException) -> bool:
    """True when a failure means the mirror was never reached (no route, no DNS, refused, timed
    out), as opposed to a mirror that answered with the wrong thing."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        return not isinstance(err.reason, str) or "unreachable" in err.reason.lower()
    return isinstance(err, (TimeoutError, socket.timeout, ConnectionError, socket.gaierror))


def _download(url: str, spec: WeightSpec, folder: Path, *, progress: bool,
              timeout: float) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``folder``; return (temp path, sha256).

    Raises on any failure, having removed the temporary file.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            ctype = (resp.headers.get("Content-Type") or "").lower()
            if ctype.startswith(("text/html", "application/xhtml")):
                raise _Rejected(f"got an HTML page (Content-Type {ctype.split(';')[0]}), not the "
                                "file: a quota, login or virus-scan page")
            announced = resp.headers.get("Content-Length")
            announced = int(announced) if announced and announced.isdigit() else None
            if announced is not None and spec.size is not None and announced != spec.size:
                raise _Rejected(f"the server announces {announced:,} bytes, expected {spec.size:,}")
            digest = hashlib.sha256()
            received = 0
            with progress_bar(total=announced or spec.size, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=spec.filename, enabled=progress, leave=False) as bar:
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    if received == 0 and _looks_like_html(block):
                        raise _Rejected("got an HTML page, not the file (it starts like one): "
                                        "a quota, login or virus-scan page")
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        expected = announced if announced is not None else spec.size
        if expected is not None and received < expected:
            raise _Rejected(f"truncated: received {received:,} of {expected:,} bytes")
        if spec.size is not None and received != spec.size:
            raise _Rejected(f"wrong size: received {received:,} bytes, expected {spec.size:,}")
        got = digest.hexdigest()
        if spec.sha256 is not None and got != spec.sha256:
            raise _Rejected(f"sha256 mismatch: got {got}, expected {spec.sha256}")
        return tmp, got
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _how_to_place(spec: WeightSpec, target: Path) -> str:
    where = (" or ".join(spec.urls) if spec.urls else spec.source or "its original publisher")
    lines = [f"To place the file by hand: download it from {where}", f"  and save it as {target}",
             f"  (or use a copy you have: {FILES_ENV}='{spec.name}=/path/to/{spec.filename}')"]
    if spec.sha256 is not None:
        size = f" ({spec.size:,} bytes)" if spec.size is not None else ""
        lines.append(f"  Its sha256 must be {spec.sha256}{size}. Then call fetch({spec.name!r}) again.")
    else:
        lines.append("  No sha256 is published for it: then call "
                     f"fetch({spec.name!r}, allow_unverified=True) to accept and record it.")
    return "\n".join(lines)


def _warn_unverified(spec: WeightSpec, target: Path, digest: str) -> None:
    warnings.warn(f"weights {spec.name!r} have no published sha256; accepted {target} with sha256 "
                  f"{digest} (recorded beside it). Compare it with a hash from a source you trust.",
                  UnverifiedWeightsWarning, stacklevel=3)


FILES_ENV = "MICROMOTION_WEIGHTS_FILES"   # "name=path,name=path": your own copies of entries


def user_files() -> dict[str, Path]:
    """The files a user supplied for registry entries, ``$MICROMOTION_WEIGHTS_FILES`` read as
    ``name=path`` pairs separated by commas (e.g. a self-converted StyleGAN2 checkpoint)."""
    out = {}
    for item in filter(None, (x.strip() for x in os.environ.get(FILES_ENV, "").split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise WeightsError(f"{FILES_ENV} must read 'name=path[,name=path]', got {item!r}")
        get_spec(name.strip())                                 # an unknown name is refused here
        out[name.strip()] = Path(path.strip()).expanduser()
    return out


def _user_file(spec: WeightSpec) -> Path | None:
    """The user's own file for ``spec``, hashed; a warning records the hash when it is not the
    registered one (or none is registered). The file is used where it is, never copied."""
    path = user_files().get(spec.name)
    if path is None:
        return None
    if not path.is_file():
        raise WeightsError(f"{FILES_ENV} names {path} for {spec.name!r}, but there is no such file")
    digest = sha256_file(path)
    if digest != spec.sha256:
        expected = f"not the registered {spec.sha256}" if spec.sha256 else "none is published"
        warnings.warn(f"weights {spec.name!r}: using your file {path} (from {FILES_ENV}) with sha256 "
                      f"{digest} ({expected}); results may differ from the book's",
                      UnverifiedWeightsWarning, stacklevel=3)
    return path


def colab_drive_cache(folder: str = "micromotion-cache") -> Path:
    """On Colab: mount Google Drive and keep the weights cache in ``MyDrive/folder``, so the ~2 GB
    of downloads survive a runtime reset. Sets ``$MICROMOTION_CACHE`` for this process."""
    try:
        from google.colab import drive
    except ImportError:
        raise WeightsError("colab_drive_cache works on Colab only; elsewhere set "
                           f"{CACHE_ENV} to any folder") from None
    drive.mount("/content/drive")
    path = Path("/content/drive/MyDrive") / folder
    path.mkdir(parents=True, exist_ok=True)
    os.environ[CACHE_ENV] = str(path)
    return path


def fetch(name_or_spec: str | WeightSpec, *, cache=None, progress: bool = True,
          allow_unverified: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Path of the verified weights file, downloading it into the cache if needed.

    A cached file whose sha256 matches (or, for a spec without one, that was accepted before) is
    returned without any network request. Otherwise each URL is tried in turn; a download goes to
    a temporary file beside the target and is moved into place (atomically) only if it is not an
    HTML page, not truncated and has the registered sha256, so the target path never holds a
    half-written or wrong file. For a spec without a sha256 nothing is downloaded unless
    ``allow_unverified=True``; the computed hash is then reported and recorded.

    A file the user supplied through ``$MICROMOTION_WEIGHTS_FILES`` is used instead, with a warning
    recording its hash when it is not the registered one.

    Raises ``WeightsError`` naming each URL tried and what happened, and how to place the file by hand.
    """
    spec = get_spec(name_or_spec)
    own = _user_file(spec)
    if own is not None:
        return own
    target = _target(spec, cache)
    state, why_not = _cache_state(spec, target)
    if state == "ok":
        return target

    if spec.sha256 is None and not allow_unverified:
        note = f"\nNote: {why_not}." if why_not else ""
        raise WeightsError(
            f"Weights {spec.name!r} ({spec.description}) have no published sha256, so a download "
            "could not be checked and is not made by default.\n"
            "Pass allow_unverified=True to download and accept it (its hash is then reported and "
            f"recorded), or place it by hand.{note}\n{_how_to_place(spec, target)}")
    if state == "unaccepted":             # placed by hand, and the caller accepts unverified files
        digest = sha256_file(target)
        _write_stamp(target, digest)
        _warn_unverified(spec, target, digest)
        return target
    if not spec.urls:
        raise WeightsError(f"Weights {spec.name!r} have no download URL.\n{_how_to_place(spec, target)}")

    target.parent.mkdir(parents=True, exist_ok=True)
    failures, errors = [], []
    for i, url in enumerate(spec.urls, 1):
        try:
            tmp, digest = _download(url, spec, target.parent, progress=progress, timeout=timeout)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:          # every failure of one mirror is reported, not raised
            errors.append(err)
            failures.append(f"  {i}. {url}\n     → {_describe(err)}")
            continue
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _write_stamp(target, digest)
        if spec.sha256 is None:
            _warn_unverified(spec, target, digest)
        return target

    if all(_is_offline(err) for err in errors):
        cached = (f"no cached copy of weights {spec.name!r} in {target.parent}" if why_not is None else
                  f"the cached copy of weights {spec.name!r} is not usable ({why_not}; it was left in place)")
        first = (f"no network connection (no download mirror could be reached) and {cached}: connect "
                 "to the internet and try again.")
    else:
        first = f"Could not fetch weights {spec.name!r} ({spec.description})."
    lines = [first, "Tried:", *failures]
    if why_not:
        lines.append(f"Note: {why_not}; it was left in place and not used.")
    lines.append(_how_to_place(spec, target))
    raise WeightsError("\n".join(lines)) from None
