"""Anchor codes: W+ codes that show one micromotion at increasing degrees.

Taught in ``notebooks/04_video_anchors.ipynb``. Video anchors invert the frames of a clip (the paper
inverts 7 frames of a head turn from −45° to 45°); the paper's released code has no such pipeline,
only its stored result. Results are cached under a name derived from every input and parameter, so
a rerun is instant and any change recomputes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .device import Chunks, batch_gradient
from .files import atomic_write
from .progress import bar



def cache_dir() -> Path:
    """Anchors live beside the weights, under the one project cache ($MICROMOTION_CACHE)."""
    from .weights import cache_dir as project_cache
    return project_cache() / "anchors"


def cache_key(**params) -> str:
    """A short hash of every parameter (tensors hashed by content)."""
    h = hashlib.sha256()
    for name in sorted(params):
        value = params[name]
        h.update(name.encode())
        if torch.is_tensor(value):
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
            h.update(str(tuple(value.shape)).encode())
        else:
            h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def cached(kind: str, key: str, compute, use_cache: bool = True):
    """Return the cached tensors dict for ``kind/key`` or compute, store atomically and return it."""
    path = cache_dir() / kind / f"{key}.pt"
    if use_cache and path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    result = compute()
    if use_cache:
        atomic_write(path, lambda f: torch.save(result, f))
    return result


def video_anchors(world, frames, steps: int = 300, lr: float = 0.03, spread_weight: float = 0.0,
                  use_cache: bool = True, progress: bool = True) -> torch.Tensor:
    """Invert the frames of a clip → anchor codes [T, num_ws, d], in the clip's order.

    ``frames``: a batch [T, 3, res, res] in [-1, 1], or anything :func:`clips.read_frames` accepts.
    Inversion is :meth:`World.invert`: the world's encoder when it has one, then ``steps`` of
    optimisation refinement.
    """
    if not torch.is_tensor(frames):
        from .clips import read_frames, to_tensor
        frames = to_tensor(read_frames(frames), world.resolution)
    # the encoder's guess is where the optimisation starts, so a retrained encoder recomputes
    key = cache_key(kind="video", world=world.version, frames=frames,
                    steps=steps, lr=lr, spread=spread_weight, encoder=world.info.get("encoder_sha256"))

    def compute():            # the world's own inversion policy: its encoder, then refinement
        codes = world.invert(frames, refine_steps=steps, lr=lr, spread_weight=spread_weight,
                             progress=progress)
        return {"anchors": codes.cpu()}

    return cached("video", key, compute, use_cache)["anchors"]


def styleclip_lr(t: float, lr: float = 0.1, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """StyleCLIP's learning-rate schedule at progress ``t`` = step / steps: warm-up, cosine ramp-down."""
    ramp = 0.5 - 0.5 * np.cos(np.pi * min(1.0, (1 - t) / rampdown))
    return lr * ramp * min(1.0, t / rampup)


def optimise_prompts(world, starts: torch.Tensor, prompts: list[str], steps: int = 40, lr: float = 0.1,
                     l2_lambda: float = 0.008, id_lambda: float = 0.005, progress: bool = True) -> torch.Tensor:
    """StyleCLIP latent optimisation of ``starts[i]`` toward ``prompts[i]``, all codes in one batch.

    ``starts``: [B, num_ws, d]; one prompt per code. Loss per code: ``1 − logits/100``
    + ``l2_lambda · Σ(w − w0)²`` + ``id_lambda · (1 − cos(id(G(w)), id(G(w0))))``, generator noise
    fixed. Every code has its own Adam moments and the same schedule, and the losses are summed,
    so this is the computation of running the codes one by one (the paper's loop), only faster (on a
    CPU the rows are also split across the cores: :func:`helpers.device.batch_gradient`).
    Results match it to float rounding for the first steps; over 40 steps at lr 0.1 Adam amplifies
    rounding until single codes differ by about as much as a 1e-6 nudge of the start code makes them
    differ, while the edit directions read off them agree (cosine 0.96–0.99; ``bench/anchors.py``).
    """
    if len(prompts) != len(starts):
        raise ValueError(f"{len(prompts)} prompts for {len(starts)} start codes")
    unique = sorted(set(prompts))            # the targets never change: encode each prompt once
    texts = world.encode_text(unique)[[unique.index(p) for p in prompts]]
    return optimise_guided(world, starts, lambda images, rows: world.clip_loss(images, texts[rows]),
                           steps, lr, l2_lambda, id_lambda, progress, desc="text anchors")


def optimise_guided(world, starts: torch.Tensor, guide, steps: int = 40, lr: float = 0.1,
                    l2_lambda: float = 0.008, id_lambda: float = 0.005, progress: bool = True,
                    desc: str = "anchors") -> torch.Tensor:
    """The StyleCLIP optimiser with any guide: ``guide(images, rows)`` → one loss per image, where
    ``rows`` index ``starts`` (CLIP's loss for the text anchors; the guide meter's error for the
    oracle anchors). The same schedule, regularisers and batching as :func:`optimise_prompts`."""
    g = world.generator
    w0 = starts.detach().to(world.device)
    chunks = Chunks(world.device)            # on a GPU: as many codes at once as memory holds

    @torch.no_grad()
    def reference_of(rows):
        images = g.synthesis(w0[rows])
        return world.identity_embedding(images) if id_lambda else images

    reference = torch.cat(Chunks(world.device).map(reference_of, len(w0)))

    def loss_of(codes, rows):               # per code: the losses of different codes never mix
        images = g.synthesis(codes)
        loss = guide(images, rows) + l2_lambda * (codes - w0[rows]).pow(2).sum([1, 2])
        if id_lambda:
            loss = loss + id_lambda * world.identity_loss(images, reference[rows])
        return loss

    ws = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=lr)
    for step in bar(range(steps), desc=desc, enabled=progress):
        for group in opt.param_groups:
            group["lr"] = styleclip_lr(step / steps, lr)
        ws.grad = batch_gradient(loss_of, ws, chunks)
        opt.step()
    return ws.detach()


def oracle_anchors(world, starts: torch.Tensor, micromotion: str, degrees=None, steps: int = 40,
                   lr: float = 0.1, l2_lambda: float = 0.008, id_lambda: float = 0.005,
                   use_cache: bool = True, progress: bool = True) -> torch.Tensor:
    """Anchors made by the text anchors' optimiser with a perfect guide in CLIP's place: the guide
    meter's reading of ``micromotion`` pulled to each degree's value (``|f − target|`` per code; the
    head turn's degree counts rightward from frontal). The upper bound of what text anchors can
    be; the judge, which never guides, scores both. Same shape and rows as :func:`text_anchors`."""
    from .vocabulary import PERCENTAGES, degree_value
    from .worlds.synthfaces.captions import factor_value
    from .worlds.synthfaces.renderer import factor_index
    if world.meter is None:
        raise ValueError(f"the {world.name!r} world has no factor meter to guide oracle anchors")
    degrees = PERCENTAGES if degrees is None else tuple(degrees)
    targets = torch.tensor([float(factor_value(micromotion, degree_value(d))) for d in degrees])
    if starts.dim() == 2:
        starts = starts[None]
    n, k = len(starts), len(degrees)
    key = cache_key(kind="oracle", world=world.version, starts=starts.cpu(),
                    motion=micromotion, targets=targets, steps=steps, lr=lr, l2=l2_lambda, id=id_lambda,
                    guide=world.info.get("meter_sha256"))
    j = factor_index(micromotion)
    goal = targets.repeat(n).to(world.device)

    def guide(images, rows):
        return (world.meter(images)[:, j] - goal[rows]).abs()

    def compute():
        batch_starts = starts.repeat_interleave(k, 0)
        codes = optimise_guided(world, batch_starts, guide, steps, lr, l2_lambda, id_lambda, progress,
                                desc="oracle anchors")
        return {"anchors": torch.cat([starts.cpu()[:, None], codes.cpu().reshape(n, k, *starts.shape[1:])], 1)}

    return cached("oracle", key, compute, use_cache)["anchors"]


def text_anchors(world, starts: torch.Tensor, template: str, degrees=None, steps: int = 40,
                 lr: float = 0.1, l2_lambda: float = 0.008, id_lambda: float = 0.005,
                 use_cache: bool = True, progress: bool = True) -> torch.Tensor:
    """Anchor matrices from a prompt template: [n_identities, 1 + len(degrees), num_ws, d].

    Row 0 is each identity's start code; row 1 + k the code optimised toward ``template`` filled with
    ``degrees[k]`` (default: the released code's "no", 10 %, …, 100 % — a 12-row matrix). Every prompt
    of every identity restarts from that identity's start code, and all of them run as one batch.
    """
    from .vocabulary import PERCENTAGES, prompts as fill_prompts
    degrees = PERCENTAGES if degrees is None else tuple(degrees)
    texts = fill_prompts(template, degrees)
    if starts.dim() == 2:
        starts = starts[None]
    n, k = len(starts), len(texts)
    key = cache_key(kind="text", world=world.version, starts=starts.cpu(),
                    texts=texts, steps=steps, lr=lr, l2=l2_lambda, id=id_lambda,
                    text_model=world.info.get("text_model_sha256"))

    def compute():
        batch_starts = starts.repeat_interleave(k, 0)
        codes = optimise_prompts(world, batch_starts, texts * n, steps, lr, l2_lambda, id_lambda, progress)
        return {"anchors": torch.cat([starts.cpu()[:, None], codes.cpu().reshape(n, k, *starts.shape[1:])], 1)}

    return cached("text", key, compute, use_cache)["anchors"]


def rendered_clip_anchors(world, motions, n_identities: int = 3, n_frames: int = 7, seed: int = 0,
                          steps: int = 200, use_cache: bool = True, progress: bool = True) -> dict:
    """Video anchors for every (identity, micromotion) of the synthfaces world, in one batch.

    Each clip is a renderer sweep of one micromotion over ``n_frames`` degrees (0 → 1; the head turns
    −45° → 45°) for a held-out identity. Returns ``{motion: anchors [n_identities, n_frames, num_ws, d]}``.
    """
    from .worlds.synthfaces import renderer
    if world.name != "synthfaces":
        raise ValueError("rendered clips exist only in the synthfaces world; on ffhq use video_anchors on real clips")
    people = renderer.sample_factors(n_identities, seed=seed + 100, neutral=True)
    clips = []
    for m in motions:
        for i in range(n_identities):
            clips.append(renderer.sweep(people[i:i + 1], m, n_frames, size=world.resolution, seed=seed)[0])
    frames = torch.cat(clips)
    codes = video_anchors(world, frames, steps=steps, use_cache=use_cache, progress=progress)
    codes = codes.reshape(len(motions), n_identities, n_frames, *codes.shape[1:])
    return {m: codes[k] for k, m in enumerate(motions)}


def anchor_sets(world, source: str = "text", motions=None, n_identities: int = 3, seed: int = 1,
                steps: int | None = None, use_cache: bool = True, progress: bool = True) -> dict:
    """The book's anchor matrices for several micromotions and identities, from one ``source``.

    'text': the paper's StyleCLIP anchors, 12 rows per identity (start code + "no", 10 %…100 %),
    start codes ``world.sample_wplus(n_identities, seed)`` at ψ = 0.7; 'video': synthfaces rendered
    clips of 7 frames, inverted. Returns ``{motion: anchors [n_identities, rows, num_ws, d]}``.
    """
    from .vocabulary import TEMPLATES
    motions = list(TEMPLATES) if motions is None else list(motions)
    unknown = [m for m in motions if m not in TEMPLATES]
    if unknown:
        raise ValueError(f"unknown micromotion(s) {unknown}; known: {', '.join(TEMPLATES)}")
    if source == "text":
        starts = world.sample_wplus(n_identities, seed=seed, truncation=world.truncation)
        return {m: text_anchors(world, starts, TEMPLATES[m], steps=steps or 40, use_cache=use_cache,
                                progress=progress) for m in motions}
    if source == "video":
        return rendered_clip_anchors(world, motions, n_identities=n_identities, seed=seed,
                                     steps=steps or 200, use_cache=use_cache, progress=progress)
    raise ValueError(f"source must be 'text' or 'video', got {source!r}")
