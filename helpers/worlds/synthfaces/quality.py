"""How good is the synthfaces GAN? Fréchet distance in the judge's feature space.

Taught in ``notebooks/00_synthfaces.ipynb``. FID uses Inception features trained on ImageNet; our
world has its own instrument, so the distance is measured in the 256-d features of the judge (the
meter that only scores, never guides) and read against references measured the same way: renders
vs renders (the floor) and degraded renders (what a bad model scores). How far the judge and the
guide meter agree on GAN images is :func:`meter_agreement`.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from . import renderer
from .meter import scoring_meter


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a [n, d] and b [m, d]."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU units make the covariances singular; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # nudge singular products, as the FID reference code does
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


@torch.no_grad()
def features(meter, images, batch: int = 256) -> np.ndarray:
    meter.eval()
    dev = next(meter.parameters()).device
    return torch.cat([meter.features(images[i:i + batch].to(dev)).cpu()
                      for i in range(0, len(images), batch)]).numpy().astype(np.float64)


def blurred(images: torch.Tensor, sigma_px: float = 1.5) -> torch.Tensor:
    """Gaussian blur: a stand-in for a model that draws the right layout without detail."""
    r = int(3 * sigma_px)
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma_px ** 2))
    k = (k / k.sum())
    c = images.shape[1]
    x = F.pad(images, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def patch_shuffled(images: torch.Tensor, patch: int = 16, seed: int = 0) -> torch.Tensor:
    """Faces cut into patches and reassembled at random: right colours, wrong structure."""
    n, c, h, w = images.shape
    g = torch.Generator().manual_seed(seed)
    p = images.unfold(2, patch, patch).unfold(3, patch, patch)          # n c gh gw p p
    gh, gw = p.shape[2], p.shape[3]
    p = p.reshape(n, c, gh * gw, patch, patch)[:, :, torch.randperm(gh * gw, generator=g)]
    return p.reshape(n, c, gh, gw, patch, patch).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


_FEATURES = weakref.WeakKeyDictionary()


def _feature_sets(world, n: int, seed: int) -> dict[str, np.ndarray]:
    """The judge's features of ``n`` renders (reference), ``n`` other renders, their degraded
    versions and ``n`` GAN samples (ψ = 1); computed once per world, size and seed."""
    memo = _FEATURES.setdefault(world, {})
    if (n, seed) not in memo:
        size, judge = world.resolution, scoring_meter(world)
        reference = renderer.render(renderer.sample_factors(n, seed=seed + 1), size=size, seeds=seed + 1)
        other = renderer.render(renderer.sample_factors(n, seed=seed + 2), size=size, seeds=seed + 2)
        samples = world.synthesize(world.sample_wplus(n, seed, truncation=1.0))
        memo[(n, seed)] = {"reference": features(judge, reference), "GAN samples (ψ = 1)": features(judge, samples),
                           "renders (floor)": features(judge, other),
                           "blurred renders": features(judge, blurred(other)),
                           "patch-shuffled renders": features(judge, patch_shuffled(other))}
    return memo[(n, seed)]


def gan_quality(world, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """Fréchet distances (the judge's features) of GAN samples and references, against renders."""
    sets = _feature_sets(world, n, seed)
    return {k: frechet_distance(v, sets["reference"]) for k, v in sets.items() if k != "reference"}


def fd_bootstrap(world, n: int = 1000, seed: int = 0, resamples: int = 40) -> dict[str, tuple]:
    """The GAN's and the floor's Fréchet distance with 95 % bootstrap intervals:
    ``{"gan" | "floor": (value, low, high)}``. Both feature sets are resampled (images with
    replacement) and the distance recomputed. A resample repeats images, which shifts every
    resampled distance up (fewer distinct images) without changing their spread much, so the
    interval is that spread centred on the value: ``FD − (median − 2.5th percentile)`` to
    ``FD + (97.5th percentile − median)``. The features are :func:`gan_quality`'s: this renders
    nothing new."""
    sets = _feature_sets(world, n, seed)
    rng, out = np.random.RandomState(seed), {}
    for key, name in (("gan", "GAN samples (ψ = 1)"), ("floor", "renders (floor)")):
        a, ref = sets[name], sets["reference"]
        boot = [frechet_distance(a[rng.randint(n, size=n)], ref[rng.randint(n, size=n)])
                for _ in range(resamples)]
        value = frechet_distance(a, ref)
        q_low, mid, q_high = np.percentile(boot, [2.5, 50, 97.5])
        out[key] = (value, float(max(0.0, value - (mid - q_low))), float(value + (q_high - mid)))
    return out


def agreement_r2(reference: torch.Tensor, other: torch.Tensor) -> np.ndarray:
    """Per column, R² of ``other`` as a reading of ``reference`` [n, k]: 1 − Σ(o − r)² / Σ(r − r̄)²
    (1: the same numbers; 0: no better than the mean; it also charges offsets and scale errors)."""
    r, o = reference.double(), other.double()
    return (1 - ((o - r) ** 2).sum(0) / ((r - r.mean(0)) ** 2).sum(0)).numpy()


def meter_agreement(world, n: int = 1000, seed: int = 0, boot: int = 1000) -> dict:
    """How far the guide meter's readings agree with the judge's on GAN samples (ψ = 1): R² per
    factor (:func:`agreement_r2`, the judge as reference), their mean over factors, and a 95 %
    bootstrap interval of that mean over images. Where two meters trained apart agree, a reading
    is the face's, not one network's quirk; where they do not, GAN images are off the renders'
    distribution for that factor."""
    from .renderer import FACTORS
    images = world.synthesize(world.sample_wplus(n, seed, truncation=1.0))
    judge, guide = world.measure(images), world.measure(images, by="meter")
    per = agreement_r2(judge, guide)
    rng = np.random.RandomState(seed)
    means = [agreement_r2(judge[idx], guide[idx]).mean()
             for idx in (torch.from_numpy(rng.randint(n, size=n)) for _ in range(boot))]
    low, high = np.percentile(means, [2.5, 97.5])
    return {"per_factor": dict(zip(FACTORS, per.tolist())), "mean": float(per.mean()),
            "low": float(low), "high": float(high), "n": n}


def plot_training_history(history: dict):
    """The GAN's training curve (``train_gan.training_history``): D and G losses and, on a second
    axis, the Fréchet distance against thousands of images seen, with the changes of R1 weight,
    renderer version and learning rate marked where they happened. Returns the matplotlib axes."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 2.6))
    kimg = history["images"] / 1000
    ax.plot(kimg, history["d"], label="D loss"); ax.plot(kimg, history["g"], label="G loss")
    ax.set_xlabel("thousand images seen"); ax.set_ylabel("loss")
    measured = np.isfinite(history["fd"])
    if measured.any():
        ax2 = ax.twinx()
        ax2.plot(kimg[measured], history["fd"][measured], "k.-", label="Fréchet distance")
        ax2.set_ylabel("Fréchet distance"); ax2.legend(loc="upper right")
    logged = np.flatnonzero(np.isfinite(history["r1"]))
    if len(logged):   # runs before the R1 weight was logged used the script's old default, 0.5
        switch = kimg[max(logged[0] - 1, 0)]          # the save before the first step trained with it
        ax.axvline(switch, color="gray", ls=":")
        ax.text(switch, ax.get_ylim()[1], f" R1 γ → {history['r1'][logged[0]]:g}", va="top", fontsize=8)
    for i in np.flatnonzero(np.diff(history["renderer"]) != 0):   # the last save before a new renderer
        ax.axvline(kimg[i], color="tab:red", ls=":")
        ax.text(kimg[i], ax.get_ylim()[0], f" renderer v{history['renderer'][i + 1]:g}", va="bottom",
                fontsize=8)
    lr = history["lr"]          # logged from the renderer change on; the runs before used the default 0.0025
    for i in np.flatnonzero(np.isfinite(lr)):
        if i == 0 or lr[i] != lr[i - 1]:
            ax.text(kimg[max(i - 1, 0)], np.mean(ax.get_ylim()), f" lr → {lr[i]:g}", fontsize=8, color="tab:red")
    ax.legend(loc="upper left")
    return ax

