"""A second discriminator on frozen pretrained features (Sauer et al. 2021, "Projected GANs").

The synthfaces text model's image tower (a small ViT trained on renders and captions, never the
judge's network, which would train G on the metric itself) embeds every image D sees; each chosen
transformer block's tokens pass a fixed random projection and a small trainable head that scores
every token. The token scores' mean joins the ordinary D's logit. Frozen features that already
tell faces apart give G a signal the small D learned too slowly to give (#25's third candidate).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ...guidance import clip_image_input


class ProjectedHeads(nn.Module):
    """Trainable heads over a frozen ViT's token features at ``blocks`` (1-based block indices).
    The ViT is held outside the module's parameters and state: only the heads are saved."""

    def __init__(self, visual: nn.Module, blocks=(2, 4), hidden: int = 64, seed: int = 0):
        super().__init__()
        self.__dict__["visual"] = visual.eval().requires_grad_(False)   # not a submodule
        self.blocks = tuple(blocks)
        width = visual.conv1.out_channels
        gen = torch.Generator().manual_seed(seed)
        for i in self.blocks:        # a fixed random mix of channels, like the paper's CCM
            q, _ = torch.linalg.qr(torch.randn(width, width, generator=gen))
            self.register_buffer(f"mix{i}", q)
        self.heads = nn.ModuleDict({str(i): nn.Sequential(
            nn.Linear(width, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)) for i in self.blocks})

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Tokens (N × tokens × width) after each chosen block, for images ``x`` in [-1, 1]."""
        v = self.visual
        t = v.conv1(clip_image_input(x, v.input_resolution)).flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(t.dtype).expand(t.shape[0], 1, -1)
        t = v.ln_pre(torch.cat([cls, t], dim=1) + v.positional_embedding.to(t.dtype))
        out, t = {}, t.permute(1, 0, 2)
        for i, block in enumerate(v.transformer.resblocks, start=1):
            t = block(t)
            if i in self.blocks:
                out[i] = t.permute(1, 0, 2)
            if i >= max(self.blocks):
                break
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image: the heads' mean token score, summed over the chosen blocks."""
        total = 0
        for i, tokens in self.features(x).items():
            mixed = F.layer_norm(tokens, tokens.shape[-1:]) @ getattr(self, f"mix{i}")
            total = total + self.heads[str(i)](mixed).mean(dim=(1, 2))
        return total
