"""Pictures for the book: image grids, labelled strips, GIF/MP4 files.

Images are tensors [n, 3, H, W] in [-1, 1]; they are clamped, never min-max normalised per frame
(the paper's code rescales every frame on its own, which makes videos flicker).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def to_uint8(images) -> np.ndarray:
    """[n, 3, H, W] in [-1, 1] → uint8 array [n, H, W, 3] (clamped)."""
    import torch
    x = images.detach().float().cpu() if torch.is_tensor(images) else torch.as_tensor(images)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def grid(images, nrow: int, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile images row by row, ``nrow`` per row → uint8 [H', W', 3]."""
    arr = to_uint8(images)
    n, h, w, _ = arr.shape
    rows = int(np.ceil(n / nrow))
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), pad_value, np.uint8)
    for i, im in enumerate(arr):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return out


def show_grid(images, nrow: int, title: str | None = None, row_labels: Sequence[str] | None = None,
              col_labels: Sequence[str] | None = None, scale: float = 1.0, ax=None):
    """Show a grid with optional row/column labels; returns the matplotlib axes."""
    import matplotlib.pyplot as plt
    img = grid(images, nrow)
    n = len(images)
    rows = int(np.ceil(n / nrow))
    if ax is None:
        _, ax = plt.subplots(figsize=(scale * max(4, 1.1 * nrow), scale * max(1.4, 1.1 * rows) + 0.4))
    ax.imshow(img, interpolation="nearest")
    h = (img.shape[0] - 1) / rows
    w = (img.shape[1] - 1) / nrow
    ax.set_xticks([w * (i + 0.5) for i in range(nrow)] if col_labels else [])
    ax.set_yticks([h * (i + 0.5) for i in range(rows)] if row_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels, fontsize=8)
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def video_upscale(resolution: int) -> int:
    """How much :func:`save_mp4` enlarges frames: small worlds' videos are shown at ≥ 256 px,
    1024 px ones as they are."""
    return max(1, 256 // resolution)


def edit_bytes(n_images: int, frames: int, resolution: int, formats=("mp4", "gif", "png")) -> int:
    """Memory an edit's frames and their encodings take at once (bytes), to check up front."""
    per_frame = 3 * resolution ** 2 * 4 * 2                  # float frames, and their concatenation
    if "mp4" in formats:
        per_frame += 3 * (resolution * video_upscale(resolution)) ** 2 * 2   # uint8 frames + a copy
    if "gif" in formats:
        per_frame += 3 * resolution ** 2 * 2 * 2             # forth and back, uint8 and a copy
    return n_images * frames * per_frame


def save_gif(frames, path, fps: int = 15, loop: int = 0) -> Path:
    """Frames [T, 3, H, W] in [-1, 1] → animated GIF, written atomically."""
    import imageio.v3 as iio
    from .files import atomic_write
    arr = to_uint8(frames)
    return atomic_write(path, lambda f: f.write(iio.imwrite("<bytes>", arr, extension=".gif",
                                                            duration=1000 / fps, loop=loop)))


def save_mp4(frames, path, fps: int = 30, upscale: int = 1) -> Path:
    """Frames [T, 3, H, W] in [-1, 1] → H.264 MP4 (imageio-ffmpeg), written atomically."""
    from .files import atomic_write
    arr = to_uint8(frames)
    if upscale > 1:
        arr = arr.repeat(upscale, 1).repeat(upscale, 2)
    pad_h, pad_w = (-arr.shape[1]) % 16, (-arr.shape[2]) % 16  # codec block size
    if pad_h or pad_w:
        arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return atomic_write(path, lambda f: f.write(_mp4_bytes(arr, fps)))


def _mp4_bytes(arr: np.ndarray, fps: int) -> bytes:
    import tempfile
    import imageio
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        writer = imageio.get_writer(out, fps=fps, codec="libx264", quality=8, macro_block_size=16,
                                    pixelformat="yuv420p")
        for frame in arr:
            writer.append_data(frame)
        writer.close()
        return out.read_bytes()


def gif_html(frames, fps: int = 10, width: int = 192) -> str:
    """An ``<img>`` tag with the GIF inlined (base64), so pages carry their animations."""
    import base64
    import imageio.v3 as iio
    data = iio.imwrite("<bytes>", to_uint8(frames), extension=".gif", duration=1000 / fps, loop=0)
    return (f'<img src="data:image/gif;base64,{base64.b64encode(data).decode()}" width="{width}" '
            f'style="image-rendering: pixelated" alt="animation">')


def explorer(world, directions: dict, n_identities: int = 100, alpha_range=(-2.0, 2.0), seed: int = 10_000):
    """An ipywidgets explorer: identity (a seed), micromotion, α and layer-group controls over
    ``directions`` ({micromotion: direction [num_ws, d]}); shows the original and the edit, and in
    synthfaces the meter's reading of the target factor. Live in Jupyter/Colab only (it calls the
    generator)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from .latent_spaces import layer_choices, restrict_to_layers
    from .transfer import render_edit
    groups = layer_choices(world.num_ws, world.resolution)

    def show(identity=0, micromotion=next(iter(directions)), alpha=1.0, layers="all"):
        code = world.sample_wplus(1, seed=seed + identity)
        direction = restrict_to_layers(directions[micromotion], groups[layers])
        frames = render_edit(world, code, direction, [0.0, alpha], progress=False)[0]
        where = "" if layers == "all" else f" ({layers} layers)"
        show_grid(frames, nrow=2, col_labels=["original", f"{micromotion}{where}, α = {alpha:+.2f}"])
        if world.meter is not None:
            from .worlds.synthfaces.renderer import factor_index
            f = world.measure(frames)[:, factor_index(micromotion)]
            plt.suptitle(f"measured {micromotion}: {f[0]:.2f} → {f[1]:.2f}", fontsize=9)
        plt.show()

    return widgets.interactive(show, identity=widgets.IntSlider(0, 0, n_identities - 1),
                               micromotion=widgets.Dropdown(options=list(directions)),
                               alpha=widgets.FloatSlider(value=1.0, min=alpha_range[0], max=alpha_range[1], step=0.1),
                               layers=widgets.Dropdown(options=list(groups)))
