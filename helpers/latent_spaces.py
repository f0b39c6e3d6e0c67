"""Z, W and W+: where each W+ entry acts, style mixing, truncation sweeps.

Taught in ``notebooks/01_generator.ipynb``.
"""
from __future__ import annotations

import numpy as np
import torch

#: StyleGAN's naming of synthesis resolutions (Karras et al. 2019, §3.1).
GROUPS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1024)}


def ws_resolution(index: int, size: int) -> int:
    """Resolution StyleGAN assigns to W+ entry ``index``: two entries per resolution from 4 px."""
    return min(size, 2 ** (2 + index // 2))


def layer_groups(num_ws: int, size: int) -> dict[str, list[int]]:
    """W+ entries of the coarse (4–8 px), middle (16–32 px) and fine (≥ 64 px) layers."""
    out = {name: [] for name in GROUPS}
    for i in range(num_ws):
        r = ws_resolution(i, size)
        for name, (lo, hi) in GROUPS.items():
            if lo <= r <= hi:
                out[name].append(i)
    return out


def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, layers) -> torch.Tensor:
    """W+ of A [n, num_ws, d] with the entries ``layers`` taken from B (broadcast over n)."""
    out = ws_a.clone()
    idx = list(layers)
    out[:, idx] = ws_b.expand_as(ws_a)[:, idx]
    return out


def restrict_to_layers(direction: torch.Tensor, layers) -> torch.Tensor:
    """A W+ direction [num_ws, d] kept on the entries ``layers`` and zero elsewhere: the part of an
    edit that acts through those layers only."""
    out = torch.zeros_like(direction)
    idx = list(layers)
    out[idx] = direction[idx]
    return out


def truncation_sweep(w: torch.Tensor, centre: torch.Tensor, psis) -> torch.Tensor:
    """One code w [1, d] pulled toward ``centre`` for each ψ → [len(psis), d]."""
    psi = torch.as_tensor(np.asarray(psis, dtype=np.float32), device=w.device)[:, None]
    return centre.reshape(1, -1) + psi * (w.reshape(1, -1) - centre.reshape(1, -1))


def excess_kurtosis(x: torch.Tensor) -> torch.Tensor:
    """Per-coordinate excess kurtosis of samples x [n, d] (0 for a Gaussian)."""
    x = x - x.mean(0)
    return (x.pow(4).mean(0) / x.pow(2).mean(0).pow(2)) - 3
