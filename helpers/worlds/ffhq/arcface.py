"""ArcFace IR-SE50: the identity embedding of the paper's identity loss (and of pSp/StyleCLIP).

Taught in ``notebooks/03_text_anchors.ipynb``. TreB1eN's ``Backbone(50, drop_ratio, 'ir_se')``:
the IR-SE50 trunk on a 112 px face, then BN → dropout → flatten → linear (512·7·7 → 512) → BN,
l2-normalised. The layer names match ``model_ir_se50.pth`` so it loads unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...checkpoints import load_state_checked, read_checkpoint
from .irse import build_without_init, input_layer, ir_se50_body

ARCFACE_SIZE = 112
# pSp's IDLoss: crop the inner face of a 256 px FFHQ-aligned image (rows 35:223, columns 32:220).
FACE_ROWS, FACE_COLS = slice(35, 223), slice(32, 220)


class ArcFace(nn.Module):
    """Face [n, 3, 112, 112] in [-1, 1] → unit-length identity embedding [n, 512]."""

    def __init__(self, drop_ratio: float = 0.6):
        super().__init__()
        self.input_layer = input_layer(3)
        self.body = ir_se50_body()
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
            nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512))

    def forward(self, faces):
        return F.normalize(self.output_layer(self.body(self.input_layer(faces))), dim=1)


def arcface_input(images: torch.Tensor) -> torch.Tensor:
    """Aligned images [n, 3, H, W] in [-1, 1] → ArcFace input [n, 3, 112, 112].

    As StyleCLIP/pSp do: average-pool to 256 px (if not already), crop the inner face, average-pool
    the 188 px crop to 112 px.
    """
    if images.shape[-2:] != (256, 256):
        images = F.adaptive_avg_pool2d(images, 256)
    return F.adaptive_avg_pool2d(images[:, :, FACE_ROWS, FACE_COLS], ARCFACE_SIZE)


def identity_embedding(model: ArcFace, images: torch.Tensor) -> torch.Tensor:
    """Identity embeddings [n, 512] (unit length) of aligned images [n, 3, H, W] in [-1, 1].

    Differentiable in ``images``: the paper's identity loss is ``1 − cos`` of two of these.
    """
    return model(arcface_input(images.to(next(model.parameters()).device)))


def load_arcface(path, device="cpu") -> ArcFace:
    """Load TreB1eN's ``model_ir_se50.pth`` (a bare state dict) → ArcFace in eval mode, frozen.

    Raises ``ValueError`` naming any missing, unexpected or mis-shaped key.
    """
    state = read_checkpoint(path)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path} is not a bare state dict of tensors, as model_ir_se50.pth is")
    model = build_without_init(ArcFace)
    load_state_checked(model, state, f"ArcFace IR-SE50 in {path}")
    return model.eval().requires_grad_(False).to(device)
