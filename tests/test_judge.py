"""#23: an independent judge, one scoring protocol, the text model ranked on GAN images, an oracle
guide. The judge scores; nothing that scores takes part in an optimisation."""
import numpy as np
import pytest
import torch

from helpers import anchors, evaluation, text_ranking, worlds
from helpers.worlds.synthfaces import quality, renderer
from helpers.worlds.synthfaces.meter import JUDGE, FactorMeter, held_out, load_meter, r2_scores
from helpers.worlds.synthfaces.renderer import MICROMOTION_FACTORS, factor_index


def test_the_judge_is_another_network_that_reads_the_factors(world):
    assert world.has("judge") and world.judge is not world.meter
    assert world.judge.body[0][0].out_channels == JUDGE["width"] != world.meter.body[0][0].out_channels
    assert world.info["judge_sha256"] and world.info["judge_sha256"] != world.info["meter_sha256"]
    images, f = held_out(128, "photo", seed=778)
    r2 = r2_scores(world.judge.measure(images), f)
    for m in MICROMOTION_FACTORS:
        assert r2[m] > 0.9, (m, r2[m])
    assert "judge: yes" in repr(world)


def test_measure_scores_with_the_judge_and_optimisations_see_the_guide(world):
    x = world.synthesize(world.sample_wplus(6, seed=4))
    assert torch.equal(world.measure(x), world.judge.measure(x))
    assert torch.equal(world.measure(x, by="meter"), world.meter.measure(x))
    assert not torch.equal(world.measure(x), world.measure(x, by="meter"))
    with pytest.raises(ValueError, match="by must be 'judge' or 'meter'"):
        world.measure(x, by="oracle")
    # the guide is what identity losses and inversions use; the judge is in no optimisation
    assert world.identity_model is world.meter


def test_a_world_without_a_judge_scores_with_its_meter(world):
    w = worlds.World("toy", world.generator, "cpu", meter=world.meter)
    x = world.synthesize(world.sample_wplus(2, seed=5))
    assert not w.has("judge") and torch.equal(w.measure(x), world.meter.measure(x))


def test_meter_agreement_is_a_mean_inside_its_interval(world):
    out = quality.meter_agreement(world, n=120, boot=100)
    assert out["low"] <= out["mean"] <= out["high"] and out["n"] == 120
    assert set(out["per_factor"]) == set(renderer.FACTORS)
    # two meters trained apart read the micromotions of GAN faces alike (R² well above 0)
    assert np.mean([out["per_factor"][m] for m in MICROMOTION_FACTORS]) > 0.5
    same = quality.agreement_r2(torch.rand(50, 3), torch.rand(50, 3))
    assert (same < 0.2).all()


def test_judge_command_trains_its_own_width_and_seed(tmp_path):
    from helpers.worlds.synthfaces import train_meter
    out = tmp_path / "judge.pt"
    assert train_meter.main(["--judge", "--steps", "2", "--batch", "4", "--out", str(out)]) == 0
    meter = load_meter(out)
    assert isinstance(meter, FactorMeter) and meter.body[0][0].out_channels == JUDGE["width"]
    state = torch.load(out, weights_only=True)
    assert "--judge" in state["made_by"]
    # resumed, it keeps its width (the flag is not needed to know it)
    assert train_meter.main(["--resume", "--steps", "1", "--batch", "4", "--out", str(out)]) == 0
    assert load_meter(out).body[0][0].out_channels == JUDGE["width"]


# --------------------------------------------------------------------------- the scoring protocol
def test_equal_effect_puts_every_direction_at_the_protocol_effect(world):
    """Two lengths of one direction are the same direction under the protocol: same scale, same
    score. The median change on the probe at the chosen scale is the protocol's effect."""
    from helpers.directions import builtin_direction
    d, _ = builtin_direction(world, "smile", progress=False)
    targets = world.sample_wplus(12, seed=31)
    a = evaluation.judged_score(world, targets, d, "smile")
    b = evaluation.judged_score(world, targets, 7.0 * d, "smile")
    assert a.scale == pytest.approx(b.scale, rel=1e-4) and a.monotonic == b.monotonic
    assert a.effect == pytest.approx(evaluation.PROTOCOL.effect, abs=0.03)
    assert a.n == 12 and a.curves.shape == (12, len(evaluation.PROTOCOL.alphas))
    probe = evaluation.probe_codes(world)
    change = evaluation.effect_curve(world, probe, d / d.norm(), "smile", [a.scale])[0]
    assert change == pytest.approx(a.effect, abs=1e-4)
    assert "judged" in evaluation.PROTOCOL.describe()


def test_identity_drift_is_a_fraction_of_the_identity_range(world):
    ranges = evaluation.identity_ranges(world)
    assert ranges.shape == (len(renderer.IDENTITY_FACTORS),) and (ranges > 0.5).all()
    targets = world.sample_wplus(4, seed=8)
    d = torch.zeros(world.num_ws, world.style_dim)
    still = evaluation.score_direction(world, targets, d, "smile")
    assert still.identity_drift < 1e-5 and still.monotonic == 0   # standing still is not a motion


# --------------------------------------------------------------------------- ranking
def test_concordance_counts_pairs_apart_by_more_than_the_margin():
    strengths = [0.0, 0.5, 1.0, 1.05]
    right, total = text_ranking.concordance([1, 2, 3, 0], strengths, margin=0.1)
    assert (right, total) == (3, 5)         # pairs (0,1) (0,2) (1,2) right; (0,3) (1,3) wrong; (2,3) tie
    right, total = text_ranking.concordance([1, 2, 3, 0], strengths, groups=[0, 0, 1, 1], margin=0.1)
    assert (right, total) == (1, 1)
    out = text_ranking.ranking_accuracy(np.arange(40.0), np.linspace(0, 1, 40), resamples=50)
    assert out["accuracy"] == 1 and out["low"] <= 1 == out["high"]
    with pytest.raises(ValueError, match="no pair"):
        text_ranking.ranking_accuracy([1, 2], [0.5, 0.5])


def test_the_text_model_ranks_renders_and_is_measured_on_gan_images(world):
    on_renders = text_ranking.render_ranking(world, "smile", n=60)
    assert on_renders["accuracy"] > 0.85 and on_renders["pairs"] > 100
    on_gan = text_ranking.gan_ranking(world, "smile", n=60)
    assert 0 <= on_gan["low"] <= on_gan["accuracy"] <= on_gan["high"] <= 1
    images = text_ranking.gan_samples(world, 60)
    features = world.encode_image(images)
    again = text_ranking.gan_ranking(world, "smile", images=images, features=features)
    assert again["accuracy"] == pytest.approx(on_gan["accuracy"])     # one encoding, same numbers


def test_read_degree_is_the_zero_shot_expected_degree():
    sims = np.array([[0.30, 0.20, 0.10], [0.10, 0.20, 0.30], [0.2, 0.2, 0.2]])
    read = text_ranking.read_degree(sims, ("no", "50%", "100%"))
    assert read[0] < 0.01 and read[1] > 0.99 and read[2] == pytest.approx(0.5)


def test_degree_profile_reads_all_prompts_and_bounds_it_by_the_guide(world):
    images = text_ranking.gan_samples(world, 60, seed=3)
    prof = text_ranking.degree_profile(world, images, "eye_closure")
    acc = prof["per_degree"]
    assert len(acc) == len(prof["degrees"]) == 11
    assert acc[0] < 0.5 < acc[-1]            # "no eye closure" favours open eyes: anti-ranked
    for key in ("readout", "guide"):
        assert 0.5 < prof[key]["accuracy"] <= 1 and prof[key]["n"] == 60


# --------------------------------------------------------------------------- the oracle guide
def test_oracle_anchors_follow_the_degrees_and_are_cached(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    start = world.sample_wplus(1, seed=1)
    a = anchors.oracle_anchors(world, start, "smile", degrees=("no", "50%", "100%"), steps=20,
                               progress=False)
    assert a.shape == (1, 4, world.num_ws, world.style_dim) and torch.equal(a[0, 0], start[0])
    smile = world.measure(world.synthesize(a[0, 1:]))[:, factor_index("smile")]
    assert smile[0] < smile[1] < smile[2] and smile[2] - smile[0] > 0.3, smile
    again = anchors.oracle_anchors(world, start, "smile", degrees=("no", "50%", "100%"), steps=20,
                                   progress=False)
    assert torch.equal(a, again) and list((tmp_path / "anchors" / "oracle").glob("*.pt"))


def test_outlier_transfer_scores_corrupted_directions_at_the_clean_length(world):
    """Anchors along the built-in smile (12 rows, a start code then growing steps, 1 % noise): the
    clean direction transfers; a few corrupted coordinates leave robust PCA's direction where it was;
    the report holds every case for both methods."""
    from helpers.directions import builtin_direction
    smile = builtin_direction(world, "smile", progress=False)[0]
    start = world.sample_wplus(1, seed=2)[0]
    t = torch.linspace(0, 1.5, 12)[:, None, None]
    rng = np.random.RandomState(0)
    rows = start + t * smile + 0.01 * float(smile.std()) * torch.from_numpy(
        rng.randn(12, *smile.shape).astype(np.float32))
    out = evaluation.outlier_transfer(world, rows, "smile", world.sample_wplus(8, seed=21))
    assert set(out) == {"pca", "rpca"}
    for method in out.values():
        assert set(method) == {"clean", *evaluation.OUTLIER_CASES}
        assert method["clean"] >= 0.75
    assert out["rpca"]["rows 4, 8 (5 % of coordinates)"]["cosine"] > 0.9
    for case in evaluation.OUTLIER_CASES:      # PCA has no iterations; sparse outliers converge
        assert out["pca"][case]["unconverged"] == 0
    assert out["rpca"]["rows 4, 8 (5 % of coordinates)"]["unconverged"] == 0


def test_fd_bootstrap_gives_an_interval_around_each_distance(world):
    out = quality.fd_bootstrap(world, n=200, seed=3, resamples=12)
    for key in ("gan", "floor"):
        value, low, high = out[key]
        assert 0 <= low <= value <= high and high > low
    assert out["gan"][0] > out["floor"][2]        # the generator is measurably off the renders
    assert out["gan"][0] == pytest.approx(quality.gan_quality(world, n=200, seed=3)["GAN samples (ψ = 1)"])


def test_failing_link_names_the_first_link_that_reaches_the_goal():
    from helpers.evaluation import LINKS, DirectionScore, failing_link

    def s(p):
        return DirectionScore("smile", 0.1, p, 0.0, 0.0, torch.zeros(1, 5))
    assert failing_link(s(0.95), s(0.2), s(0.2)) == "none"
    assert failing_link(s(0.5), s(0.92), s(0.1)) == "text model"
    assert failing_link(s(0.5), s(0.6), s(1.0)) == "one identity's anchors"
    assert failing_link(s(0.5), s(0.6), s(0.7)) == "world"
    assert set(LINKS) == {"none", "text model", "one identity's anchors", "world"}
