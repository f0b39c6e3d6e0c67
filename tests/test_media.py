"""Pictures for the book: clamping (not per-frame rescaling), grids, GIF/MP4 files, the explorer."""
import base64

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers import media, worlds  # noqa: E402
from helpers.directions import builtin_direction  # noqa: E402


def frames(n=6, size=32):
    """A moving bright square on a mid-grey field: few colours, so a GIF stores them exactly."""
    x = torch.full((n, 3, size, size), -0.2)
    for t in range(n):
        x[t, :, 8:16, 4 + 3 * t: 12 + 3 * t] = 1.0
    return x


def test_to_uint8_clamps_and_never_rescales_per_frame():
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 7.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert media.to_uint8(x)[0, 0, :, 0].tolist() == [0, 0, 128, 191, 255, 255]
    dim = torch.full((1, 3, 4, 4), -0.5)
    dim[..., 0, 0] = 0.5
    assert set(media.to_uint8(dim).ravel().tolist()) == {64, 191}   # not stretched to 0..255


def test_grid_places_images_row_by_row():
    imgs = torch.stack([torch.full((3, 4, 5), v) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)])
    g = media.grid(imgs, nrow=3, pad=1, pad_value=7)
    assert g.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    assert (g[6:10, 1:6] == 191).all() and (g[6:10, 7:12] == 255).all()   # images 3, 4: row 1
    assert (g[6:10, 13:18] == 7).all() and (g[0] == 7).all()               # the empty slot, the padding


def test_gif_and_mp4_files_hold_the_frames(tmp_path):
    x = frames()
    gif = iio.imread(media.save_gif(x, tmp_path / "a.gif", fps=10), index=None)
    assert gif.shape[0] == 6 and np.array_equal(gif[..., :3], media.to_uint8(x))
    mp4 = _read_mp4(media.save_mp4(x, tmp_path / "a.mp4", fps=10, upscale=2))
    assert mp4.shape[0] == 6 and mp4.shape[1] % 16 == 0 and mp4.shape[2] % 16 == 0
    want = media.to_uint8(x).repeat(2, 1).repeat(2, 2)
    assert np.abs(mp4[:, :64, :64].astype(int) - want).mean() < 6          # lossy, but the same video
    html = media.gif_html(x, fps=10)
    data = base64.b64decode(html.split("base64,")[1].split('"')[0])
    assert iio.imread(data, index=None, extension=".gif").shape[0] == 6


def _read_mp4(path):
    import imageio_ffmpeg
    decoded = imageio_ffmpeg.read_frames(str(path))
    w, h = next(decoded)["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in decoded])


def test_show_grid_labels_rows_and_columns():
    ax = media.show_grid(frames(4), nrow=2, title="t", row_labels=["a", "b"], col_labels=["x", "y"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"] and ax.get_title() == "t"
    plt.close("all")


def test_explorer_edits_and_reports_the_meter():
    pytest.importorskip("ipywidgets")
    world = worlds.load("synthfaces", device="cpu")
    directions = {"yaw": builtin_direction(world, "yaw", progress=False)[0]}
    ui = media.explorer(world, directions, n_identities=5)
    names = [c.description for c in ui.children[:-1]]
    assert names == ["identity", "micromotion", "alpha", "layers"]

    def reading():
        title = plt.gcf()._suptitle.get_text()
        assert title.startswith("measured yaw")
        before, after = (float(v) for v in title.split(": ")[1].split(" → "))
        plt.close("all")
        return after - before

    ui.children[2].value = 2.0                      # moving the α slider re-renders: the head turns
    assert reading() > 0.3
    ui.children[3].value = "fine"                   # head turn lives in the coarse layers, not these
    assert abs(reading()) < 0.05

