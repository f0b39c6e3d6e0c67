"""Guidance losses of the paper's latent optimisation: the CLIP loss and the identity loss, and
CLIP's tokenizer (BPE from the `clip` package, for any world's CLIP).

Taught in ``notebooks/03_text_anchors.ipynb``. Both work with any model that has the interface of the
`clip` package's ``CLIP`` (the real ViT-B/32 or the synthfaces one) and any identity embedding
(ArcFace for FFHQ, the factor meter's identity head for synthfaces).
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@lru_cache(maxsize=None)
def clip_module(name: str):
    """``clip.model`` or ``clip.simple_tokenizer``, without importing ``clip/__init__`` (torchvision)."""
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the `clip` package is missing: pip install --no-deps clip-anytorch ftfy regex "
                          "(note: `pip install clip` installs an unrelated tool)")
    path = Path(list(spec.submodule_search_locations)[0]) / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"_clip_{name}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def _tokenizer():
    return clip_module("simple_tokenizer").SimpleTokenizer()


def tokenize(texts, context_length: int = 77) -> torch.Tensor:
    """Texts → token ids [n, context_length] with CLIP's BPE, start/end tokens and zero padding."""
    if isinstance(texts, str):
        texts = [texts]
    if len(texts) == 0:
        raise ValueError("no prompts given: pass at least one text")
    tok = _tokenizer()
    sot, eot = tok.encoder["<|startoftext|>"], tok.encoder["<|endoftext|>"]
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [sot] + tok.encode(text) + [eot]
        if len(ids) > context_length:
            raise ValueError(f"prompt too long for CLIP ({len(ids)} > {context_length} tokens): {text[:60]!r}…")
        out[i, :len(ids)] = torch.tensor(ids)
    return out


def clip_image_input(images: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    """The paper's CLIP input: upsample ×7 (nearest), average-pool down to the model's input size
    (224 px for ViT-B/32), bilinear only if sizes still differ; no normalisation.

    All three steps are separable linear maps, so they are applied as one small matrix per axis
    (``A @ x @ Aᵀ``): the same numbers without the 7× image and its costly gradient.
    """
    a = _resampling_matrix(images.shape[-1], resolution).to(images.device, images.dtype)
    return a @ images @ a.T


@lru_cache(maxsize=None)
def _resampling_matrix(size: int, resolution: int) -> torch.Tensor:
    """[resolution, size]: the paper's upsample / pool / resize chain, along one axis."""
    x = torch.eye(size, dtype=torch.float64)[:, None, :]        # each input pixel, one at a time
    up = F.interpolate(x, scale_factor=7, mode="nearest")
    k = size * 7 // resolution
    if k > 1:
        up = F.avg_pool1d(up, k)
    if up.shape[-1] != resolution:
        up = F.interpolate(up, size=resolution, mode="linear", align_corners=False)
    return up[:, 0, :].T.float().contiguous()


def clip_text_features(model, tokens: torch.Tensor) -> torch.Tensor:
    """Unit-length text features [n, d] of token ids; constant during an optimisation, so encode once."""
    with torch.no_grad():
        return F.normalize(model.encode_text(tokens).float(), dim=-1)


def clip_loss(model, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
    """``1 − logits_per_image / 100`` for matching pairs (image i with text i, or all with one text) → [n].

    ``texts``: token ids [n or 1, 77], or their :func:`clip_text_features` (floats) to skip re-encoding
    the same prompts at every step. Logits as in CLIP: ``logit_scale.exp() · cos(image, text)``.
    """
    texts = texts.to(images.device)
    if not texts.is_floating_point():
        texts = clip_text_features(model, texts)
    cos = (clip_image_features(model, images) * texts).sum(-1)    # texts [1, d] broadcasts
    return 1 - model.logit_scale.exp().float() * cos / 100


def clip_image_features(model, images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] → unit-length CLIP image features [n, d] (encode once, compare to many texts)."""
    return F.normalize(model.encode_image(clip_image_input(images, model.visual.input_resolution)).float(),
                       dim=-1)


def identity_loss(embed, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``1 − cos(embed(images), embed(reference))`` per image [n].

    ``reference``: images [n or 1, 3, H, W], or their embeddings [n or 1, k] computed once beforehand.
    """
    a = embed(images)
    if reference.dim() == 4:
        with torch.no_grad():
            reference = embed(reference)
    return 1 - F.cosine_similarity(a, reference.expand_as(a), dim=1)


class PatchEmbedding(nn.Conv2d):
    """A convolution whose stride equals its kernel (a ViT's patch embedding), computed as one matrix
    product over the image's patches: the same numbers, and on a CPU a 3-4x faster gradient than the
    convolution's (which the text-anchor optimisation needs at every step)."""

    def forward(self, x):
        kh, kw = self.kernel_size
        if (self.stride != self.kernel_size or self.padding != (0, 0) or self.dilation != (1, 1)
                or self.groups != 1 or x.dim() != 4):
            return super().forward(x)
        b, c, h, w = x.shape
        gh, gw = h // kh, w // kw                          # like the conv, a partial patch is dropped
        patches = x[:, :, :gh * kh, :gw * kw].reshape(b, c, gh, kh, gw, kw)
        patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c * kh * kw)
        out = patches @ self.weight.reshape(self.out_channels, -1).T
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(b, gh, gw, -1).permute(0, 3, 1, 2)


def with_fast_patch_embedding(model):
    """``model`` (a `clip` CLIP with a ViT) with its patch convolution as :class:`PatchEmbedding`:
    same parameters, same state-dict keys, same outputs. Other models are returned unchanged."""
    conv = getattr(getattr(model, "visual", None), "conv1", None)
    if type(conv) is nn.Conv2d:
        conv.__class__ = PatchEmbedding                   # adds no state: parameters stay shared
    return model
