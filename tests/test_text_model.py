"""The synthfaces CLIP: the clip package's class and tokenizer, the paper's input path and loss."""
import numpy as np
import pytest
import torch

from helpers import guidance, vocabulary
from helpers.worlds.synthfaces import text_model, train_text_model


def test_tokenize_uses_clip_bpe_with_start_and_end():
    tokens = guidance.tokenize(["A person with 90% smile", "no"])
    assert tokens.shape == (2, 77) and tokens.dtype == torch.long
    assert tokens[0, 0] == 49406 and 49407 in tokens[0].tolist()
    assert tokens[1, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="no prompts"):
        guidance.tokenize([])
    with pytest.raises(ValueError, match="too long"):
        guidance.tokenize(["smile " * 100])


def test_clip_input_follows_the_paper():
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = guidance.clip_image_input(x)
    assert y.shape == (2, 3, 224, 224)
    # ×7 nearest then 2×2 average: each 224-px pixel is an average of source pixels, values stay in range
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6
    assert torch.allclose(guidance.clip_image_input(torch.ones(1, 3, 64, 64)), torch.ones(1, 3, 224, 224))


@pytest.mark.parametrize("size,resolution", [(64, 112), (64, 224), (256, 224), (48, 112)])
def test_clip_input_matrices_equal_the_upsample_pool_chain(size, resolution):
    """The per-axis matrices give exactly the paper's ×7 nearest upsample, k×k pool (and resize)."""
    import torch.nn.functional as F
    x = torch.rand(2, 3, size, size, dtype=torch.float64) * 2 - 1
    up = F.interpolate(x, scale_factor=7, mode="nearest")
    k = size * 7 // resolution
    if k > 1:
        up = F.avg_pool2d(up, k)
    if up.shape[-1] != resolution:
        up = F.interpolate(up, size=(resolution, resolution), mode="bilinear", align_corners=False)
    got = guidance.clip_image_input(x.float(), resolution).double()
    assert got.shape == up.shape
    assert torch.allclose(got, up, atol=1e-5)


def test_clip_loss_from_encoded_texts_and_identity_from_embeddings_match():
    torch.manual_seed(0)
    model = text_model.build().eval()
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    tokens = guidance.tokenize(["a", "b", "c"])
    features = guidance.clip_text_features(model, tokens)
    assert features.is_floating_point() and torch.allclose(features.norm(dim=1), torch.ones(3))
    assert torch.allclose(guidance.clip_loss(model, images, tokens), guidance.clip_loss(model, images, features))
    embed = lambda x: x.flatten(1)[:, :10]  # noqa: E731
    reference = torch.rand(1, 3, 64, 64)
    assert torch.allclose(guidance.identity_loss(embed, images, reference),
                          guidance.identity_loss(embed, images, embed(reference)))


def test_patch_embedding_as_a_matrix_product_equals_the_convolution():
    """The ViT's patch convolution, swapped for one matrix product over patches: same state-dict
    keys, same outputs and input gradients (a partial last patch dropped like the conv does);
    convolutions that are not patch embeddings are left alone."""
    from torch import nn
    torch.manual_seed(0)
    model = text_model.build().eval()
    keys = set(model.state_dict())
    x = torch.rand(2, 3, 112, 112, requires_grad=True)
    before = model.encode_image(x)
    g_before, = torch.autograd.grad(before.sum(), x)
    assert guidance.with_fast_patch_embedding(model) is model
    assert type(model.visual.conv1) is guidance.PatchEmbedding and set(model.state_dict()) == keys
    after = model.encode_image(x)
    g_after, = torch.autograd.grad(after.sum(), x)
    assert torch.allclose(after, before, atol=1e-5) and torch.allclose(g_after, g_before, atol=1e-6)
    conv = nn.Conv2d(3, 4, 5, stride=5, bias=True)
    y = torch.rand(1, 3, 23, 21)
    reference = conv(y)
    conv.__class__ = guidance.PatchEmbedding
    assert torch.allclose(conv(y), reference, atol=1e-6)
    other = nn.Conv2d(3, 4, 3, padding=1)
    guidance.with_fast_patch_embedding(other)
    assert type(other) is nn.Conv2d


def test_clip_loss_pairs_and_broadcasts():
    torch.manual_seed(0)
    model = text_model.build().eval()
    assert model.logit_scale.exp().item() == pytest.approx(100.0)
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    one = text_model.clip_loss(model, images, guidance.tokenize(vocabulary.prompts("A person with {} smile")[:1]))
    assert one.shape == (3,) and torch.all((one >= 0) & (one <= 2))
    pairs = text_model.clip_loss(model, images, guidance.tokenize(["a", "b", "c"]))
    assert pairs.shape == (3,)


def test_contrastive_loss_counts_identical_captions_as_positives():
    torch.manual_seed(0)
    model = text_model.build()
    images = torch.rand(4, 3, 64, 64) * 2 - 1
    loss = train_text_model.contrastive_loss(model, images, ["x", "x", "y", "z"])
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.visual.conv1.weight.grad is not None


def test_degree_words_round_trip_through_every_template():
    for template in vocabulary.TEMPLATES.values():
        for word in list(vocabulary.PERCENTAGES) + list(vocabulary.ADJECTIVES):
            text = vocabulary.fill(template, word)
            assert vocabulary.degree_value(vocabulary.degree_word(text, template)) == vocabulary.degree_value(word)
    assert vocabulary.degree_value("no") == 0 and vocabulary.degree_value("30%") == pytest.approx(0.3)
    assert vocabulary.degree_value("a big") == pytest.approx(0.725)
    with pytest.raises(ValueError, match="unknown degree word"):
        vocabulary.degree_value("enormous")


def test_soft_targets_grade_captions_by_how_well_the_degree_fits():
    strengths = [[0.9, 0.0], [0.1, 0.5]]            # two images, two micromotions
    match = train_text_model.soft_targets(strengths, motion_index=[0, 0, 1], degree=[0.9, 0.6, 0.5])
    assert match.shape == (2, 3)
    assert match[0, 0] == pytest.approx(1.0) and match[1, 2] == pytest.approx(1.0)
    assert match[0, 0] > match[0, 1] > match[1, 0]   # 90 % smile fits "90%" best, "60%" less, 10 % least


def test_training_batch_captions_agree_with_the_strengths():
    images, texts, strengths, motion, degree = train_text_model.training_batch(0, 12, seed=1)
    assert images.shape == (12, 3, 64, 64) and len(texts) == 12
    got = strengths[np.arange(12), motion]
    # a percent caption is the nearest tenth; an adjective's range holds the strength
    assert np.all(np.abs(got - degree) <= 0.2 + 1e-6)
    loss = train_text_model.contrastive_loss(text_model.build(), images[:4], texts[:4],
                                       train_text_model.soft_targets(strengths[:4], motion[:4], degree[:4]))
    assert torch.isfinite(loss)


def test_training_resumes_and_records_how(tmp_path, capsys):
    out = tmp_path / "clip.pt"
    assert train_text_model.main(["--resume", "--out", str(out)]) == 2
    assert "no model at" in capsys.readouterr().err and not out.exists()
    train_text_model.train(steps=1, batch=4, out=out)
    first = torch.load(out, weights_only=True)
    assert train_text_model.main(["--resume", "--steps", "3", "--batch", "4", "--lr", "0.05", "--out", str(out)]) == 0
    second = torch.load(out, weights_only=True)
    assert second["made_by"].startswith(first["made_by"]) and second["made_by"].endswith("--resume")
    assert any(not torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.pt"]   # no resume copy left behind


def test_gan_share_mixes_generator_images_captioned_by_the_guide():
    import warnings
    from helpers import worlds
    from helpers.directions import builtin_direction
    from helpers.worlds.synthfaces import encoder as encoder_module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", encoder_module.GeneratorChangedWarning)
        world = worlds.load("synthfaces", device="cpu")
    directions = {m: builtin_direction(world, m, progress=False)[0] for m in vocabulary.TEMPLATES}
    images, texts, strengths, motion, degree = train_text_model.mixed_batch(0, 12, 1, world,
                                                                            directions, 0.5)
    assert images.shape == (12, 3, 64, 64) and len(texts) == len(strengths) == len(degree) == 12
    renders, *_ = train_text_model.training_batch(0, 6, seed=1)
    assert torch.equal(images[:6], renders)                      # the first half: the renders
    gan, f, motions = train_text_model.gan_batch(world, directions, 6, np.random.RandomState(
        (1 * 5_000_011 + 0) % (2 ** 31)))
    assert torch.equal(images[6:], gan)                          # the rest: the GAN's, re-made alike
    assert torch.equal(f, world.measure(gan, by="meter"))        # read by the guide, not the judge
    got = strengths[np.arange(12), motion]
    assert np.all(np.abs(got - degree) <= 0.2 + 1e-6)            # captions fit the guide's reading


def test_gan_share_flag_is_checked(capsys, tmp_path):
    assert train_text_model.main(["--gan-share", "1.5", "--out", str(tmp_path / "c.pt")]) == 2
    assert "--gan-share takes a fraction" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
