"""Optimisation inversion recovers a generated image; bad inputs are refused clearly."""
from types import SimpleNamespace

import pytest
import torch

from helpers import inversion
from helpers.stylegan2 import Generator, z_from_seed


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    g = Generator(16, style_dim=32, n_mlp=2, channel_multiplier=1, channel_scale=0.0625).eval()
    g.requires_grad_(False)
    avg = g.mean_latent(512).reshape(-1)
    return SimpleNamespace(generator=g, latent_avg=avg, num_ws=g.num_ws, resolution=16, device="cpu")


def test_inversion_reduces_error_and_approaches_the_target(world):
    g = world.generator
    ws_true = g.to_wplus(g.mapping(z_from_seed(5, 3, 32)))
    with torch.no_grad():
        images = g.synthesis(ws_true).clamp(-1, 1)
    start = (g.synthesis(world.latent_avg.reshape(1, 1, -1).expand(3, g.num_ws, -1)) - images).pow(2).mean()
    res = inversion.invert(world, images, steps=150, lr=0.05, progress=False)
    assert res.codes.shape == ws_true.shape
    assert res.pixel_error.mean() < 0.2 * float(start)
    assert res.history[-1] < res.history[0]


def test_spread_penalty_keeps_codes_closer_to_w(world):
    g = world.generator
    with torch.no_grad():
        images = g.synthesis(g.to_wplus(g.mapping(z_from_seed(9, 2, 32)))).clamp(-1, 1)
    free = inversion.invert(world, images, steps=60, progress=False)
    tied = inversion.invert(world, images, steps=60, spread_weight=1.0, progress=False)
    assert inversion.spread_penalty(tied.codes).mean() < inversion.spread_penalty(free.codes).mean()


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 1, 16, 16), "3 colour channels"),
    (torch.zeros(2, 4, 16, 16), "3 colour channels"),
    (torch.zeros(2, 3, 20, 20), "16×16"),
    (torch.zeros(3, 16, 16), "image batch"),
    (torch.full((1, 3, 16, 16), 255.0), r"\[-1, 1\]"),
])
def test_bad_images_are_refused(world, bad, message):
    with pytest.raises(ValueError, match=message):
        inversion.invert(world, bad, steps=1, progress=False)
