"""Baselines (InterFaceGAN, GANSpace, SeFa) on planted data, and matched-effect scaling on synthfaces."""
import numpy as np
import pytest
import torch

from helpers import baselines, evaluation, worlds
from helpers.directions import builtin_direction
from helpers.worlds.synthfaces.renderer import factor_index


@pytest.fixture(scope="module")
def world():
    return worlds.load("synthfaces", device="cpu")


def planted(n=600, d=16, seed=0):
    rng = np.random.RandomState(seed)
    normal = torch.from_numpy(rng.randn(d)).float()
    normal /= normal.norm()
    x = torch.from_numpy(rng.randn(n, d)).float()
    return x, normal


def test_linear_svm_recovers_a_planted_boundary():
    x, normal = planted()
    y = torch.sign(x @ normal + 0.3)
    weight, bias = baselines.linear_svm(x, y)
    assert evaluation.cosine(weight, normal) > 0.95
    assert bias > 0                                  # the planted offset's side
    assert ((x.double() @ weight + bias).sign() == y.double()).double().mean() > 0.97


def test_linear_svm_needs_two_classes():
    x, _ = planted(n=10)
    with pytest.raises(ValueError, match="both classes"):
        baselines.linear_svm(x, torch.ones(10))


def test_interfacegan_direction_follows_the_scores():
    x, normal = planted(n=1000)
    scores = x @ normal + 0.1 * torch.randn(1000, generator=torch.Generator().manual_seed(0))
    boundary = baselines.interfacegan_direction(x, scores, ratio=0.2)
    assert evaluation.cosine(boundary.normal, normal) > 0.9
    assert abs(float(boundary.normal.norm()) - 1) < 1e-5
    assert boundary.accuracy > 0.95 and boundary.n_labelled == 400
    flipped = baselines.interfacegan_direction(x, -scores, ratio=0.2)
    assert evaluation.cosine(flipped.normal, normal) < -0.9     # higher score ↔ the normal's side
    with pytest.raises(ValueError, match="at least 2"):
        baselines.interfacegan_direction(x[:10], scores[:10], ratio=0.1)
    with pytest.raises(ValueError, match="NaN"):
        baselines.interfacegan_direction(x, scores.clone().index_fill_(0, torch.tensor([3]), float("nan")))
    with pytest.raises(ValueError, match="do not differ"):
        baselines.interfacegan_direction(torch.ones(100, 4), torch.arange(100.0), ratio=0.2)


def test_ganspace_finds_the_axis_of_most_variance():
    x, normal = planted(n=2000)
    x = x + 5 * torch.randn(2000, 1, generator=torch.Generator().manual_seed(1)) * normal
    axes = baselines.ganspace_components(x, k=3)
    assert abs(evaluation.cosine(axes[0], normal)) > 0.99
    assert torch.allclose(axes @ axes.T, torch.eye(3), atol=1e-5)


def test_sefa_axes_are_orthonormal_and_sorted(world):
    from helpers.stylegan2 import ModulatedConv2d
    axes = baselines.sefa_components(world.generator, k=5)
    assert axes.shape == (5, world.style_dim)
    assert torch.allclose(axes @ axes.T, torch.eye(5), atol=1e-4)
    a = torch.cat([m.modulation.weight.detach() for m in world.generator.modules() if isinstance(m, ModulatedConv2d)])
    a = a / a.norm(dim=1, keepdim=True)
    gains = (a @ axes.T).norm(dim=0)
    assert torch.all(gains[:-1] >= gains[1:] - 1e-4)            # largest first
    rand = torch.randn(100, world.style_dim, generator=torch.Generator().manual_seed(0))
    assert (a @ (rand / rand.norm(dim=1, keepdim=True)).T).norm(dim=0).max() <= gains[0] + 1e-4


def test_attribute_scores_are_the_guide_meter_readings(world):
    """InterFaceGAN's labels and the axis picks come from the guide: the judge only scores."""
    codes = world.sample_wplus(4, seed=3)
    f = world.measure(world.synthesize(codes), by="meter")
    both = baselines.attribute_scores(world, codes, ["smile", "age"])
    assert torch.allclose(both, f[:, [factor_index("smile"), factor_index("age")]], atol=1e-5)
    assert torch.allclose(baselines.attribute_scores(world, codes, "age"), both[:, 1])


def test_oracle_picks_the_axis_that_moves_the_factor(world):
    smile = builtin_direction(world, "smile", progress=False)[0]            # [num_ws, d]: W+ axes work too
    rng = np.random.RandomState(0)
    noise = [torch.from_numpy(rng.randn(*smile.shape)).float() for _ in range(2)]
    axes = torch.stack([noise[0] / noise[0].norm(), -smile / smile.norm(), noise[1] / noise[1].norm()])
    picked = baselines.pick_components(world, axes, ["smile"], world.sample_wplus(6, seed=5),
                                       step=float(smile.norm()))
    index, axis = picked["smile"]
    assert index == 1 and evaluation.cosine(axis, smile) > 0.99     # flipped to raise the smile


def test_matched_direction_reaches_the_asked_effect(world):
    probe = world.sample_wplus(8, seed=11)
    smile = builtin_direction(world, "smile", progress=False)[0]
    direction, reached = evaluation.matched_direction(world, probe, smile, "smile", effect=0.25)
    assert abs(reached - 0.25) < 0.06
    assert evaluation.cosine(direction, smile) > 0.999
    _, impossible = evaluation.matched_direction(world, probe, smile, "smile", effect=5.0)
    assert impossible < 1.0                                     # factors live in [0, 1]: reported, not faked


def test_rank_methods_orders_by_mean_monotonic_and_skips_unrated_side_effects():
    nan = float("nan")
    row = lambda g, p, i, o: dict(generated=g, photos=p, identity=i, others=o)
    table = {("weak", "smile"): row(0.2, 0.0, nan, nan), ("weak", "age"): row(0.4, 0.2, 0.5, 0.1),
             ("strong", "smile"): row(1.0, 0.8, 0.1, 0.3), ("strong", "age"): row(0.9, 0.7, 0.3, 0.5),
             ("idle", "smile"): row(0.0, 0.0, nan, nan), ("idle", "age"): row(0.0, 0.0, nan, nan)}
    ranked = baselines.rank_methods(table, ["smile", "age"])
    assert [s.name for s in ranked] == ["strong", "weak", "idle"]
    assert ranked[0].monotonic == pytest.approx((0.95 + 0.75) / 2)
    assert ranked[0].identity == pytest.approx(0.2) and ranked[0].others == pytest.approx(0.4)
    assert ranked[1].identity == pytest.approx(0.5)          # the NaN (not rated) is left out
    assert np.isnan(ranked[2].identity) and np.isnan(ranked[2].others)


def test_comparison_row_rates_side_effects_only_where_the_target_rose():
    """Chapter 11's rule: drift per unit rise, NaN where the target rose by less than effect / 2."""
    from types import SimpleNamespace
    curves = torch.tensor([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])          # rise 0.4 on both faces
    gen = SimpleNamespace(curves=curves, monotonic=1.0, identity_drift=0.08, other_motion_drift=0.04)
    pho = SimpleNamespace(monotonic=0.5)
    row = baselines.comparison_row(gen, pho, effect=0.5)
    assert row["rise"] == pytest.approx(0.4) and row["generated"] == 1.0 and row["photos"] == 0.5
    assert row["identity"] == pytest.approx(0.2) and row["others"] == pytest.approx(0.1)
    flat = baselines.comparison_row(gen, pho, effect=1.0)                # 0.4 < 1.0 / 2: not rated
    assert np.isnan(flat["identity"]) and np.isnan(flat["others"])


def test_sefa_weighs_every_channel_alike_as_its_released_code(world):
    """SeFa normalises each channel's weights: scaling one channel's affine map changes nothing."""
    import copy

    from helpers.stylegan2 import ModulatedConv2d
    g = copy.deepcopy(world.generator)
    before = baselines.sefa_components(g, k=4)
    with torch.no_grad():
        next(m for m in g.modules() if isinstance(m, ModulatedConv2d)).modulation.weight[0] *= 50
    after = baselines.sefa_components(g, k=4)
    assert torch.allclose((before * after).sum(1).abs(), torch.ones(4), atol=1e-4)
