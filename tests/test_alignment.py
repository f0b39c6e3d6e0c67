"""FFHQ-style alignment (helpers/alignment.py): real photos, awkward files, clear errors.

The real photo is scikit-image's ``astronaut`` (Eileen Collins, 512 px). Where a test checks where
the eyes land, it finds them again with dlib on the aligned output, so it checks the pixels rather
than our own bookkeeping. The FFHQ template puts the eye centres near (0.375, 0.475) and
(0.625, 0.475) of the crop (from the recipe's geometry: half side = 2 × eye distance, centre a tenth
of the way from the eyes to the mouth).
"""
import importlib.util
import io
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from helpers import alignment as A
from helpers.alignment import AlignmentDependencyError, ImageLoadError, LandmarkError, NoFaceError

HAS_DLIB = all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))
needs_dlib = pytest.mark.skipif(not HAS_DLIB, reason=f"dlib missing: {A.INSTALL_HINT}")

EYE_LEFT = np.array([0.375, 0.475])   # template eye centres, fractions of the output side
EYE_RIGHT = np.array([0.625, 0.475])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return data.astronaut()


def eyes_found_in(image: Image.Image) -> np.ndarray:
    """Eye centres [2, 2] (image left, image right) found by dlib in an image, in pixels."""
    pixels = np.asarray(image)
    faces = A.detect_faces(pixels, "hog")
    assert faces, "no face found again in the aligned output"
    landmarks = A.face_landmarks(pixels, faces[A._largest(faces)])
    return np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])


def tilt_degrees(eyes: np.ndarray) -> float:
    (x0, y0), (x1, y1) = eyes
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def assert_at_template(eyes: np.ndarray, size: int, tol: float = 0.015):
    fractions = eyes / size
    assert np.abs(fractions[0] - EYE_LEFT).max() < tol, f"left eye at {fractions[0]}, template {EYE_LEFT}"
    assert np.abs(fractions[1] - EYE_RIGHT).max() < tol, f"right eye at {fractions[1]}, template {EYE_RIGHT}"
    assert abs(tilt_degrees(eyes)) < 3.0, f"eyes tilted by {tilt_degrees(eyes):.1f}°"


# ------------------------------------------------------------------------------------------------
# Real photos
# ------------------------------------------------------------------------------------------------

@needs_dlib
def test_astronaut_eyes_land_on_the_ffhq_template(astronaut):
    aligned, info = A.align_face(astronaut, output_size=256)
    assert aligned.size == (256, 256) and aligned.mode == "RGB"
    assert info.landmarks.shape == (68, 2) and info.quad.shape == (4, 2)
    assert info.faces_found >= 1 and 0 <= info.face_index < info.faces_found
    # the face is found in the source where it is: box around (175–265, 76–166)
    left, top, right, bottom = info.boxes[info.face_index]
    assert 150 < left < 200 and 60 < top < 100 and 240 < right < 290 and 140 < bottom < 190
    found = eyes_found_in(aligned)
    assert_at_template(found, 256)
    # the bookkeeping agrees with the pixels: source landmarks mapped through the quad
    assert np.abs(info.eyes - found).max() < 3.0


@needs_dlib
def test_rotated_astronaut_comes_out_level(astronaut):
    rotated = Image.fromarray(astronaut).rotate(20, resample=Image.Resampling.BICUBIC, expand=True,
                                                fillcolor=(128, 128, 128))
    aligned, info = A.align_face(rotated, output_size=256)
    source_eyes = np.stack([info.landmarks[36:42].mean(0), info.landmarks[42:48].mean(0)])
    assert tilt_degrees(source_eyes) == pytest.approx(-20, abs=5), "the input was not tilted as planned"
    assert_at_template(eyes_found_in(aligned), 256)


@needs_dlib
@pytest.mark.parametrize("large_on_right", [True, False])
def test_two_faces_the_larger_is_aligned(astronaut, large_on_right):
    head = Image.fromarray(astronaut[0:260, 80:360])                        # 280 × 260, face ~90 px
    large = head.resize((448, 416), Image.Resampling.LANCZOS)              # face ~145 px
    small = head.resize((168, 156), Image.Resampling.LANCZOS)              # face ~54 px
    canvas = Image.new("RGB", (700, 440), (200, 200, 200))
    large_x, small_x = (700 - 448, 10) if large_on_right else (0, 700 - 168)
    canvas.paste(large, (large_x, 12))
    canvas.paste(small, (small_x, 140))
    aligned, info = A.align_face(canvas, output_size=128)
    assert info.faces_found == 2, f"expected both copies to be detected, got {info.boxes}"
    centre_x = info.landmarks[:, 0].mean()
    assert large_x < centre_x < large_x + 448, "the smaller face was aligned"
    assert any("largest" in note for note in info.notes)
    assert aligned.size == (128, 128)


@needs_dlib
def test_cnn_detector_takes_over_when_hog_finds_nothing(astronaut):
    from PIL import ImageFilter
    blurred = Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(4))
    assert not A.detect_faces(np.asarray(blurred), "hog"), "HOG should miss this face for the test"
    _, sharp = A.align_face(astronaut, output_size=64)
    _, info = A.align_face(blurred, output_size=64)
    assert any("CNN" in note for note in info.notes)
    # the CNN box was mapped back to the right place: landmarks agree with the sharp photo's
    assert np.hypot(*(info.landmarks - sharp.landmarks).T).mean() < 4.0


@needs_dlib
def test_face_at_the_border_is_padded_not_black(astronaut):
    whole, _ = A.align_face(astronaut, output_size=128)
    near_corner = astronaut[50:330, 150:400]                      # the face near the top-left corner
    cropped, info = A.align_face(near_corner, output_size=128)
    lo = info.quad.min(0)
    assert lo[0] < 0 and lo[1] < 0, "the quad should leave the image for this test"
    out = np.asarray(cropped, dtype=np.float64)
    assert out[:8, :8].mean() > 40, "the corner outside the photo came out black"
    centre = slice(32, 96)
    diff = np.abs(out[centre, centre] - np.asarray(whole, dtype=np.float64)[centre, centre]).mean()
    assert diff < 8, f"the face moved when the photo was cropped (mean difference {diff:.1f})"


@needs_dlib
def test_large_photo_is_shrunk_first_and_gives_the_same_crop(astronaut):
    big = Image.fromarray(astronaut).resize((1536, 1536), Image.Resampling.LANCZOS)
    small_result, _ = A.align_face(astronaut, output_size=128)
    big_result, info = A.align_face(big, output_size=128)
    assert np.hypot(*(info.quad[3] - info.quad[0])) > 4 * 128, "the shrink step is not exercised"
    diff = np.abs(np.asarray(big_result, float) - np.asarray(small_result, float))[16:112, 16:112].mean()
    assert diff < 8, f"scale changed the crop (mean difference {diff:.1f})"


@needs_dlib
def test_align_faces_batch_raises_or_skips(astronaut, tmp_path):
    face = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(face)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (96, 96), (90, 90, 90)).save(blank)
    with pytest.warns(UserWarning, match="blank.png"):
        results = A.align_faces([face, blank], output_size=64, errors="skip")
    assert [info.source for _, info in results] == [str(face)]
    with pytest.raises(NoFaceError):
        A.align_faces([face, blank], output_size=64, progress=False)


# ------------------------------------------------------------------------------------------------
# Geometry without dlib: given landmarks
# ------------------------------------------------------------------------------------------------

def synthetic_landmarks(centre, eye_distance, mouth_drop, degrees) -> np.ndarray:
    """68 points with only the ones the recipe reads set: eyes, mouth corners (rotated about centre)."""
    lm = np.zeros((68, 2))
    lm[36:42] = (-eye_distance / 2, 0.0)
    lm[42:48] = (eye_distance / 2, 0.0)
    lm[48] = (-eye_distance / 3, mouth_drop)
    lm[54] = (eye_distance / 3, mouth_drop)
    lm[[0, 1]] = lm[[36, 42]]  # unused points: anything but all-zero
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return lm @ rot.T + centre


def test_face_quad_follows_the_recipe():
    lm = synthetic_landmarks(centre=(300.0, 200.0), eye_distance=40.0, mouth_drop=44.0, degrees=30)
    quad = A.face_quad(lm)
    half = max(2.0 * 40.0, 1.8 * 44.0)
    sides = np.hypot(*(np.roll(quad, -1, 0) - quad).T)
    np.testing.assert_allclose(sides, 2 * half, rtol=1e-9)
    down = np.array([-np.sin(np.radians(30)), np.cos(np.radians(30))])
    np.testing.assert_allclose(quad.mean(0), np.array([300.0, 200.0]) + 0.1 * 44.0 * down, atol=1e-9)
    top_edge = quad[3] - quad[0]
    assert np.degrees(np.arctan2(top_edge[1], top_edge[0])) == pytest.approx(30, abs=1e-6)


def test_given_landmarks_put_marked_eyes_on_the_template():
    """A drawn 'face' tilted by 25°: its marked eye spots must land where the template says."""
    lm = synthetic_landmarks(centre=(210.0, 170.0), eye_distance=60.0, mouth_drop=60.0, degrees=25)
    canvas = np.full((360, 420, 3), 230, np.uint8)
    for (x, y), colour in ((lm[36], (255, 0, 0)), (lm[42], (0, 0, 255))):
        canvas[int(y) - 4:int(y) + 5, int(x) - 4:int(x) + 5] = colour
    aligned, info = A.align_face(canvas, output_size=200, landmarks=lm)
    out = np.asarray(aligned).astype(int)
    assert info.faces_found == 0 and info.face_index == -1
    for colour, template in (((255, 0, 0), EYE_LEFT), ((0, 0, 255), EYE_RIGHT)):
        mask = np.abs(out - colour).sum(2) < 120
        assert mask.sum() > 10, f"spot {colour} not in the output"
        spot = np.argwhere(mask).mean(0)[::-1]  # (x, y)
        np.testing.assert_allclose(spot / 200, template, atol=0.02)
    np.testing.assert_allclose(info.eyes / 200, [EYE_LEFT, EYE_RIGHT], atol=0.01)


@pytest.mark.parametrize("case", ["collapsed", "profile", "upside_mouth", "shape"])
def test_implausible_landmarks_are_refused(case):
    lm = synthetic_landmarks(centre=(100.0, 100.0), eye_distance=40.0, mouth_drop=44.0, degrees=0)
    if case == "collapsed":
        lm[:] = (100.0, 100.0)
    elif case == "profile":       # eyes almost on top of each other, as dlib gives for a profile
        lm = synthetic_landmarks(centre=(100.0, 100.0), eye_distance=8.0, mouth_drop=44.0, degrees=0)
    elif case == "upside_mouth":  # mouth beside the eyes instead of below them
        lm[48], lm[54] = (150.0, 95.0), (150.0, 105.0)
    else:
        lm = lm[:5]
    image = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(LandmarkError, match="landmarks"):
        A.align_face(image, output_size=64, landmarks=lm)


# ------------------------------------------------------------------------------------------------
# Loading: modes, depths, orientation, arrays
# ------------------------------------------------------------------------------------------------

def gradient_rgb(w=64, h=48) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    channels = [xs * 255 // (w - 1), ys * 255 // (h - 1), (xs + ys) * 255 // (w + h - 2)]
    return np.stack(channels, 2).astype(np.uint8)


def test_rgba_transparency_goes_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :20] = (200, 30, 30, 255)        # opaque red
    rgba[:, 20:] = (0, 0, 0, 0)              # transparent, stored as black
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = A.load_image(path)
    out = np.asarray(loaded)
    assert loaded.mode == "RGB" and loaded.size == (40, 40)
    assert (out[:, :20] == (200, 30, 30)).all() and (out[:, 20:] == 255).all()
    assert any("white" in note for note in loaded.info["load_notes"])


def test_grey_and_palette_images_become_rgb(tmp_path):
    grey = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    out = np.asarray(A.load_image(tmp_path / "grey.png"))
    assert out.shape == (48, 64, 3) and all((out[..., c] == grey).all() for c in range(3))

    rgb = gradient_rgb()
    Image.fromarray(rgb).quantize(colors=256).save(tmp_path / "palette.png")
    out = np.asarray(A.load_image(tmp_path / "palette.png")).astype(int)
    assert np.abs(out - rgb).mean() < 6


def test_cmyk_jpeg_loads_as_the_right_colours(tmp_path):
    rgb = gradient_rgb()
    path = tmp_path / "print.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = np.asarray(A.load_image(path)).astype(int)
    assert out.shape == rgb.shape and np.abs(out - rgb).mean() < 4


def test_16_bit_png_scales_to_8_bit(tmp_path):
    levels = np.arange(48 * 64).reshape(48, 64) % 256
    path = tmp_path / "deep.png"
    Image.fromarray((levels * 257).astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(A.load_image(path))
    assert (out[..., 0] == levels).all() and (out[..., 2] == levels).all()
    # the same from an array
    out = np.asarray(A.load_image((levels * 257).astype(np.uint16)))
    assert (out[..., 1] == levels).all()


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((40, 60, 3), np.uint8)      # 60 wide × 40 tall as stored
    stored[:, :] = (20, 20, 200)
    stored[:10, :10] = (220, 20, 20)              # red mark at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6                              # "rotate 90° clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    loaded = A.load_image(path)
    out = np.asarray(loaded).astype(int)
    assert loaded.size == (40, 60)                # now 40 wide × 60 tall
    assert out[2:8, -8:-2, 0].mean() > 150 and out[2:8, 2:8, 2].mean() > 150, "mark not at the top-right"
    assert any("EXIF" in note for note in loaded.info["load_notes"])


def test_arrays_in_every_usual_form():
    rgb = gradient_rgb()
    assert (np.asarray(A.load_image(rgb)) == rgb).all()
    assert (np.asarray(A.load_image(rgb[..., 0]))[..., 1] == rgb[..., 0]).all()
    floats = rgb.astype(np.float32) / 255
    assert np.abs(np.asarray(A.load_image(floats)).astype(int) - rgb).max() <= 1
    assert (np.asarray(A.load_image(Image.fromarray(rgb))) == rgb).all()
    with pytest.raises(ImageLoadError, match=r"\[0, 1\]"):
        A.load_image(floats * 255)
    with pytest.raises(ImageLoadError, match="channels-first"):
        A.load_image(rgb.transpose(2, 0, 1))
    with pytest.raises(ImageLoadError, match="cannot load an image from a list"):
        A.load_image([1, 2, 3])


# ------------------------------------------------------------------------------------------------
# Clear errors
# ------------------------------------------------------------------------------------------------

def assert_clean(err: pytest.ExceptionInfo):
    """One error of ours: no chained Pillow traceback behind it."""
    assert err.value.__cause__ is None and err.value.__suppress_context__, "a Pillow error leaks through"


@needs_dlib
def test_blank_image_says_no_face_and_names_the_file(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("RGB", (128, 128), (240, 240, 240)).save(path)
    with pytest.raises(NoFaceError, match="no face") as err:
        A.align_face(path, output_size=64)
    assert "blank.png" in str(err.value)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "holiday.jpg"
    path.write_text("these are my holiday notes, not a photo\n")
    with pytest.raises(ImageLoadError, match="not an image") as err:
        A.load_image(path)
    assert "holiday.jpg" in str(err.value)
    assert_clean(err)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty") as err:
        A.load_image(empty)
    assert "empty.png" in str(err.value)
    with pytest.raises(ImageLoadError, match="no such file"):
        A.load_image(tmp_path / "nowhere.jpg")


def test_truncated_jpeg(tmp_path):
    full = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(full, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated") as err:
        A.load_image(path)
    assert "cut.jpg" in str(err.value)
    assert_clean(err)


def test_jpeg_with_a_broken_header_is_called_corrupt_not_misnamed(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + np.random.RandomState(2).bytes(3000))
    with pytest.raises(ImageLoadError, match="starts like a JPEG file") as err:
        A.load_image(path)
    assert "broken.jpg" in str(err.value) and "extension" not in str(err.value)
    assert_clean(err)


def test_tiny_image_is_refused(tmp_path):
    path = tmp_path / "icon.png"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    with pytest.raises(ImageLoadError, match="at least 32 px") as err:
        A.load_image(path)
    assert "icon.png" in str(err.value) and "alignment" not in str(err.value)
    with pytest.raises(ImageLoadError, match="alignment needs at least 32 px"):
        A.load_image(path, for_alignment=True)


def test_huge_jpeg_is_downscaled_on_load(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (9000, 9000), (120, 130, 140)).save(path, quality=50)
    start = time.perf_counter()
    loaded = A.load_image(path)
    assert loaded.size == (A.MAX_SIDE, A.MAX_SIDE)
    assert any("downscaled from 9000×9000" in note for note in loaded.info["load_notes"])
    assert np.abs(np.asarray(loaded)[::500, ::500].astype(int) - (120, 130, 140)).max() <= 3
    assert time.perf_counter() - start < 20


def test_decompression_bombs_are_refused_or_drafted(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)     # 10 000 px is now the hard limit
    png = tmp_path / "bomb.png"
    Image.new("RGB", (200, 200), (1, 2, 3)).save(png)
    with pytest.raises(ImageLoadError, match="too large to decode safely") as err:
        A.load_image(png)
    assert "bomb.png" in str(err.value) and "MAX_IMAGE_PIXELS" in str(err.value)
    assert_clean(err)
    # a JPEG can still be read: libjpeg decodes it at 1/4 scale, under the limit
    jpeg = tmp_path / "big.jpg"
    Image.new("RGB", (400, 400), (1, 2, 3)).save(jpeg)
    loaded = A.load_image(jpeg, max_side=100)
    assert loaded.size == (100, 100)
    assert any("reduced scale" in note for note in loaded.info["load_notes"])


# ------------------------------------------------------------------------------------------------
# Dependencies
# ------------------------------------------------------------------------------------------------

def test_import_is_light_and_needs_no_dlib():
    code = ("import sys, time; t = time.perf_counter(); import helpers.alignment; "
            "print(time.perf_counter() - t, 'dlib' in sys.modules, 'scipy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, dlib_loaded, scipy_loaded = done.stdout.split()
    assert float(seconds) < 2.0 and dlib_loaded == "False" and scipy_loaded == "False"


def test_missing_dlib_gives_one_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)            # makes `import dlib` fail
    with pytest.raises(AlignmentDependencyError, match="pip install dlib-bin face_recognition_models"):
        A.align_face(np.full((64, 64, 3), 128, np.uint8), output_size=32)
    with pytest.raises(AlignmentDependencyError, match="pip install dlib-bin face_recognition_models"):
        A._model_file("no_such_model.dat")


def test_a_clip_is_aligned_without_jitter_and_frames_without_a_face_are_filled(astronaut):
    """A still photo shaken by a few pixels is one face: smoothed landmarks cut nearly the same
    crop from every frame, and a blank frame in the middle takes its neighbours' landmarks."""
    shifts = [(0, 0), (3, -2), (-2, 3), (2, 1), (-3, -1)]
    frames = [np.roll(astronaut, s, axis=(0, 1)) for s in shifts]
    frames[2] = np.full_like(astronaut, 128)
    aligned, notes = A.align_clip(frames, output_size=64, smooth=1.0, detector="hog")
    assert len(aligned) == 5 and all(a.size == (64, 64) for a in aligned)
    assert any("frame(s) [2]" in n for n in notes)
    first, last = (np.asarray(a, dtype=np.float32) for a in (aligned[0], aligned[4]))
    assert np.abs(first - last).mean() < 20
    with pytest.raises(A.NoFaceError, match="any of the clip's 2 frames"):
        A.align_clip([frames[2], frames[2]], output_size=64, detector="hog")
    with pytest.raises(ValueError, match="smooth"):
        A.align_clip(frames, smooth=-1)
