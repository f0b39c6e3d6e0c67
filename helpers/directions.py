"""Direction files, and the directions the command line makes from text.

A direction is only meaningful in the latent space it came from, so the file carries its world and
shape, and loading refuses a direction from another world or of the wrong shape. Format: a ``.pt``
with ``{"direction": float32 [num_ws, style_dim], "meta": JSON text}`` and the same metadata beside
it as ``.json`` for people to read.

:func:`text_direction` is the paper's whole pipeline for one prompt template in one call (text
anchors, robust PCA, the edit direction), as taught in ``notebooks/03_text_anchors.ipynb`` and
``notebooks/05_pca_vs_rpca.ipynb``; :func:`clip_direction` is the same from rendered clips
(synthfaces only, ``notebooks/04_video_anchors.ipynb``). :func:`builtin_direction` is a named
micromotion's direction (``smile``, ``age``…): on synthfaces from rendered clips, shipped in
``data/synthfaces_directions.pt`` (remade by ``python -m helpers.directions``); on ffhq from text.
"""
from __future__ import annotations

import json
import platform
import warnings
from pathlib import Path

import torch

from .files import atomic_write
from .vocabulary import PERCENTAGES, TEMPLATES, parse_degrees, resolve_template

#: Defaults of the text-made built-in directions (``micromotion edit --micromotion smile`` on ffhq).
#: The principal rule, not the released code's 90 % anchor − start code: it uses every anchor (the
#: 100 % one too) rather than two rows; chapter 9 and the study table compare the two rules' transfer.
BUILTIN = dict(degrees="percent", identities=1, seed=1, steps=40, rank=4, rule="principal")
#: Defaults of synthfaces' built-in directions: rendered clips of held-out identities, **inverted like a
#: user's image**. A direction read off generated codes (text anchors) moves generated faces but
#: carries over poorly to inverted images, which sit elsewhere in W+ (``notebooks/08_transfer.ipynb``
#: measures both); averaging 8 identities' directions makes it less tied to any one face.
BUILTIN_CLIPS = dict(identities=8, n_frames=7, seed=1, steps=200, rank=4, rule="principal")
#: The shipped synthfaces built-in directions (made by ``python -m helpers.directions``).
SHIPPED = "synthfaces_directions.pt"


def save_direction(path, direction: torch.Tensor, world, **how) -> Path:
    """Write the direction and its metadata (world, shape, how it was made, versions) atomically.

    Nothing is left behind on failure: the ``.json`` is written first and removed again if the
    ``.pt`` cannot be written.
    """
    import helpers
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"direction files end in .pt, got {path.name!r}")
    direction = direction.detach().float().cpu().reshape(world.num_ws, world.style_dim)
    meta = {"world": world.name, "num_ws": world.num_ws, "style_dim": world.style_dim,
            "generator_sha256": world.info.get("weights_sha256"), "norm": round(float(direction.norm()), 4),
            **how, "versions": {"helpers": helpers.__version__, "torch": torch.__version__,
                                "python": platform.python_version()}}
    text = json.dumps(meta, indent=2, default=str)
    sidecar = path.with_suffix(".json")
    atomic_write(sidecar, lambda f: f.write(text + "\n"), mode="w")
    try:
        atomic_write(path, lambda f: torch.save({"direction": direction, "meta": text}, f))
    except BaseException:
        sidecar.unlink(missing_ok=True)
        raise
    return path


def load_direction(path, world) -> tuple[torch.Tensor, dict]:
    """Read a direction file for ``world`` → (direction [num_ws, style_dim], metadata)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such direction file (make one with `micromotion direction`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a direction file ({type(err).__name__}); make one with "
                         "`micromotion direction`") from None
    if not isinstance(payload, dict) or "direction" not in payload:
        raise ValueError(f"{path} is not a direction file: it has no 'direction' entry")
    direction = payload["direction"]
    meta = _metadata(path, payload.get("meta"))
    _compare_sidecar(path, meta)
    made_in = meta.get("world")
    if made_in is not None and made_in != world.name:
        raise ValueError(f"{path} was made in the {made_in!r} world and cannot edit {world.name!r} "
                         f"images: use --world {made_in}, or make a direction in {world.name!r}")
    if not torch.is_tensor(direction) or direction.numel() != world.num_ws * world.style_dim:
        shape = tuple(direction.shape) if torch.is_tensor(direction) else type(direction).__name__
        raise ValueError(f"{path} holds a direction of shape {shape}, but the {world.name!r} world's W+ "
                         f"is [{world.num_ws}, {world.style_dim}]")
    if not torch.isfinite(direction).all():
        raise ValueError(f"{path} holds NaN or Inf values")
    made_for = meta.get("generator_sha256", meta.get("weights_sha256"))
    if made_for and world.info.get("weights_sha256") and made_for != world.info["weights_sha256"]:
        warnings.warn(f"{path} was made with another {world.name} generator ({made_for[:12]}…, now "
                      f"{world.info['weights_sha256'][:12]}…): its edit may be weaker or mixed; "
                      "remake it for this generator", RuntimeWarning, stacklevel=2)
    return direction.reshape(world.num_ws, world.style_dim).float(), meta


# Metadata keys whose value must be a string when present: the checks below compare them.
_TEXT_KEYS = ("world", "generator_sha256", "weights_sha256", "source", "rule", "method", "template")


def _metadata(path: Path, raw) -> dict:
    """The metadata stored inside a direction file: a JSON object (absent or empty: ``{}``)."""
    if raw is None or raw == "":
        return {}
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{path} is not a direction file: its 'meta' entry is not JSON") from None
    if not isinstance(meta, dict):
        kind = "null" if meta is None else f"a JSON {type(meta).__name__.replace('dict', 'object')}"
        raise ValueError(f"{path} is not a direction file: its metadata is {kind}, not a JSON object "
                         "such as {\"world\": \"synthfaces\", …}; remake it with `micromotion direction`")
    wrong = [k for k in _TEXT_KEYS if k in meta and meta[k] is not None and not isinstance(meta[k], str)]
    if wrong:
        raise ValueError(f"{path} is not a direction file: its metadata's {', '.join(map(repr, wrong))} "
                         "should be text; remake it with `micromotion direction`")
    return meta


def _compare_sidecar(path: Path, meta: dict) -> None:
    """Warn when the ``.json`` beside a direction file disagrees with the metadata inside it.

    The metadata inside the ``.pt`` counts (it travels with the direction); the ``.json`` is a copy
    for people to read, and a missing one is fine.
    """
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return
    try:
        copy = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        copy = None
    if not isinstance(copy, dict):
        warnings.warn(f"{sidecar.name} beside {path.name} is not a JSON object; the metadata inside "
                      f"{path.name} counts", RuntimeWarning, stacklevel=3)
        return
    differ = sorted(k for k in set(copy) | set(meta) if k != "versions" and copy.get(k) != meta.get(k))
    if differ:
        shown = ", ".join(f"{k}: {copy.get(k)!r} vs {meta.get(k)!r}" for k in differ[:3])
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        warnings.warn(f"{sidecar.name} disagrees with the metadata inside {path.name} ({shown}{more}); "
                      f"the metadata inside {path.name} counts", RuntimeWarning, stacklevel=3)


# --------------------------------------------------------------------------- directions from text


def text_direction(world, template: str, degrees="percent", identities: int = 1, seed: int = 1,
                   steps: int = 40, rank: int | None = 4, rule: str = "last_minus_first",
                   use_cache: bool = True, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """The edit direction [num_ws, style_dim] of a prompt template, and a record of how it was made.

    Start codes are ``world.sample_wplus(identities, seed)`` (ψ = the world's truncation). Each is
    optimised toward every prompt of the template (:func:`helpers.anchors.text_anchors`, all in one
    batch, cached), giving one anchor matrix per identity. **Each identity's anchors are decomposed on
    their own** (robust PCA, rank ``rank``) and its direction read off them with ``rule``; with several
    identities the directions are **averaged**: each person's micromotion subspace is their own
    (``notebooks/07_subspace_angles.ipynb``), so their anchors are not pooled into one matrix, but the
    mean of their directions is less tied to any one face.

    With the default percentages the 'last_minus_first' rule uses the 90 % anchor, as the released
    code does (its 100 % row is dropped); with any other degree list it uses the last degree.
    ``rank`` None means 4, capped at the number of anchors − 1.
    """
    from .anchors import text_anchors
    from .decomposition import RULES, per_identity_directions
    template = resolve_template(template)
    words = parse_degrees(degrees)
    rows = 1 + len(words)
    if rank is None:
        rank = min(4, rows - 1)
    if not 1 <= rank <= rows - 1:
        raise ValueError(f"rank {rank} does not fit {rows} anchors (start code + {len(words)} degrees): "
                         f"use 1 … {rows - 1}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    if identities < 1:
        raise ValueError(f"identities must be at least 1, got {identities}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps} (0 steps would leave every anchor at its start)")
    starts = world.sample_wplus(identities, seed=seed)
    anchors = text_anchors(world, starts, template, degrees=words, steps=steps, use_cache=use_cache,
                           progress=progress)                    # [identities, rows, num_ws, d]
    last = -2 if words == PERCENTAGES else -1
    direction = per_identity_directions(anchors, rank=rank, rule=rule, last=last).mean(0)
    how = {"source": "text", "template": template, "degrees": list(words), "identities": identities,
           "seed": seed, "truncation": world.truncation, "steps": steps, "method": "rpca", "rank": rank,
           "rule": rule, "combine": "mean of per-identity directions" if identities > 1 else "one identity"}
    if rule == "last_minus_first":
        how["last_anchor"] = words[last]
    micromotion = next((m for m, t in TEMPLATES.items() if t == template), None)
    if micromotion:
        how["micromotion"] = micromotion
    return direction, how


def clip_direction(world, micromotion: str, identities: int = 8, n_frames: int = 7, seed: int = 1,
                   steps: int = 200, rank: int = 4, rule: str = "principal", use_cache: bool = True,
                   progress: bool = True) -> tuple[torch.Tensor, dict]:
    """A synthfaces micromotion's direction from rendered clips, and a record of how it was made.

    Each of ``identities`` held-out neutral faces is rendered over ``n_frames`` degrees of the
    micromotion (:func:`helpers.anchors.rendered_clip_anchors`), the frames are inverted (``steps``
    of optimisation after the encoder), each identity's anchors are decomposed on their own (robust
    PCA, rank ``rank``) and the per-identity directions are averaged, as in :func:`text_direction`.
    """
    return clip_directions(world, [micromotion], identities, n_frames, seed, steps, rank, rule,
                           use_cache, progress)[micromotion]


def clip_directions(world, micromotions, identities: int = 8, n_frames: int = 7, seed: int = 1,
                    steps: int = 200, rank: int = 4, rule: str = "principal", use_cache: bool = True,
                    progress: bool = True) -> dict:
    """:func:`clip_direction` of several micromotions, their clips inverted in one batch →
    ``{micromotion: (direction, how)}``."""
    from .anchors import rendered_clip_anchors
    from .decomposition import RULES, per_identity_directions
    unknown = [m for m in micromotions if m not in TEMPLATES]
    if unknown:
        raise ValueError(f"unknown micromotion(s) {', '.join(map(repr, unknown))}; known: {', '.join(TEMPLATES)}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    if not 1 <= rank <= n_frames - 1:
        raise ValueError(f"rank {rank} does not fit {n_frames} frames: use 1 … {n_frames - 1}")
    if identities < 1 or steps < 1:
        raise ValueError(f"identities and steps must be at least 1, got {identities} and {steps}")
    sets = rendered_clip_anchors(world, list(micromotions), n_identities=identities, n_frames=n_frames,
                                 seed=seed, steps=steps, use_cache=use_cache, progress=progress)
    out = {}
    for m, anchors in sets.items():
        out[m] = per_identity_directions(anchors, rank=rank, rule=rule, last=-1).mean(0), {
            "source": "rendered clips", "micromotion": m, "identities": identities, "n_frames": n_frames,
            "seed": seed, "inversion_steps": steps, "method": "rpca", "rank": rank, "rule": rule,
            "combine": "mean of per-identity directions" if identities > 1 else "one identity"}
    return out


def frames_direction(world, frames, rank: int = 4, rule: str = "last_minus_first",
                     steps: int = 200) -> tuple[torch.Tensor, dict]:
    """The edit direction of a clip (a video file, a folder of frames, or anything
    :func:`helpers.clips.read_frames` takes), and a record of how it was made: its frames (64 at
    most, spread over the clip) are inverted, robust PCA keeps a rank ``rank`` subspace of those
    anchors, and ``rule`` reads the direction off it (first frame to last)."""
    import numpy as np
    from .anchors import video_anchors
    from .decomposition import decompose_anchors, edit_direction
    from .clips import read_frames, to_tensor
    batch = to_tensor(read_frames(frames), world.resolution)
    if not 1 <= rank <= len(batch) - 1:
        raise ValueError(f"rank {rank} does not fit {len(batch)} frames: use 1 … {len(batch) - 1}")
    codes = video_anchors(world, batch, steps=steps)
    low, infos = decompose_anchors(codes, "rpca", "per_layer", rank=rank)
    direction = edit_direction(low, rule, first=0, last=-1)
    return direction, dict(source="frames", frames=str(frames), n_frames=len(batch), method="rpca",
                           rank=rank, rule=rule, inversion_steps=steps,
                           rpca_iterations=int(np.mean([i.iterations for i in infos])))


def write_builtin(world, path=None, progress: bool = True) -> Path:
    """Make synthfaces' built-in directions (:data:`BUILTIN_CLIPS`) and ship them in ``data/``
    with their hash in the manifest. Rerun after the generator or the encoder changes."""
    from . import shipped
    path = Path(path) if path is not None else shipped.DATA / SHIPPED
    made = clip_directions(world, list(TEMPLATES), progress=progress, **BUILTIN_CLIPS)
    meta = {"world": world.name, "generator_sha256": world.info.get("weights_sha256"),
            "encoder_sha256": world.info.get("encoder_sha256"), "how": {m: how for m, (_, how) in made.items()}}
    payload = {"directions": {m: d.detach().float().cpu() for m, (d, _) in made.items()},
               "meta": json.dumps(meta)}
    atomic_write(path, lambda f: torch.save(payload, f))
    if path.parent == shipped.DATA:
        shipped.record(path, "python -m helpers.directions")
    return path


def shipped_builtin(world, micromotion: str):
    """The shipped built-in direction and its record, or None where it was made for another
    generator or encoder than the world's (then it is remade from clips)."""
    from . import shipped
    payload = torch.load(shipped.verified(SHIPPED), map_location="cpu", weights_only=True)
    meta = json.loads(payload["meta"])
    if (meta["generator_sha256"], meta["encoder_sha256"]) != (world.info.get("weights_sha256"),
                                                              world.info.get("encoder_sha256")):
        return None
    return payload["directions"][micromotion], {**meta["how"][micromotion], "shipped": f"data/{SHIPPED}"}


def builtin_direction(world, micromotion: str, progress: bool = True) -> tuple[torch.Tensor, dict]:
    """The world's built-in direction for a named micromotion, and a record of how it was made.

    synthfaces: from rendered clips (:func:`clip_direction` with :data:`BUILTIN_CLIPS`), shipped, so
    instant; remade (a few minutes, then cached) if the world's generator or encoder is not the one
    they were made for. ffhq: :func:`text_direction` of the paper's template with :data:`BUILTIN`
    (its anchors are cached, so the second call is instant).
    """
    if micromotion not in TEMPLATES:
        raise ValueError(f"unknown micromotion {micromotion!r}; known: {', '.join(TEMPLATES)} "
                         "(or make your own with `micromotion direction --template`)")
    if world.name == "synthfaces":
        found = shipped_builtin(world, micromotion)
        if found is not None:
            return found
        warnings.warn(f"data/{SHIPPED} was made for another synthfaces generator or encoder: remaking the "
                      f"{micromotion!r} direction from rendered clips (a few minutes on a CPU, then cached); "
                      "`python -m helpers.directions` remakes them all", RuntimeWarning, stacklevel=2)
        return clip_direction(world, micromotion, progress=progress, **BUILTIN_CLIPS)
    return text_direction(world, TEMPLATES[micromotion], progress=progress, **BUILTIN)


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m helpers.directions",
                                     description="Remake synthfaces' built-in directions in data/.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from . import worlds
    path = write_builtin(worlds.load("synthfaces"))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
