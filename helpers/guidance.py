"""Guidance losses of the paper's latent optimisation: the CLIP loss and the identity loss.

Taught in ``notebooks/03_text_anchors.ipynb``. Both work with any model that has the interface of the
`clip` package's ``CLIP`` (the real ViT-B/32 or the synthfaces one) and any identity embedding
(ArcFace for FFHQ, the factor meter's identity head for synthfaces).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_image_input(images: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    """The paper's CLIP input: upsample ×7 (nearest), average-pool down to the model's input size
    (224 px for ViT-B/32); no normalisation."""
    size = images.shape[-1]
    up = F.interpolate(images, scale_factor=7, mode="nearest")
    k = size * 7 // resolution
    if k > 1:
        up = F.avg_pool2d(up, k)
    if up.shape[-1] != resolution:
        up = F.interpolate(up, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return up


def clip_loss(model, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``1 − logits_per_image / 100`` for matching pairs (image i with text i, or all with one text) → [n]."""
    logits_per_image, _ = model(clip_image_input(images, model.visual.input_resolution), tokens.to(images.device))
    if tokens.shape[0] == 1:
        return 1 - logits_per_image[:, 0] / 100
    return 1 - logits_per_image.diagonal() / 100


def identity_loss(embed, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``1 − cos(embed(images), embed(reference))`` per image [n] (reference [n or 1, 3, H, W])."""
    a = embed(images)
    with torch.no_grad():
        b = embed(reference)
    return 1 - F.cosine_similarity(a, b.expand_as(a), dim=1)
