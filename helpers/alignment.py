"""FFHQ-style alignment of real photos: load any image, find the face, crop it the way FFHQ did.

The paper's encoders (ReStyle, e4e, pSp) were trained on FFHQ crops, so a real photo must be cut the
same way before inversion: eyes level and at fixed places, the face filling the same part of the frame
(NOTES §1 "Inversion"). The recipe, written here from its published description:

1. 68 landmarks (dlib's predictor) → eye centres and mouth corners;
2. an oriented square ("quad") whose x axis blends the eye line with the perpendicular of the
   eye-to-mouth line, whose half side is ``max(2.0·|eye_to_eye|, 1.8·|eye_to_mouth|)`` and whose
   centre sits a tenth of the way from the eyes to the mouth;
3. shrink very large images by an integer factor, crop around the quad, reflect-pad (blurred and
   faded to the median colour) where the quad leaves the photo;
4. warp the quad to a 4× supersampled square (bilinear) and Lanczos-resize it to the output size.

dlib comes from the prebuilt wheel ``dlib-bin`` and its models from ``face_recognition_models``, so
nothing is compiled or downloaded at run time (NOTES §3.5, §4). Both are imported only when a face is
detected: ``import helpers.alignment`` needs neither. Used by ``helpers.anchors`` (frames of a clip)
and by the inversion of real photos (``notebooks/02_inversion.ipynb``).
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .progress import bar

__all__ = [
    "AlignmentError", "ImageLoadError", "NoFaceError", "LandmarkError", "AlignmentDependencyError",
    "AlignInfo", "FaceBox", "load_image", "detect_faces", "face_landmarks", "face_quad", "crop_quad",
    "align_face", "align_faces", "MIN_SIDE", "MAX_SIDE", "INSTALL_HINT",
]

MIN_SIDE = 32            # px: smaller images cannot hold a detectable face
MAX_SIDE = 8000          # px: larger images are downscaled on load
DETECT_SIDE = 1024       # px: the HOG detector scans a copy at most this large, upsampled once
CNN_SIDE = 640           # px: the (slower) CNN fallback scans a copy at most this large
SUPERSAMPLE = 4          # the quad is warped to SUPERSAMPLE × output_size, then Lanczos-resized
INSTALL_HINT = "pip install dlib-bin face_recognition_models"
NOTES_KEY = "load_notes"       # Image.info key: what load_image changed (downscaling, alpha, …)
SOURCE_KEY = "source"          # Image.info key: the file (or kind of object) an image came from

ImageSource = Union[str, os.PathLike, np.ndarray, Image.Image]


class AlignmentError(ValueError):
    """An image could not be loaded or aligned; the message names the file and what to do."""


class ImageLoadError(AlignmentError):
    """Not an image, empty, corrupt, truncated, too small or too large to decode."""


class NoFaceError(AlignmentError):
    """No face was detected."""


class LandmarkError(AlignmentError):
    """A face was detected but its landmarks are missing or implausible (profile, occlusion)."""


class AlignmentDependencyError(ImportError):
    """dlib or its model files are not installed."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Detection and landmarks (dlib, imported lazily)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FaceBox:
    """One detected face: ``box`` = (left, top, right, bottom) in image pixels, detector score."""

    box: tuple[float, float, float, float]
    score: float
    detector: str

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def _require_dlib():
    try:
        import dlib
    except ImportError:
        raise AlignmentDependencyError(
            f"face alignment needs dlib and its model files: {INSTALL_HINT} "
            "(prebuilt wheels, no cmake or download at run time)") from None
    return dlib


def _model_file(filename: str) -> str:
    """Path of a model shipped in ``face_recognition_models``, found without importing it.

    Importing that package runs ``pkg_resources``, which setuptools ≥ 81 no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / filename
        if path.is_file():
            return str(path)
    raise AlignmentDependencyError(f"the dlib model {filename} was not found: {INSTALL_HINT}")


@functools.lru_cache(maxsize=None)
def _hog_detector():
    return _require_dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=None)
def _cnn_detector():
    return _require_dlib().cnn_face_detection_model_v1(_model_file("mmod_human_face_detector.dat"))


@functools.lru_cache(maxsize=None)
def _shape_predictor():  # ~1 s to read 100 MB: once per process
    return _require_dlib().shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))


def _scaled_copy(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = pixels.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return pixels, 1.0
    small = Image.fromarray(pixels).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                           Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), scale


def detect_faces(image: ImageSource, detector: str = "auto") -> list[FaceBox]:
    """Faces in an image, in detector order; boxes in the image's own pixels.

    ``"hog"``: dlib's HOG frontal detector on a copy at most 1024 px, upsampled once (finds roughly
    upright, frontal faces from ~40 px in that copy). ``"cnn"``: dlib's MMOD CNN (slower, ~2–3 s per
    640 px image on one core, more tolerant of pose and blur). ``"auto"``: HOG, then CNN if HOG finds
    nothing.
    """
    if detector not in ("auto", "hog", "cnn"):
        raise ValueError(f"detector must be 'auto', 'hog' or 'cnn', not {detector!r}")
    _require_dlib()
    pixels = _pixels(image)
    faces: list[FaceBox] = []
    if detector in ("auto", "hog"):
        small, scale = _scaled_copy(pixels, DETECT_SIDE)
        rects, scores, _ = _hog_detector().run(small, 1, 0.0)
        faces = [FaceBox((r.left() / scale, r.top() / scale, (r.right() + 1) / scale,
                          (r.bottom() + 1) / scale), float(s), "hog") for r, s in zip(rects, scores)]
    if not faces and detector in ("auto", "cnn"):
        small, scale = _scaled_copy(pixels, CNN_SIDE)
        found = _cnn_detector()(small, 0)
        faces = [FaceBox((d.rect.left() / scale, d.rect.top() / scale, (d.rect.right() + 1) / scale,
                          (d.rect.bottom() + 1) / scale), float(d.confidence), "cnn") for d in found]
    return faces


def face_landmarks(image: ImageSource, face: FaceBox) -> np.ndarray:
    """dlib's 68 landmarks [68, 2] (x, y in image pixels) for one detected face."""
    dlib = _require_dlib()
    pixels = _pixels(image)
    left, top, right, bottom = (int(round(v)) for v in face.box)
    shape = _shape_predictor()(pixels, dlib.rectangle(left, top, right - 1, bottom - 1))
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)], dtype=np.float64)


def _pixels(image: ImageSource) -> np.ndarray:
    """uint8 [H, W, 3] for dlib, without a reload when the input already is one."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return np.ascontiguousarray(np.asarray(image))
    return np.ascontiguousarray(np.asarray(load_image(image, for_alignment=True)))


def _largest(faces: Sequence[FaceBox]) -> int:
    """Index of the largest face; sizes within 15 % count as equal and the detector score decides.

    HOG sometimes reports a weak second 'face' (a badge, a pattern) of the same size as the real
    one, and its score is what tells them apart.
    """
    biggest = max(f.area for f in faces)
    close = [i for i, f in enumerate(faces) if f.area >= 0.85 * biggest]
    return max(close, key=lambda i: faces[i].score)


# ---------------------------------------------------------------------------------------------
# The FFHQ geometry
# ---------------------------------------------------------------------------------------------

def _eyes_and_mouth(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eye_left, eye_right, mouth_left, mouth_right) from the 68-point layout (image left/right)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[36:42].mean(0), lm[42:48].mean(0), lm[48], lm[54]


def face_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop square for 68 landmarks → quad [4, 2]: top-left, bottom-left, bottom-right, top-right.

    The horizontal axis averages two estimates of "sideways": the eye line and the eye-to-mouth line
    turned by 90°, so neither a wink nor a crooked smile tilts the crop on its own. The half side is
    the larger of 2× the eye distance and 1.8× the eye-to-mouth distance.
    """
    eye_left, eye_right, mouth_left, mouth_right = _eyes_and_mouth(landmarks)
    eye_mid = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - eye_mid
    mouth_sideways = np.array([eye_to_mouth[1], -eye_to_mouth[0]])  # (0, 1) "down" → (1, 0) "right"
    x_axis = eye_to_eye + mouth_sideways
    x_axis *= max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth)) / np.hypot(*x_axis)
    y_axis = np.array([-x_axis[1], x_axis[0]])  # x turned by +90° (y points down in images)
    centre = eye_mid + 0.1 * eye_to_mouth
    return np.stack([centre - x_axis - y_axis, centre - x_axis + y_axis,
                     centre + x_axis + y_axis, centre + x_axis - y_axis])


def _check_landmarks(landmarks: np.ndarray, name: str) -> np.ndarray:
    """Refuse landmarks the FFHQ geometry cannot use (dlib always returns 68 points, even on a profile)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise LandmarkError(f"{name}: expected 68 finite (x, y) landmarks in dlib's layout, got "
                            f"an array of shape {lm.shape}.")
    eye_left, eye_right, mouth_left, mouth_right = _eyes_and_mouth(lm)
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (mouth_left + mouth_right) / 2 - (eye_left + eye_right) / 2
    d_eyes, d_mouth = np.hypot(*eye_to_eye), np.hypot(*eye_to_mouth)
    problem = None
    if d_eyes < 2.0 or d_mouth < 2.0:
        problem = f"eyes {d_eyes:.1f} px apart, mouth {d_mouth:.1f} px below them"
    else:
        ratio = d_eyes / d_mouth
        # sine of the angle from the eye line to the mouth direction: 1 for a frontal face
        turn = (eye_to_eye[0] * eye_to_mouth[1] - eye_to_eye[1] * eye_to_mouth[0]) / (d_eyes * d_mouth)
        if not 0.35 <= ratio <= 3.0:
            problem = f"eye distance / eye-to-mouth distance = {ratio:.2f} (a frontal face gives ~1)"
        elif turn < 0.8:
            problem = "the mouth is not below the eyes, perpendicular to the eye line"
    if problem:
        raise LandmarkError(f"{name}: the face's landmarks are implausible ({problem}); the face is "
                            "probably in profile, occluded or too blurred. The 68-point model needs a "
                            "roughly frontal face: use another photo or crop.")
    return lm


def crop_quad(image: Image.Image, quad: np.ndarray, output_size: int = 1024,
              supersample: int = SUPERSAMPLE) -> Image.Image:
    """Warp the square ``quad`` [4, 2] of an RGB image to ``output_size``² pixels, FFHQ's way.

    Large images are first shrunk by an integer factor (Lanczos) so the quad spans 2–4 × the output
    size; parts of the quad outside the photo are filled by mirroring it, blurred and faded towards
    the median colour the further out they lie, which reads as out-of-focus background rather than
    as a sharp mirrored face or a black border.
    """
    quad = np.asarray(quad, dtype=np.float64).copy()
    quad_size = np.hypot(*(quad[3] - quad[0]))

    shrink = int(math.floor(quad_size / output_size * 0.5))
    if shrink > 1:
        w, h = image.size
        image = image.resize((int(round(w / shrink)), int(round(h / shrink))), Image.Resampling.LANCZOS)
        quad /= shrink
        quad_size /= shrink

    border = max(int(round(quad_size * 0.1)), 3)
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    w, h = image.size
    crop = (max(lo[0] - border, 0), max(lo[1] - border, 0), min(hi[0] + border, w), min(hi[1] + border, h))
    if crop[2] - crop[0] < w or crop[3] - crop[1] < h:
        image = image.crop(crop)
        quad -= crop[:2]

    w, h = image.size
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    pad = np.array([max(border - lo[0], 0), max(border - lo[1], 0),
                    max(hi[0] - w + border, 0), max(hi[1] - h + border, 0)])  # left, top, right, bottom
    if pad.max() > border - 4:
        pad = np.maximum(pad, max(int(round(quad_size * 0.3)), 1))
        image = _soft_pad(image, pad, quad_size)
        quad += pad[:2]

    big = supersample * output_size
    warped = image.transform((big, big), Image.Transform.QUAD, tuple((quad + 0.5).flatten()),
                             Image.Resampling.BILINEAR)
    if big != output_size:
        warped = warped.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return warped


def _soft_pad(image: Image.Image, pad: np.ndarray, quad_size: float) -> Image.Image:
    """Reflect-pad by (left, top, right, bottom); blur the padding and fade it to the median colour."""
    left, top, right, bottom = (int(p) for p in pad)
    mirrored = np.pad(np.asarray(image), ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w = mirrored.shape[:2]
    # how far into the padding each pixel lies: 0 at the photo's edge, 1 at the outer edge, negative
    # inside the photo
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    depth_x = 1 - np.minimum(xs / left, (w - 1 - xs) / right)
    depth_y = 1 - np.minimum(ys / top, (h - 1 - ys) / bottom)
    depth = np.maximum(depth_x[None, :], depth_y[:, None])[..., None]  # [h, w, 1]
    blur_weight = np.clip(depth * 3 + 1, 0, 1)  # full blur in the padding, a short ramp inside

    # Pillow's Gaussian blur is a few box passes: its cost does not grow with the radius
    blurred = np.asarray(Image.fromarray(mirrored).filter(ImageFilter.GaussianBlur(float(quad_size) * 0.02)),
                         dtype=np.float32)
    out = mirrored.astype(np.float32)
    out += (blurred - out) * blur_weight
    step = max(1, int(math.sqrt(h * w / 1e6)))  # the median of a 1-Mpx subsample is plenty
    median = np.median(out[::step, ::step].reshape(-1, 3), axis=0)
    out += (median - out) * np.clip(depth, 0, 1)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------------------------------------
# One call
# ---------------------------------------------------------------------------------------------

@dataclass
class AlignInfo:
    """What :func:`align_face` found and did.

    ``landmarks`` [68, 2] and ``quad`` [4, 2] (top-left, bottom-left, bottom-right, top-right) are
    in pixels of the *loaded* image (after EXIF rotation and any downscaling noted in ``notes``);
    ``boxes`` [n, 4] are all detected faces, ``face_index`` the one used (-1 if landmarks were given).
    """

    source: str
    landmarks: np.ndarray
    quad: np.ndarray
    output_size: int
    faces_found: int
    face_index: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    image_size: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)

    def to_output(self, points: np.ndarray) -> np.ndarray:
        """Image points [..., 2] → pixel coordinates [..., 2] in the aligned output."""
        p = np.asarray(points, dtype=np.float64)
        corner = self.quad[0]
        x_edge, y_edge = self.quad[3] - self.quad[0], self.quad[1] - self.quad[0]
        u = (p - corner) @ x_edge / (x_edge @ x_edge)
        v = (p - corner) @ y_edge / (y_edge @ y_edge)
        return np.stack([u, v], axis=-1) * self.output_size

    @property
    def eyes(self) -> np.ndarray:
        """Eye centres [2, 2] (image left, image right) in the aligned output."""
        eye_left, eye_right, _, _ = _eyes_and_mouth(self.landmarks)
        return self.to_output(np.stack([eye_left, eye_right]))


def align_face(image: ImageSource, output_size: int = 1024, *, landmarks: np.ndarray | None = None,
               detector: str = "auto") -> tuple[Image.Image, AlignInfo]:
    """One photo → its FFHQ-aligned face crop (``output_size``² RGB) and an :class:`AlignInfo`.

    ``image``: anything :func:`load_image` takes. Several faces → the largest (noted). Pass
    ``landmarks`` [68, 2] from another detector to skip dlib. The paper's encoders take 256 px;
    FFHQ itself is 1024 px.
    """
    if int(output_size) != output_size or output_size < 8:
        raise ValueError(f"output_size must be an integer ≥ 8, not {output_size!r}")
    output_size = int(output_size)
    picture = load_image(image, for_alignment=True)
    name = picture.info[SOURCE_KEY]
    notes = list(picture.info[NOTES_KEY])

    if landmarks is None:
        pixels = _pixels(picture)
        faces = detect_faces(pixels, detector)
        if not faces:
            tried = {"auto": "HOG and CNN detectors", "hog": "HOG detector", "cnn": "CNN detector"}[detector]
            raise NoFaceError(f"{name}: no face found ({tried}, image {picture.size[0]}×"
                              f"{picture.size[1]} px). The face should be roughly frontal and at "
                              "least ~80 px wide; crop or enlarge the photo, or pass landmarks=.")
        index = _largest(faces)
        if len(faces) > 1:
            notes.append(f"{len(faces)} faces found; aligned the largest (#{index}, "
                         f"{faces[index].box[2] - faces[index].box[0]:.0f} px wide)")
        if faces[index].detector == "cnn":
            notes.append("found by the CNN detector (HOG found no face)")
        points = face_landmarks(pixels, faces[index])
        boxes = np.array([f.box for f in faces], dtype=np.float64)
    else:
        index, faces, points, boxes = -1, [], landmarks, np.zeros((0, 4))
    points = _check_landmarks(points, name)

    quad = face_quad(points)
    aligned = crop_quad(picture, quad, output_size)
    info = AlignInfo(source=name, landmarks=points, quad=quad, output_size=output_size,
                     faces_found=len(faces), face_index=index, boxes=boxes,
                     image_size=picture.size, notes=notes)
    return aligned, info


def align_faces(paths: Iterable[ImageSource], output_size: int = 1024, *, errors: str = "raise",
                detector: str = "auto", progress: bool = True) -> list[tuple[Image.Image, AlignInfo]]:
    """Align a batch with a progress bar → ``[(image, info), …]`` in input order.

    ``errors="raise"`` stops at the first failure; ``"skip"`` leaves the failing images out with a
    warning that names each (``info.source`` says which inputs made it).
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    items = list(paths)
    results = []
    for item in bar(items, desc="aligning faces", unit="image", enabled=progress):
        try:
            results.append(align_face(item, output_size, detector=detector))
        except AlignmentError as err:
            if errors == "raise":
                raise
            warnings.warn(f"skipped: {err}", stacklevel=2)
    return results
