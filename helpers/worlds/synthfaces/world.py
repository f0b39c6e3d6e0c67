"""The synthfaces world: the shipped generator, factor meter and judge, small CLIP and encoder (all
hash-checked against ``data/MANIFEST.json``), and the bound of what it can represent."""
from __future__ import annotations

from ..world import World


def load(dev) -> World:
    """The synthfaces world on device ``dev``."""
    import torch
    from ...shipped import manifest, verified, world_version
    from ...stylegan2 import load_generator
    from .meter import load_meter
    path = verified("synthfaces_g.pt")
    entries = manifest()
    g_sha = entries[path.name]["sha256"]
    generator = load_generator(path, device=dev)
    meta = torch.load(path, map_location="cpu", weights_only=True)
    meter = load_meter(device=dev)
    judge = load_meter(device=dev, judge=True) if "synthfaces_judge.pt" in entries else None
    text_model = encoder = None
    if "synthfaces_clip.pt" in entries:
        from .text_model import load_text_model
        text_model = load_text_model(device=dev)
    if "synthfaces_encoder.pt" in entries:
        from .encoder import load_encoder
        encoder = load_encoder(device=dev, generator_sha256=g_sha)
    info = {"version": world_version(), "trained_images": int(meta.get("trained_images", 0)),
            "trained_steps": int(meta.get("trained_steps", 0)), "weights": str(path),
            "weights_sha256": g_sha,
            "text_model_sha256": entries.get("synthfaces_clip.pt", {}).get("sha256"),
            "encoder_sha256": entries.get("synthfaces_encoder.pt", {}).get("sha256"),
            "meter_sha256": entries.get("synthfaces_meter.pt", {}).get("sha256"),
            "judge_sha256": entries.get("synthfaces_judge.pt", {}).get("sha256"),
            "encoder_matches_generator": None if encoder is None else encoder.trained_for == g_sha}
    from . import renderer
    from .representable import load_bound
    return World("synthfaces", generator, dev, meter=meter, text_model=text_model, renderer=renderer,
                 judge=judge, encoder=encoder, identity_model=meter, info=info,
                 reconstruction_bound=load_bound(g_sha, info["encoder_sha256"]))
