"""Images in: any image file, array, PIL image or folder → RGB images or a [-1, 1] batch.

One place for what every entry point needs: robust loading (EXIF, transparency, 16-bit, huge or
truncated files, each failure one clear :class:`ImageLoadError`), the image and video suffixes and
the folder listing, and the square crop and resize to a world's resolution (a clip's frames are in
``clips``). :class:`InputError` is the base of every bad-input error (images here, faces in
``alignment``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["InputError", "ImageLoadError", "load_image", "list_images", "square_resize", "to_batch",
           "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "MIN_SIDE", "MAX_SIDE"]

MIN_SIDE = 32            # px: smaller images cannot hold a detectable face
BATCH_MIN_SIDE = 16      # px: smaller images are refused by to_batch (World.preprocess)
MAX_SIDE = 8000          # px: larger images are downscaled on load
NOTES_KEY = "load_notes"       # Image.info key: what load_image changed (downscaling, alpha, …)
SOURCE_KEY = "source"          # Image.info key: the file (or kind of object) an image came from
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")

ImageSource = Union[str, os.PathLike, np.ndarray, Image.Image]


class InputError(ValueError):
    """Bad input from a user (an image, a clip, a face): the message names it and what to do."""


class ImageLoadError(InputError):
    """Not an image, empty, corrupt, truncated, too small or too large to decode."""


def list_images(folder) -> list[Path]:
    """The image files directly in ``folder``, sorted by name (an error if there are none)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ImageLoadError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


# --------------------------------------------------------------------------- loading


def load_image(source: ImageSource, *, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE,
               for_alignment: bool = False) -> Image.Image:
    """Any image → an 8-bit RGB ``PIL.Image``, the same way for files, arrays and PIL images.

    * Files: EXIF orientation is applied; only the first frame of animations is used. JPEGs larger
      than ``max_side`` are decoded at a reduced scale (``Image.draft``), so a huge photo never needs
      its full size in memory.
    * Transparency (RGBA, LA, P with a transparent colour) is **composited onto white**: cut-out
      portraits are meant to be seen on a light page, and dropping alpha would expose whatever colour
      the transparent pixels happen to store (often black).
    * L, 1, P, CMYK, YCbCr → RGB. 16-bit grey (``I;16`` PNGs, uint16 arrays) → ``round(v / 257)``,
      the exact inverse of 8 → 16-bit expansion.
    * Arrays: uint8/uint16/bool, ``[H, W]``, ``[H, W, 1|3|4]``; floats must lie in [0, 1].
    * A side above ``max_side`` → downscaled (Lanczos) so the longer side is ``max_side``; a side
      below ``min_side`` (32 px: alignment's need; ``World.preprocess`` asks for 16) is refused.

    What was changed is listed in ``image.info["load_notes"]``; ``image.info["source"]`` names the
    origin for later error messages. Every failure is one :class:`ImageLoadError` naming the file.
    """
    notes: list[str] = []
    if isinstance(source, Image.Image):
        name = str(source.info.get(SOURCE_KEY) or getattr(source, "filename", "") or "<PIL image>")
        notes.extend(source.info.get(NOTES_KEY, []))
        try:
            source.load()
        except Exception as err:  # a lazily opened, broken file handed over by the caller
            raise ImageLoadError(_decode_failure(name, err)) from None
        image = _to_rgb(_exif_upright(source, notes), name, notes)
    elif isinstance(source, np.ndarray):
        name = f"<numpy array {source.shape} {source.dtype}>"
        image = _from_array(source, name, notes)
    elif isinstance(source, (str, os.PathLike)):
        name = str(source)
        image = _read_file(Path(source), max_side, notes)
    else:
        raise ImageLoadError(f"cannot load an image from a {type(source).__name__}: pass a file path, "
                             "a numpy array [H, W, 3] or a PIL image")

    w, h = image.size
    if min(w, h) < min_side:
        need = ("alignment needs at least {} px on each side (and a face about 80 px wide to detect it)"
                if for_alignment else "at least {} px on each side are needed")
        raise ImageLoadError(f"{name}: the image is only {w}×{h} px; {need.format(min_side)}. "
                             "Use a larger image.")
    if max(w, h) > max_side:
        image = _shrink_to(image, max_side)
        notes.append(f"downscaled from {w}×{h} to {image.size[0]}×{image.size[1]} px "
                     f"(longer side limited to {max_side} px)")
    image.info = {SOURCE_KEY: name, NOTES_KEY: notes}
    return image


def _read_file(path: Path, max_side: int, notes: list[str]) -> Image.Image:
    """Open, decode and convert one file; every failure becomes one ImageLoadError."""
    name = str(path)
    if not path.exists():
        raise ImageLoadError(f"{name}: no such file. Check the path (relative paths start at "
                             f"{Path.cwd()}).")
    if path.is_dir():
        raise ImageLoadError(f"{name} is a folder, not an image file: pass the files inside it "
                             "(align_faces takes a list).")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageLoadError(f"{name} cannot be read ({err}).") from None
    if size == 0:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes), probably an interrupted download "
                             "or copy. Fetch or export it again.")
    try:
        with warnings.catch_warnings():  # between 1× and 2× the limit Pillow only warns: we downscale
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
    except Image.DecompressionBombError as err:
        opened = _open_huge_jpeg(path, max_side, err, notes)
    except Exception as err:
        raise ImageLoadError(_open_failure(path, err)) from None

    with opened:
        w, h = opened.size
        try:
            frames = getattr(opened, "n_frames", 1)
            if frames > 1:
                notes.append(f"the file holds {frames} frames; the first one is used")
            if max(w, h) > max_side and opened.format == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below the requested size
                opened.draft(None, (max(1, w * max_side // max(w, h)), max(1, h * max_side // max(w, h))))
                if opened.size != (w, h):
                    notes.append(f"JPEG decoded at reduced scale: {w}×{h} → "
                                 f"{opened.size[0]}×{opened.size[1]} px")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                opened.load()
        except MemoryError:
            raise ImageLoadError(f"{name}: {w}×{h} px does not fit in memory. Downscale it first "
                                 "(e.g. `convert in.png -resize 4000x4000 out.png`).") from None
        except Exception as err:
            raise ImageLoadError(_decode_failure(name, err)) from None
        upright = _exif_upright(opened, notes)
        return _to_rgb(upright, name, notes)


_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF",
          b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _open_failure(path: Path, err: Exception) -> str:
    """Why ``Image.open`` refused a file, judged by its first bytes: a broken image or not an image."""
    name = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as read_err:
        return f"{name} cannot be read ({read_err}). Check its permissions."
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind is not None:
        return (f"{name} starts like a {kind} file but Pillow cannot read its header "
                f"({type(err).__name__}: {err}): it is corrupt or truncated. Download or export it again.")
    if isinstance(err, UnidentifiedImageError):
        return (f"{name} is not an image file Pillow can read (it starts with {head!r}); the extension may "
                "not match the content. Open it in an image viewer and re-save it as PNG or JPEG.")
    return f"{name} could not be opened ({type(err).__name__}: {err}). Check that it is a readable image file."


def _decode_failure(name: str, err: Exception) -> str:
    kind = "truncated" if "truncated" in str(err).lower() else "corrupt"
    return (f"{name} is {kind}: Pillow could not decode it ({type(err).__name__}: {err}). "
            "Download or export it again.")


def _open_huge_jpeg(path: Path, max_side: int, bomb: Exception, notes: list[str]) -> Image.Image:
    """Past Pillow's hard pixel limit only a JPEG can still be read: libjpeg decodes it at up to 1/8 scale.

    ``Image.open`` refuses such files before looking at their format; the JPEG plugin's own class
    reads the header without that check, and ``draft`` makes the decode small. Anything that would
    still exceed the limit after drafting is refused with the same advice as other formats.
    """
    from PIL import JpegImagePlugin

    limit = Image.MAX_IMAGE_PIXELS
    advice = (f"{path} is too large to decode safely ({bomb}). Downscale it with another tool "
              "first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file.")
    with open(path, "rb") as fh:
        is_jpeg = fh.read(3) == b"\xff\xd8\xff"
    if not is_jpeg:
        raise ImageLoadError(advice) from None
    try:
        jpeg = JpegImagePlugin.JpegImageFile(str(path))
    except Exception:
        raise ImageLoadError(advice) from None
    w, h = jpeg.size
    target = max(1, w * max_side // max(w, h)), max(1, h * max_side // max(w, h))
    jpeg.draft(None, target)
    notes.append(f"JPEG beyond Pillow's pixel limit decoded at reduced scale: {w}×{h} → "
                 f"{jpeg.size[0]}×{jpeg.size[1]} px")
    if limit is not None and jpeg.size[0] * jpeg.size[1] > 2 * limit:
        jpeg.close()
        raise ImageLoadError(advice) from None
    return jpeg


def _exif_upright(image: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation tag (phones store photos sideways and set the tag)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF is not worth failing for
        return image
    if orientation in (None, 1):
        return image
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:
        notes.append(f"EXIF orientation {orientation} could not be applied; the image is used as stored")
        return image
    notes.append(f"rotated/flipped upright from EXIF orientation {orientation}")
    return upright if upright is not None else image


def _to_rgb(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """Any Pillow mode → RGB (see :func:`load_image` for the rules)."""
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return _on_white(image.convert("RGBA"), notes)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _grey_array_to_rgb(np.asarray(image), name, notes)
    try:
        return image.convert("RGB")
    except Exception as err:
        raise ImageLoadError(f"{name}: Pillow cannot convert its colour mode {mode!r} to RGB ({err}). "
                             "Re-save it as an 8-bit RGB PNG or JPEG.") from None


def _on_white(rgba: Image.Image, notes: list[str]) -> Image.Image:
    alpha = np.asarray(rgba)[..., 3]
    if alpha.min() < 255:
        notes.append("transparent pixels composited onto white")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _grey_array_to_rgb(values: np.ndarray, name: str, notes: list[str]) -> Image.Image:
    """Integer or float grey levels of any depth → 8-bit RGB."""
    kind, nbytes = values.dtype.kind, values.dtype.itemsize
    if kind == "u" and nbytes == 2:  # 16-bit, either byte order (I;16, I;16B)
        grey = np.rint(values.astype(np.float64) / 257.0)
    elif kind in "iu" and values.size and values.min() >= 0 and values.max() <= 65535:
        grey = np.rint(values.astype(np.float64) / 257.0)
        notes.append("32-bit integer grey levels read as 16-bit (0–65535)")
    else:
        v = values.astype(np.float64)
        if not np.isfinite(v).all():
            raise ImageLoadError(f"{name}: the image holds NaN or infinite values; it cannot be shown.")
        lo, hi = float(v.min()), float(v.max())
        if lo >= 0.0 and hi <= 1.0:
            grey = np.rint(v * 255.0)
        elif lo >= 0.0 and hi <= 255.0:
            grey = np.rint(v)
            notes.append("grey levels read as 0–255")
        else:
            grey = np.rint((v - lo) / max(hi - lo, 1e-12) * 255.0)
            notes.append(f"grey levels in [{lo:g}, {hi:g}] stretched to 0–255")
    return Image.fromarray(np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2), "RGB")


def _from_array(array: np.ndarray, name: str, notes: list[str]) -> Image.Image:
    """A numpy image → RGB; a clear error for channels-first, odd shapes and out-of-range floats."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        raise ImageLoadError(f"{name} looks channels-first [C, H, W]; pass array.transpose(1, 2, 0).")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ImageLoadError(f"{name}: expected an image [H, W], [H, W, 3] or [H, W, 4].")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "u" and a.dtype.itemsize == 2:
        a = np.rint(a / 257.0).astype(np.uint8)
    elif a.dtype.kind in "iu" and a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ImageLoadError(f"{name}: integer values outside 0–255; pass uint8 (or uint16) data.")
        a = a.astype(np.uint8)
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ImageLoadError(f"{name} holds NaN or infinite values.")
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise ImageLoadError(f"{name}: float images must hold values in [0, 1] (found "
                                 f"[{a.min():g}, {a.max():g}]); for 0–255 values pass "
                                 "array.astype(np.uint8).")
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageLoadError(f"{name}: unsupported dtype {a.dtype}; pass uint8 or floats in [0, 1].")
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        return Image.fromarray(a, "L").convert("RGB")
    if a.shape[2] == 4:
        return _on_white(Image.fromarray(a, "RGBA"), notes)
    return Image.fromarray(a, "RGB")


def _shrink_to(image: Image.Image, max_side: int) -> Image.Image:
    """Lanczos-downscale so the longer side is ``max_side``; an integer box reduce first saves time."""
    w, h = image.size
    scale = max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    factor = int(1 / scale) // 2  # keep ≥ 2× the target for Lanczos to finish cleanly
    if factor >= 2:
        image = image.reduce(factor)
    return image.resize(size, Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------- batches

def square_resize(image, size: int):
    """PIL image → tensor [3, size, size] in [-1, 1]: centre square crop, Lanczos resize."""
    import torch
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    image = image.crop((left, top, left + s, top + s))
    if s != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)


def tensor_batch(images, size: int):
    """A tensor [C, H, W] or [n, C, H, W] (C = 1, 3 or 4) → [n, 3, size, size] in [-1, 1]."""
    import torch
    import torch.nn.functional as F
    x = images.detach()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 3, 4):
        raise InputError(f"expected an image tensor [3, H, W] or [n, 3, H, W] (1, 3 or 4 channels), got "
                         f"shape {tuple(images.shape)}")
    if len(x) == 0:
        raise InputError("no images given (a batch of 0)")
    if x.dtype == torch.uint8:
        x = x.float() / 127.5 - 1
    elif not x.is_floating_point():
        raise InputError(f"image tensors must be float in [-1, 1] or uint8, not {x.dtype}")
    x = x.float().cpu()
    if not torch.isfinite(x).all():
        raise InputError("the image tensor holds NaN or infinite values")
    if x.min() < -1.01 or x.max() > 1.01:
        raise InputError(f"image tensors must be scaled to [-1, 1] (found [{x.min():.3g}, {x.max():.3g}]); "
                         "for 0–255 pixels use x / 127.5 - 1")
    h, w = x.shape[-2:]
    if min(h, w) < BATCH_MIN_SIDE:
        raise InputError(f"the images are only {w}×{h} px; at least {BATCH_MIN_SIDE} px on each side are "
                         "needed")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:          # transparency onto white, as load_image does
        alpha = (x[:, 3:] + 1) / 2
        x = x[:, :3] * alpha + (1 - alpha)
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if s != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=s > size)
    return x.clamp(-1, 1).contiguous()


def to_batch(images, size: int):
    """Images of any kind → a batch [n, 3, size, size] in [-1, 1] (:meth:`World.preprocess`)."""
    import torch
    if torch.is_tensor(images):
        return tensor_batch(images, size)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise InputError("no images given (an empty list)")
        return torch.cat([to_batch(item, size) for item in images])
    if isinstance(images, (str, os.PathLike, np.ndarray, Image.Image)):
        image = load_image(images, max_side=max(1024, 4 * size), min_side=BATCH_MIN_SIDE)
        return square_resize(image, size)[None]
    raise ImageLoadError(f"cannot read an image from a {type(images).__name__}: pass a file path, a PIL "
                         "image, a numpy array, a tensor [n, 3, H, W] in [-1, 1], or a list of these")
