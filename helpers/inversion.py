"""Inversion: find the W+ code whose image matches a given image.

Taught in ``notebooks/02_inversion.ipynb``. Optimisation-based inversion starts from a code (the
average, or an encoder's guess) and descends a pixel + feature loss. A penalty on how far the W+
entries spread apart keeps the code near W — close codes edit better (the distortion–editability
trade-off of e4e, Tov et al. 2021).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .device import Chunks, batch_gradient
from .progress import bar


@dataclass
class InversionResult:
    """``codes`` [n, num_ws, d]; ``pixel_error`` [n] final mean squared error; ``history`` loss per step."""

    codes: torch.Tensor
    pixel_error: torch.Tensor
    history: list


def check_images(images, size: int) -> torch.Tensor:
    """Validate a batch [n, 3, size, size] in [-1, 1]; a clear error otherwise."""
    if not torch.is_tensor(images) or images.dim() != 4:
        raise ValueError(f"expected an image batch [n, 3, {size}, {size}], got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    if images.shape[1] != 3:
        raise ValueError(f"expected 3 colour channels, got {images.shape[1]}: convert grayscale or RGBA "
                         "images to RGB first (world.preprocess does it)")
    if images.shape[-2:] != (size, size):
        raise ValueError(f"expected {size}×{size} images, got {images.shape[-2]}×{images.shape[-1]}: "
                         "resize first (world.preprocess does it)")
    if images.min() < -1.01 or images.max() > 1.01:
        raise ValueError("images must be scaled to [-1, 1]")
    return images


def spread_penalty(ws: torch.Tensor) -> torch.Tensor:
    """Σ over entries of ‖w_i − mean_i w‖², per code [n]: 0 for a code in W."""
    return (ws - ws.mean(1, keepdim=True)).pow(2).sum([1, 2])


def invert(world, images: torch.Tensor, init: torch.Tensor | None = None, steps: int = 300,
           lr: float = 0.03, spread_weight: float = 0.0, feature_fn: Callable | None = None,
           feature_weight: float = 1.0, progress: bool = True) -> InversionResult:
    """Optimise W+ codes for a batch of images (all at once, or on a GPU in chunks that fit its
    memory: :class:`helpers.device.Chunks`; each code only sees its own image).

    ``init``: starting codes [n, num_ws, d] (default: the average code). ``feature_fn`` maps images
    to features compared with MSE (e.g. the synthfaces meter's features); ``spread_weight`` pulls
    the entries of each code together.
    """
    g = world.generator
    images = check_images(images, world.resolution).to(world.device)
    n = len(images)
    if init is None:
        init = world.latent_avg.reshape(1, 1, -1).expand(n, world.num_ws, -1)
    ws = init.detach().clone().to(world.device).requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr)
    chunks = Chunks(world.device)            # on a GPU: as many images at once as memory holds
    with torch.no_grad():
        target_feat = (None if feature_fn is None else
                       torch.cat(chunks.map(lambda rows: feature_fn(images[rows]), n)))
    pixel = torch.zeros(n, device=world.device)

    def loss_of(codes, rows):               # per image: the images' losses never mix
        out = g.synthesis(codes)
        loss = (out - images[rows]).pow(2).mean([1, 2, 3])
        pixel[rows] = loss.detach()
        if target_feat is not None:
            loss = loss + feature_weight * (feature_fn(out) - target_feat[rows]).pow(2).mean(1)
        if spread_weight:
            loss = loss + spread_weight * spread_penalty(codes)
        return loss

    history = []
    for step in bar(range(steps), desc="inverting", enabled=progress):
        # cosine decay keeps the last steps small, as in the StyleGAN2 projector
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + torch.cos(torch.tensor(step / steps * torch.pi))).item()
        if chunks.active:
            ws.grad = batch_gradient(loss_of, ws, chunks)
        else:                                # one batch, one backward pass (the CPU's path)
            opt.zero_grad(set_to_none=True)
            loss_of(ws, slice(None)).sum().backward()
        opt.step()
        history.append(pixel.mean().item())

    @torch.no_grad()
    def final_of(rows):
        return (g.synthesis(ws[rows]) - images[rows]).pow(2).mean([1, 2, 3])

    final = torch.cat(chunks.map(final_of, n))
    return InversionResult(ws.detach(), final.cpu(), history)



@torch.no_grad()
def reconstruction_error(world, images: torch.Tensor, codes: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Root-mean-square pixel error [n] (images in [-1, 1]) between images and the world's
    rendering of their codes: how well the world can draw each image at all."""
    out = []
    for i in range(0, len(images), batch):
        drawn = world.synthesize(codes[i:i + batch], batch=batch).clamp(-1, 1).cpu()
        out.append((drawn - images[i:i + batch].cpu()).pow(2).mean((1, 2, 3)).sqrt())
    return torch.cat(out)


def unrepresentable(world, images: torch.Tensor, codes: torch.Tensor) -> list[tuple[int, float]]:
    """``(index, error)`` of the images a world cannot draw: reconstruction error above the bound
    measured on its own renders (``world.reconstruction_bound``; none where it has no bound)."""
    bound = getattr(world, "reconstruction_bound", None)
    if not bound:
        return []
    errors = reconstruction_error(world, images, codes).tolist()
    return [(k, e) for k, e in enumerate(errors) if e > bound["threshold"]]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-correct resize of a batch to ``size`` px (antialiased)."""
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
