"""The GAN's quality measure: the Fréchet distance itself and the two degraded references."""
import numpy as np
import torch
from scipy import linalg

from helpers.worlds.synthfaces import quality


def closed_form(a, b):
    """Fréchet distance by the symmetric route tr((A^½ B A^½)^½), with eigendecompositions only."""
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    va, ua = np.linalg.eigh(ca)
    root_a = ua @ np.diag(np.sqrt(np.clip(va, 0, None))) @ ua.T
    inner = np.linalg.eigvalsh(root_a @ cb @ root_a)
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()


def test_frechet_distance_matches_the_closed_form_and_the_gaussians_it_samples():
    r = np.random.RandomState(0)
    a = r.standard_normal((4000, 6)) @ r.standard_normal((6, 6))     # non-commuting covariances
    b = r.standard_normal((3000, 6)) @ r.standard_normal((6, 6)) + 0.5
    assert np.isclose(quality.frechet_distance(a, b), closed_form(a, b), rtol=1e-6)
    assert abs(quality.frechet_distance(a, a)) < 1e-6
    # N(0, I) vs N(m, 4 I) in d dimensions: |m|² + d (1 + 4 − 2·2) = |m|² + d
    x, y = r.standard_normal((50_000, 5)), 2 * r.standard_normal((50_000, 5)) + 1.0
    assert np.isclose(quality.frechet_distance(x, y), 5 + 5, rtol=0.03)


def test_dead_units_do_not_break_the_distance():
    """Features that are zero everywhere (dead ReLUs) make the covariances singular."""
    r = np.random.RandomState(1)
    a, b = r.standard_normal((500, 8)), r.standard_normal((500, 8)) + 0.3
    a[:, :3] = b[:, :3] = 0.0
    d = quality.frechet_distance(a, b)
    assert np.isfinite(d) and np.isclose(d, quality.frechet_distance(a[:, 3:], b[:, 3:]), atol=1e-3)


def test_degraded_references_degrade_what_they_should():
    r = np.random.RandomState(2)
    images = torch.from_numpy(r.uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32))
    shuffled = quality.patch_shuffled(images, patch=8, seed=0)
    assert not torch.equal(shuffled, images)
    assert torch.equal(shuffled.flatten(2).sort(-1).values, images.flatten(2).sort(-1).values)
    assert torch.equal(quality.patch_shuffled(images, patch=8, seed=0), shuffled)
    assert torch.equal(quality.patch_shuffled(images, patch=32), images)      # one patch: nothing moves
    blurred = quality.blurred(images)
    assert blurred.shape == images.shape
    assert torch.allclose(blurred.mean([2, 3]), images.mean([2, 3]), atol=0.02)   # colours kept
    assert blurred.diff(dim=-1).abs().mean() < 0.3 * images.diff(dim=-1).abs().mean()  # detail gone


def test_a_non_finite_square_root_is_retried_with_nudged_covariances(monkeypatch):
    """When sqrtm fails on a singular product, the FID reference code's 1e-6 nudge is used."""
    r = np.random.RandomState(3)
    a, b = r.standard_normal((400, 5)), r.standard_normal((400, 5)) * 1.5
    expected = quality.frechet_distance(a, b)
    calls, sqrtm = [], linalg.sqrtm

    def failing_once(m):
        calls.append(m)
        return np.full_like(m, np.nan) if len(calls) == 1 else sqrtm(m)
    monkeypatch.setattr(quality.linalg, "sqrtm", failing_once)
    assert np.isclose(quality.frechet_distance(a, b), expected, rtol=1e-4) and len(calls) == 2


def test_training_history_plot_draws_losses_and_the_frechet_curve():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from helpers.worlds.synthfaces import quality, train_gan
    history = train_gan.training_history()
    ax = quality.plot_training_history(history)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["D loss", "G loss"] and len(ax.get_lines()[0].get_xdata()) == len(history["d"])
    twins = [a for a in ax.figure.axes if a is not ax]
    assert twins and twins[0].get_ylabel() == "Fréchet distance"
    assert sum(np.isfinite(history["fd"])) == len(twins[0].get_lines()[0].get_xdata())
    plt.close(ax.figure)
