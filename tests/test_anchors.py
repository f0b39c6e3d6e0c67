"""Reading clips for video anchors, and the parameter-keyed cache."""
import numpy as np
import pytest
import torch
from PIL import Image

from helpers import anchors, clips


def _frames(n=4, size=40):
    rng = np.random.RandomState(0)
    return [(rng.rand(size, size + 8, 3) * 255).astype(np.uint8) for _ in range(n)]


def test_folder_video_and_array_give_the_same_frames(tmp_path):
    frames = _frames()
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i:03d}.png")
    (folder / "notes.txt").write_text("not a frame")
    from_folder = clips.read_frames(folder)
    from_array = clips.read_frames(np.stack(frames))
    assert len(from_folder) == len(from_array) == 4
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(from_folder, from_array))
    import imageio.v3 as iio
    iio.imwrite(tmp_path / "clip.gif", np.stack(frames), extension=".gif")
    assert len(clips.read_frames(tmp_path / "clip.gif")) == 4
    batch = clips.to_tensor(from_folder, 32)
    assert batch.shape == (4, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1


def test_long_clips_are_subsampled_evenly():
    assert len(clips.read_frames(np.stack(_frames(30, 40)), max_frames=7)) == 7


def test_bad_clips_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video"):
        clips.read_frames(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        clips.read_frames(tmp_path / "empty")
    with pytest.raises(ValueError, match="at least 2 frames"):
        clips.read_frames(np.stack(_frames(1)))
    (tmp_path / "clip.mp4").write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="could not be read as a video"):
        clips.read_frames(tmp_path / "clip.mp4")
    (tmp_path / "clip.doc").write_bytes(b"x")
    with pytest.raises(ValueError, match="neither a folder"):
        clips.read_frames(tmp_path / "clip.doc")


def test_cache_key_tracks_every_parameter():
    t = torch.zeros(2, 3)
    k = anchors.cache_key(a=1, frames=t)
    assert k == anchors.cache_key(frames=t.clone(), a=1)
    assert k != anchors.cache_key(a=2, frames=t)
    assert k != anchors.cache_key(a=1, frames=t + 1e-3)


def test_cached_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"anchors": torch.ones(2)}

    a = anchors.cached("video", "k1", compute)
    b = anchors.cached("video", "k1", compute)
    assert len(calls) == 1 and torch.equal(a["anchors"], b["anchors"])
    assert (tmp_path / "anchors" / "video" / "k1.pt").exists()
    anchors.cached("video", "k1", compute, use_cache=False)
    assert len(calls) == 2
