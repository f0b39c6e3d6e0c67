"""Direction files: an edit direction in W+ plus a record of how it was made.

A direction is only meaningful in the latent space it came from, so the file carries its world and
shape, and loading refuses a direction from another world or of the wrong shape. Format: a ``.pt``
with ``{"direction": float32 [num_ws, style_dim], "meta": JSON text}`` and the same metadata beside
it as ``.json`` for people to read.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from .files import atomic_write


def save_direction(path, direction: torch.Tensor, world, **how) -> Path:
    """Write the direction and its metadata (world, shape, how it was made, versions) atomically."""
    import helpers
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(f"direction files end in .pt, got {path.name!r}")
    direction = direction.detach().float().cpu().reshape(world.num_ws, world.style_dim)
    meta = {"world": world.name, "num_ws": world.num_ws, "style_dim": world.style_dim,
            "weights_sha256": world.info.get("weights_sha256"), "norm": round(float(direction.norm()), 4),
            **how, "versions": {"helpers": helpers.__version__, "torch": torch.__version__,
                                "python": platform.python_version()}}
    text = json.dumps(meta, indent=2, default=str)
    atomic_write(path, lambda f: torch.save({"direction": direction, "meta": text}, f))
    atomic_write(path.with_suffix(".json"), lambda f: f.write(text + "\n"), mode="w")
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
    meta = json.loads(payload.get("meta") or "{}")
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
    return direction.reshape(world.num_ws, world.style_dim).float(), meta
