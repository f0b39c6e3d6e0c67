"""Ground-truth measurements in the synthfaces world, read by the factor meter.

The paper shows pictures; with known factors we can put a number on each claim.
"""
from __future__ import annotations

import torch

from .latent_spaces import layer_groups, mix_styles
from .worlds.synthfaces.renderer import FACTORS


def style_mixing_effects(world, n: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Mean |Δ factor| [len(FACTORS)] when one layer group of A is replaced by B's.

    Which factors live in the coarse, middle and fine layers — measured, not eyeballed.
    """
    ws_a = world.sample_wplus(n, seed)
    ws_b = world.sample_wplus(n, seed + 1)
    base = world.measure(world.synthesize(ws_a))
    out = {}
    for name, layers in layer_groups(world.num_ws, world.resolution).items():
        mixed = world.measure(world.synthesize(mix_styles(ws_a, ws_b, layers)))
        out[name] = (mixed - base).abs().mean(0)
    return out


def factor_table(values: dict[str, torch.Tensor]) -> "list[dict]":
    """Rows {factor, <key>: value…} for display as a table."""
    return [{"factor": f, **{k: round(float(v[i]), 3) for k, v in values.items()}}
            for i, f in enumerate(FACTORS)]
