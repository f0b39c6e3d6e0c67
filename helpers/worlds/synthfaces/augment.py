"""Differentiable augmentation of the discriminator's input (Zhao et al. 2020, "DiffAugment").

The same random colour shift, translation and cutout is drawn per image for every image D sees,
real or generated, in D's step and in G's, so D cannot tell the two apart by augmentation and G's
gradient flows through it. It helps where D overfits a small dataset; the synthfaces renderer
never runs out of images, so #25 measures whether it moves the GAN's plateau anyway.
"""
from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color,translation"`` → ``("color", "translation")``; ``""`` → no augmentation."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}: choose from {', '.join(POLICIES)}")
    return names


def _color(x, gen):
    n = x.shape[0]
    r = lambda: torch.rand(n, 1, 1, 1, generator=gen).to(x.device)     # noqa: E731
    x = x + (r() - 0.5)                                                # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r() * 2) + mean                                  # saturation
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (r() + 0.5) + mean                             # contrast


def _translation(x, gen, ratio=0.125):
    """Shift by up to ``ratio`` of the side, filling with zeros (mid-grey in [-1, 1])."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n,), generator=gen)
    dx = torch.randint(-sw, sw + 1, (n,), generator=gen)
    padded = torch.nn.functional.pad(x, [sw, sw, sh, sh])
    rows = (torch.arange(h)[None, :] + dy[:, None] + sh).to(x.device)     # n × h
    cols = (torch.arange(w)[None, :] + dx[:, None] + sw).to(x.device)     # n × w
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x, gen, ratio=0.5):
    """Zero one square of ``ratio`` of the side at a random place in each image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen)
    ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = ((ys - cy).abs() <= ch // 2) & ((xs - cx).abs() <= cw // 2)
    return x * (~inside).to(x.dtype).to(x.device)[:, None]


def augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """``x`` (N×C×H×W in [-1, 1]) with each transform of ``policy`` applied, differentiably;
    the random draws come from the CPU generator ``gen`` so a run replays on any device."""
    for name in policy:
        x = {"color": _color, "translation": _translation, "cutout": _cutout}[name](x, gen)
    return x
