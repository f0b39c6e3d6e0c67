"""Z, W and W+: where each W+ entry acts, style mixing, truncation sweeps, edits kept on some layers.

Taught in ``notebooks/01_generator.ipynb``; which layers carry each micromotion's edit in
``notebooks/09_ablations.ipynb``.
"""
from __future__ import annotations

import re

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


def layer_choices(num_ws: int, size: int) -> dict[str, list[int]]:
    """Where an edit can be kept: "all" entries, then each layer group of :func:`layer_groups`."""
    return {"all": list(range(num_ws)), **layer_groups(num_ws, size)}


def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, layers) -> torch.Tensor:
    """W+ of A [n, num_ws, d] with the entries ``layers`` taken from B (broadcast over n)."""
    out = ws_a.clone()
    idx = list(layers)
    out[:, idx] = ws_b.expand_as(ws_a)[:, idx]
    return out


def _is_entry(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²' or '٣', which ``int`` then refuses."""
    return re.fullmatch(r"[0-9]+", text) is not None


def parse_layers(spec: str, num_ws: int, size: int) -> list[int]:
    """W+ entries named by ``spec``: group names and entries or ranges, comma-separated
    ("middle", "coarse,fine", "0-3,8") → sorted indices; anything unknown is a clear ValueError."""
    groups = layer_groups(num_ws, size)
    chosen = set()
    for part in (p.strip() for p in str(spec).split(",")):
        if part in groups:
            chosen.update(groups[part])
            continue
        lo, sep, hi = part.partition("-")
        if not (_is_entry(lo) and (_is_entry(hi) if sep else True)):
            raise ValueError(f"layers {spec!r}: {part!r} is neither a group ({', '.join(groups)}) nor a W+ entry "
                             f"or range like 0-3 (this world's entries are 0-{num_ws - 1})")
        first, last = int(lo), int(hi) if sep else int(lo)
        if first > last:
            raise ValueError(f"layers {spec!r}: {part!r} is an empty range; write the smaller entry first")
        if last >= num_ws:
            raise ValueError(f"layers {spec!r}: {part!r} is outside this world's W+ entries 0-{num_ws - 1}")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


def format_layers(indices) -> str:
    """W+ entries as :func:`parse_layers` reads them: [0, 1, 2, 3, 8] → "0-3,8"."""
    runs = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def restrict_to_layers(direction: torch.Tensor, layers) -> torch.Tensor:
    """A W+ direction [..., num_ws, d] kept on the entries ``layers`` and zero elsewhere: the part of
    an edit that acts through those layers only."""
    out = torch.zeros_like(direction)
    idx = list(layers)
    out[..., idx, :] = direction[..., idx, :]
    return out


def truncation_sweep(w: torch.Tensor, centre: torch.Tensor, psis) -> torch.Tensor:
    """One code w [1, d] pulled toward ``centre`` for each ψ → [len(psis), d]."""
    psi = torch.as_tensor(np.asarray(psis, dtype=np.float32), device=w.device)[:, None]
    return centre.reshape(1, -1) + psi * (w.reshape(1, -1) - centre.reshape(1, -1))


def excess_kurtosis(x: torch.Tensor) -> torch.Tensor:
    """Per-coordinate excess kurtosis of samples x [n, d] (0 for a Gaussian)."""
    x = x - x.mean(0)
    return (x.pow(4).mean(0) / x.pow(2).mean(0).pow(2)) - 3
