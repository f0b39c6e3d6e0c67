"""Transfer: apply one identity's edit direction to any W+ code and render the edit as frames.

Taught in ``notebooks/08_transfer.ipynb``. The paper's edit is affine: ``w(α) = w + α · Δ``. Frames
are rendered in batches and clamped to [−1, 1] (the released code min-max normalises each frame on
its own, which makes videos flicker).
"""
from __future__ import annotations

import numpy as np
import torch

from .progress import bar


def transfer(w_target: torch.Tensor, direction: torch.Tensor, alphas) -> torch.Tensor:
    """Codes along the edit: ``w + α Δ`` for each α → [n, len(alphas), num_ws, d].

    ``w_target``: [num_ws, d] or [n, num_ws, d]; ``direction``: [num_ws, d] or [1, num_ws, d].
    """
    w = w_target[None] if w_target.dim() == 2 else w_target
    d = direction.reshape(w.shape[1:]) if direction.numel() == w[0].numel() else None
    if d is None:
        raise ValueError(f"direction of shape {tuple(direction.shape)} does not fit codes of shape "
                         f"{tuple(w.shape[1:])}: it was made in another world or space")
    a = torch.as_tensor(np.asarray(alphas, dtype=np.float32), device=w.device, dtype=w.dtype)
    return w[:, None] + a[None, :, None, None] * d.to(w)[None, None]


def render_edit(world, w_target: torch.Tensor, direction: torch.Tensor, alphas, batch: int = 32,
                progress: bool = True) -> torch.Tensor:
    """Frames of the edit → [n, len(alphas), 3, H, W] in [−1, 1], rendered ``batch`` codes at a time."""
    codes = transfer(w_target, direction, alphas)
    n, t = codes.shape[:2]
    flat = codes.reshape(n * t, *codes.shape[2:])
    out = []
    steps = range(0, len(flat), batch)
    for i in bar(steps, desc="rendering", enabled=progress and len(steps) >= 4):
        out.append(world.synthesize(flat[i:i + batch], batch=batch))
    return torch.cat(out).reshape(n, t, *out[0].shape[1:])
