"""The synthfaces text-image model: the `clip` package's own CLIP architecture, small, trained here.

Taught in ``notebooks/03_text_anchors.ipynb``. The paper scores prompts with CLIP ViT-B/32; our world
has its own CLIP — the very same class (``clip.model.CLIP``), tokenizer (``clip``'s BPE) and loss path
(image upsampled ×7, average-pooled to 224 px, no normalisation, ``1 − logits/100``) — trained
contrastively on renders and their captions from the paper's templates. Positives are graded by how
well a caption's degree fits the face's true strength (``train_text_model.soft_targets``): with
exact-caption positives alone the model never learned to rank smiles (zero-shot accuracy 0.50).

Trained by ``python -m helpers.worlds.synthfaces.train_text_model`` (writes data/synthfaces_clip.pt).

``import clip`` itself needs torchvision (for ``clip.load``'s preprocessing, which the paper's loss
does not use); on machines without it, the two modules we need are loaded straight from the
installed package's files.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ... import vocabulary
from ...guidance import clip_loss, clip_module, tokenize, with_fast_patch_embedding
from ...shipped import DATA, verified
from . import captions, renderer

CLIP_PATH = DATA / "synthfaces_clip.pt"
CLIP_CONFIG = dict(embed_dim=128, image_resolution=112, vision_layers=4, vision_width=128,
                   vision_patch_size=16, context_length=77, vocab_size=49408, transformer_width=64,
                   transformer_heads=2, transformer_layers=4)


def build() -> torch.nn.Module:
    """A fresh small CLIP; its logit scale is fixed at 100 like the real model's (clamped) one."""
    model = clip_module("model").CLIP(**CLIP_CONFIG)
    model.logit_scale.data.fill_(math.log(100.0))
    model.logit_scale.requires_grad_(False)
    return model


def load_text_model(path=None, device="cpu"):
    """The shipped synthfaces CLIP (hash-checked), eval mode, frozen."""
    path = verified(CLIP_PATH.name) if path is None else path
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build()
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return with_fast_patch_embedding(model.eval().requires_grad_(False).to(device))


@torch.no_grad()
def ranking_accuracy(model, n: int = 48, seed: int = 31337) -> dict[str, float]:
    """Zero-shot check per micromotion: for the prompt of a strong degree ("big"/"90%"), how often does
    an image with more of the motion score higher than one with less? (0.5 = chance, 1 = perfect)."""
    out = {}
    strengths = np.array([0.0, 0.3, 0.6, 0.9])
    for m, template in vocabulary.TEMPLATES.items():
        base = renderer.sample_factors(n, seed=seed, neutral=True)
        f = base.repeat_interleave(len(strengths), 0)
        f = renderer.set_factors(f, **{m: torch.as_tensor(captions.factor_value(m, np.tile(strengths, n)),
                                                          dtype=torch.float32)})
        images = renderer.render(f, seeds=seed)
        loss = clip_loss(model, images, tokenize([vocabulary.fill(template, "90%")]))
        score = (-loss).reshape(n, len(strengths))
        pairs = [(i, j) for i in range(len(strengths)) for j in range(i + 1, len(strengths))]
        out[m] = float(np.mean([(score[:, j] > score[:, i]).float().mean().item() for i, j in pairs]))
    return out
