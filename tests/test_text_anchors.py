"""Text anchors: the batched optimisation equals the paper's one-by-one loop; schedule and shape."""
import numpy as np
import pytest
import torch

from helpers import anchors, guidance
from helpers.stylegan2 import Generator, z_from_seed
from helpers.worlds.synthfaces import text_model


class TinyWorld:
    """A random 16-px generator, a random small CLIP and a fixed random identity embedding."""

    name = "tiny"
    version = "tiny-seed0"     # what a real world derives from its model files' hashes
    device = "cpu"
    info = {}

    def __init__(self):
        torch.manual_seed(0)
        self.generator = Generator(16, style_dim=32, n_mlp=2, channel_multiplier=1,
                                   channel_scale=0.0625).eval().requires_grad_(False)
        self.text_model = text_model.build().eval().requires_grad_(False)
        self.embed_weight = torch.randn(8, 3 * 16 * 16)

    def encode_text(self, prompts):
        return guidance.clip_text_features(self.text_model, guidance.tokenize(prompts))

    def clip_loss(self, images, texts):
        return guidance.clip_loss(self.text_model, images, texts)

    def identity_embedding(self, images):
        return images.flatten(1) @ self.embed_weight.T

    def identity_loss(self, images, reference):
        return guidance.identity_loss(self.identity_embedding, images, reference)


@pytest.fixture(scope="module")
def world():
    return TinyWorld()


def test_styleclip_schedule():
    assert anchors.styleclip_lr(0.0) == 0.0
    assert anchors.styleclip_lr(0.5) == pytest.approx(0.1)
    assert anchors.styleclip_lr(1.0) == pytest.approx(0.0)
    assert anchors.styleclip_lr(0.025) == pytest.approx(0.05)


@pytest.fixture(params=[1, 2])
def threads(request):
    """Torch threads for one test: with 2 the batch's rows are split across threads
    (``device.batch_gradient``), with 1 it is one call."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def test_batched_anchors_equal_the_sequential_loop(world, threads):
    """The batched loss gives every code the gradient it gets alone (to float rounding), and six
    Adam steps land where the one-by-one loop lands. Adam divides each gradient entry by its own
    size, so an entry whose gradient is ~1e-7 (a few here) turns a 1e-9 rounding difference into
    ~1e-5 of its step: all but those entries agree to 1e-5, and none by more than 1e-3 of the move."""
    from helpers.device import batch_gradient
    g = world.generator
    starts = g.to_wplus(g.mapping(z_from_seed(1, 2, 32))).clone()
    prompts = ["A person with no smile", "A person with 50% smile", "A person with 100% smile"]
    w0 = starts.repeat_interleave(3, 0)
    texts = world.encode_text(prompts * 2)

    def loss_of(codes, rows):
        return world.clip_loss(g.synthesis(codes), texts[rows])

    together = batch_gradient(loss_of, w0)
    alone = torch.cat([batch_gradient(lambda c, r, j=j: loss_of(c, slice(j, j + 1)), w0[j:j + 1])
                       for j in range(len(w0))])
    assert (together - alone).abs().max() < 1e-5 * alone.abs().max()

    batch = anchors.optimise_prompts(world, w0, prompts * 2, steps=6, progress=False)
    one_by_one = torch.cat([anchors.optimise_prompts(world, starts[i:i + 1], [p], steps=6, progress=False)
                            for i in range(2) for p in prompts])
    moved = (batch - w0).abs().max()
    assert moved > 0.1                                                   # it moved
    gap = (batch - one_by_one).abs()
    assert gap.max() < 1e-3 * moved
    assert (gap > 1e-5).float().mean() < 1e-3


def test_text_anchor_matrix_layout_and_cache(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    g = world.generator
    starts = g.to_wplus(g.mapping(z_from_seed(2, 2, 32))).clone()
    a = anchors.text_anchors(world, starts, "A person with {} smile", steps=3, progress=False)
    assert a.shape == (2, 12, g.num_ws, 32)
    assert torch.equal(a[:, 0], starts)
    b = anchors.text_anchors(world, starts, "A person with {} smile", steps=3, progress=False)
    assert torch.equal(a, b) and len(list(tmp_path.rglob("*.pt"))) == 1
    with pytest.raises(ValueError, match="has no"):
        anchors.text_anchors(world, starts, "A person smiling", steps=1, progress=False)


def test_batch_gradient_splits_rows_across_threads_and_restores_them():
    from helpers.device import batch_gradient
    codes = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    weights = torch.arange(7.0)[:, None]

    def loss_of(leaf, rows):
        return (weights[rows] * leaf.pow(3)).sum(1)

    def broken(leaf, rows):
        raise RuntimeError("bad row")

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        torch.testing.assert_close(batch_gradient(loss_of, codes), 3 * weights * codes.pow(2))
        assert torch.get_num_threads() == 3
        with pytest.raises(RuntimeError, match="bad row"):
            batch_gradient(broken, codes)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
