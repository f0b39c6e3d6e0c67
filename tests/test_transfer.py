"""Transfer and the ground-truth direction score, on a world whose latent space *is* the factors."""
import numpy as np
import pytest
import torch

from helpers import evaluation, transfer
from helpers.worlds.synthfaces import renderer
from helpers.worlds.synthfaces.renderer import FACTORS


class FactorWorld:
    """A stand-in world: a W+ code [1, 15] holds the factors themselves; the 'generator' renders them."""

    num_ws, style_dim, resolution, name, truncation = 1, len(FACTORS), 64, "factors", 0.7

    def __init__(self, meter):
        self.meter = meter

    def sample_wplus(self, n, seed=0, truncation=None):      # neutral faces: the probe set
        return renderer.sample_factors(n, seed=seed, neutral=True)[:, None].repeat(1, self.num_ws, 1)

    def synthesize(self, ws, batch=32):
        return renderer.render(ws[:, 0].clamp(0, 1), seeds=0)

    def measure(self, images):
        return self.meter.measure(images)


@pytest.fixture(scope="module")
def world():
    from helpers.worlds.synthfaces.meter import load_meter
    return FactorWorld(load_meter())


def test_transfer_is_affine_and_checks_shapes():
    w = torch.randn(3, 4, 8)
    d = torch.randn(4, 8)
    codes = transfer.transfer(w, d, [0, 0.5, 2])
    assert codes.shape == (3, 3, 4, 8)
    # (w + 2d) − w is 2d up to float32 rounding of w: an absolute tolerance (a relative one flaked)
    assert torch.allclose(codes[:, 2] - codes[:, 0], 2 * d.expand(3, 4, 8), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="another world"):
        transfer.transfer(w, torch.randn(18, 512), [0, 1])


def test_a_true_direction_scores_well_and_a_wrong_one_does_not(world):
    targets = renderer.sample_factors(24, seed=11, neutral=True)[:, None]  # [n, 1, 15]
    smile = torch.zeros(1, len(FACTORS))
    smile[0, renderer.factor_index("smile")] = 0.8
    good = evaluation.score_direction(world, targets, smile, "smile")
    assert good.slope > 0.5 and good.monotonic > 0.9
    assert good.identity_drift < 0.05 and good.other_motion_drift < 0.05
    age = torch.zeros(1, len(FACTORS))
    age[0, renderer.factor_index("age")] = 0.8
    wrong = evaluation.score_direction(world, targets, age, "smile")
    assert abs(wrong.slope) < 0.15 and wrong.other_motion_drift > 0.1
    assert good.curves.shape == (24, 5)


def test_a_direction_that_does_nothing_is_not_monotonic(world):
    targets = renderer.sample_factors(8, seed=12, neutral=True)[:, None]
    still = evaluation.score_direction(world, targets, torch.zeros(1, len(FACTORS)), "smile")
    assert still.monotonic == 0.0 and abs(still.slope) < 0.02


class MiddleLayerWorld(FactorWorld):
    """Ten W+ entries at 64 px (coarse 0–3, middle 4–7, fine 8–9); only the middle ones are drawn."""

    num_ws = 10

    def synthesize(self, ws, batch=32):
        return renderer.render(ws[:, 4:8].mean(1).clamp(0, 1), seeds=0)


def test_layer_group_scores_find_the_layers_that_carry_the_motion(world):
    from helpers.latent_spaces import layer_groups, restrict_to_layers
    layered = MiddleLayerWorld(world.meter)
    targets = renderer.sample_factors(16, seed=13, neutral=True)[:, None].repeat(1, 10, 1)
    smile = torch.zeros(10, len(FACTORS))
    smile[:, renderer.factor_index("smile")] = 0.8
    parts = [restrict_to_layers(smile, g) for g in layer_groups(10, 64).values()]
    assert torch.equal(sum(parts), smile) and not parts[0][4:].any()
    scores = evaluation.layer_group_scores(layered, targets, smile, "smile")
    assert list(scores) == ["all", "coarse", "middle", "fine"]
    # the whole direction at the protocol's equal effect: its slope is about that effect per unit α
    assert scores["all"].slope == pytest.approx(evaluation.PROTOCOL.effect, abs=0.06)
    assert scores["middle"].slope == pytest.approx(scores["all"].slope, abs=1e-6)
    for group in ("coarse", "fine"):                  # the renderer's per-row noise: not exactly 0
        assert abs(scores[group].slope) < 0.01 and scores[group].monotonic == 0


def _score(slope, drift=0.0):
    return evaluation.DirectionScore("smile", slope, 1.0, drift, drift, torch.zeros(1, 5))


def test_layer_reading_names_the_main_group_and_what_it_keeps():
    scores = {"all": _score(0.4, 0.04), "coarse": _score(0.02, 0.03), "middle": _score(0.3, 0.01),
              "fine": _score(0.1, 0.01)}
    r = evaluation.layer_reading(scores)
    assert r.main_group == "middle" and r.kept_share == pytest.approx(0.75)
    assert r.side_effects == pytest.approx((0.02 / 0.3) / (0.08 / 0.4))
    assert r.parts_over_whole == pytest.approx(0.42 / 0.4)
    still = evaluation.layer_reading({**scores, "all": _score(0.01, 0.01)})
    assert np.isnan(still.parts_over_whole)
    mixing = {"coarse": torch.zeros(len(FACTORS)), "middle": torch.zeros(len(FACTORS)), "fine": torch.zeros(len(FACTORS))}
    mixing["fine"][renderer.factor_index("smile")] = 0.2
    assert evaluation.storing_group(mixing, "smile") == "fine"


def test_variant_reading_finds_moving_sensitive_and_rule_gain():
    by_family = {"smile": {"percentages": (0.5, 0.10), "adjectives": (0.5, 0.09)},
                 "anger": {"percentages": (0.9, 0.30), "adjectives": (0.9, 0.10)},
                 "yaw": {"percentages": (0.0, 0.01), "adjectives": (0.0, -0.01)}}
    by_rule = {"smile": {"last_minus_first": (0.5, 0.10), "principal": (0.6, 0.20)},
               "anger": {"last_minus_first": (0.9, 0.01), "principal": (0.9, 0.40)},
               "yaw": {"last_minus_first": (0.0, 0.01), "principal": (0.0, 0.05)}}
    moving, sensitive, gain = evaluation.variant_reading(by_family, by_rule)
    assert moving == ["smile", "anger"] and sensitive == ["anger"]
    assert gain == {"smile": pytest.approx(2.0)}          # anger's last−first hardly moves: no ratio
