"""A clip's frames: a video file, a folder of frames or an array → the frames a direction needs.

Anchors need few frames (64 at most), spread evenly over the clip. A video is decoded as a stream
and the chosen frames kept as they pass, so a long clip never sits in memory whole (a minute of
1080p is ~11 GB decoded; ``bench/clip_memory.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .images import VIDEO_SUFFIXES, InputError, list_images, load_image, square_resize


def read_frames(source, max_frames: int = 64) -> list:
    """Frames from a video file, a folder of images, a list of paths/arrays, or an array [T, H, W, 3].

    Returns a list of PIL images in the clip's order (folders sorted by file name).
    """
    loaded = False
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such video file or folder of frames")
        if path.is_dir():
            source = list_images(path)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            source, loaded = _sampled_video_frames(path, max_frames), True   # sampled and loaded
        else:
            raise InputError(f"{path} is neither a folder of frames nor a video ({', '.join(VIDEO_SUFFIXES)})")
    if isinstance(source, np.ndarray) and source.ndim == 4:
        source = list(source)
    frames = list(source)
    if len(frames) < 2:
        raise InputError(f"a clip needs at least 2 frames to anchor a motion, got {len(frames)}")
    if len(frames) > max_frames:  # anchors need few frames: sample evenly
        idx = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in idx]
    if not loaded:
        frames = [load_image(f) for f in frames]
    return frames


def _sampled_video_frames(path: Path, max_frames: int) -> list:
    """``max_frames`` frames spread evenly over a video, decoded as a stream: one pass counts the
    frames (ffmpeg decodes and drops them), a second keeps only the chosen ones, so memory holds
    the kept frames, not the clip (a minute of 1080p is ~11 GB decoded)."""
    import imageio_ffmpeg

    def unreadable(err):
        return InputError(f"{path} could not be read as a video ({type(err).__name__}: "
                          f"{str(err).strip().splitlines()[-1] if str(err).strip() else 'no frames'})")

    try:
        total = imageio_ffmpeg.count_frames_and_secs(str(path))[0]
    except Exception as err:  # noqa: BLE001 - ffmpeg's failures come as several exception types
        raise unreadable(err) from None
    keep = set(np.linspace(0, total - 1, min(total, max_frames)).round().astype(int).tolist()) if total else set()
    frames = []
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        width, height = next(reader)["size"]
        for i, raw in enumerate(reader):
            if i in keep:
                frames.append(load_image(Image.frombytes("RGB", (width, height), raw)))
    except Exception as err:  # noqa: BLE001
        raise unreadable(err) from None
    finally:
        reader.close()
    return frames


def to_tensor(images, size: int):
    """PIL images → batch [n, 3, size, size] in [-1, 1] (Lanczos resize of a centre square crop)."""
    import torch
    return torch.stack([square_resize(im, size) for im in images])
