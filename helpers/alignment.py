"""FFHQ-style alignment of real photos: find the face, crop it the way FFHQ did.

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
detected: ``import helpers.alignment`` needs neither. Images are loaded by ``helpers.images``; used
by ``micromotion edit --align`` and the inversion of real photos (``notebooks/02_inversion.ipynb``).
"""
from __future__ import annotations

import functools
import importlib.util
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageFilter

from .images import (MAX_SIDE, MIN_SIDE, NOTES_KEY, SOURCE_KEY, ImageLoadError, ImageSource, InputError,
                     load_image)
from .progress import bar

__all__ = [
    "AlignmentError", "ImageLoadError", "NoFaceError", "LandmarkError", "AlignmentDependencyError",
    "AlignInfo", "FaceBox", "load_image", "detect_faces", "face_landmarks", "face_quad", "crop_quad",
    "align_face", "align_faces", "MIN_SIDE", "MAX_SIDE", "INSTALL_HINT",
]

DETECT_SIDE = 1024       # px: the HOG detector scans a copy at most this large, upsampled once
CNN_SIDE = 640           # px: the (slower) CNN fallback scans a copy at most this large
SUPERSAMPLE = 4          # the quad is warped to SUPERSAMPLE × output_size, then Lanczos-resized
INSTALL_HINT = "pip install dlib-bin face_recognition_models"


class AlignmentError(InputError):
    """A face could not be aligned; the message names the file and what to do."""


class NoFaceError(AlignmentError):
    """No face was detected."""


class LandmarkError(AlignmentError):
    """A face was detected but its landmarks are missing or implausible (profile, occlusion)."""


class AlignmentDependencyError(ImportError):
    """dlib or its model files are not installed."""


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


def align_clip(frames: Sequence[ImageSource], output_size: int = 1024, *, smooth: float = 1.0,
               detector: str = "auto") -> tuple[list[Image.Image], list[str]]:
    """A clip's frames → FFHQ-aligned crops that do not jitter, and notes.

    Aligning each frame on its own makes the crop shake with every landmark's noise, and the
    inverted codes then move with the shake, not only with the motion. So the 68 landmarks are
    found per frame, frames without a face take them interpolated from their neighbours in time,
    and each landmark's track is smoothed with a Gaussian of ``smooth`` frames (0: none) before
    every frame is cut with :func:`align_face`. No face in any frame → :class:`NoFaceError`.
    """
    if smooth < 0:
        raise ValueError(f"smooth must be ≥ 0 frames, not {smooth!r}")
    frames = list(frames)
    tracks: list[np.ndarray | None] = []
    for frame in frames:
        faces = detect_faces(frame, detector)
        tracks.append(face_landmarks(frame, faces[_largest(faces)]) if faces else None)
    found = [i for i, t in enumerate(tracks) if t is not None]
    if not found:
        raise NoFaceError(f"no face found in any of the clip's {len(frames)} frames: the face should "
                          "be roughly frontal and at least ~80 px wide")
    notes = []
    if len(found) < len(frames):
        missing = [i for i in range(len(frames)) if tracks[i] is None]
        notes.append(f"no face in frame(s) {missing}: landmarks interpolated from their neighbours")
    known = np.stack([tracks[i] for i in found])                      # [k, 68, 2]
    t = np.arange(len(frames))
    points = np.stack([[np.interp(t, found, known[:, j, c]) for c in range(2)]
                       for j in range(known.shape[1])])               # [68, 2, T]
    if smooth > 0 and len(frames) > 1:
        radius = int(np.ceil(3 * smooth))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smooth) ** 2)
        padded = np.pad(points, ((0, 0), (0, 0), (radius, radius)), mode="edge")
        points = np.apply_along_axis(lambda x: np.convolve(x, kernel / kernel.sum(), "valid"),
                                     2, padded)
    points = points.transpose(2, 0, 1)                                # [T, 68, 2]
    aligned = [align_face(f, output_size, landmarks=p)[0] for f, p in zip(frames, points)]
    return aligned, notes
