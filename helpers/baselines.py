"""Baseline edit directions the paper sets itself against: supervised and unsupervised.

Taught in ``notebooks/11_baselines.ipynb``. The paper's claim is that a dozen anchors of *one*
identity suffice, where "these works usually require additional models with a large number of
samples and fine-tuning".
These are those methods, each a direction in W [style_dim] (apply it to every W+ layer):

- :func:`interfacegan_direction` — supervised (Shen et al. 2020): label many sampled codes, keep the
  most and least ``ratio`` of them, fit a linear SVM; the boundary's unit normal is the direction.
- :func:`ganspace_components` — unsupervised (Härkönen et al. 2020): principal axes of many W codes.
- :func:`sefa_components` — unsupervised, closed form (Shen & Zhou 2021): eigenvectors of AᵀA, A the
  style affines' weights with unit columns.
- :func:`pick_components` — the unsupervised methods give axes, not names; which axis moves a factor
  (and its sign) is read off with the meter: an oracle, an upper bound on choosing them by eye.

Labels (:func:`attribute_scores`) come from the factor meter on synthfaces (InterFaceGAN used
attribute classifiers) and, on ffhq, from CLIP: how much more the image matches the template at
100 % than at "no".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Boundary:
    """A linear boundary in W: its unit ``normal`` [style_dim] and its accuracy on held-out codes."""

    normal: torch.Tensor
    accuracy: float
    n_labelled: int


def attribute_scores(world, codes: torch.Tensor, micromotions, batch: int = 16) -> torch.Tensor:
    """Scores of ``codes`` for one micromotion [n] or a list of them [n, k], from the images the codes
    make: the meter's reading (synthfaces), else CLIP's ``loss("no …") − loss("100 % …")``."""
    from .worlds.synthfaces.renderer import factor_index
    names = [micromotions] if isinstance(micromotions, str) else list(micromotions)
    if world.meter is None:
        ends = [world.prompts(m) for m in names]                 # "no …" and "100 % …" per name
        texts = world.encode_text([p for sweep in ends for p in (sweep[0], sweep[-1])]).view(len(names), 2, -1)
    scores = []
    for i in range(0, len(codes), batch):
        with torch.no_grad():
            images = world.synthesize(codes[i:i + batch], batch=batch)
            if world.meter is not None:
                # labels for training are the guide's reading: the judge only scores
                scores.append(world.measure(images, by="meter")[:, [factor_index(m) for m in names]])
            else:
                images = images.to(world.device)
                scores.append(torch.stack([(world.clip_loss(images, none[None]) - world.clip_loss(images, full[None])).cpu()
                                           for none, full in texts], 1))
    out = torch.cat(scores)
    return out[:, 0] if isinstance(micromotions, str) else out


def linear_svm(x: torch.Tensor, y: torch.Tensor, c: float = 1.0, max_iter: int = 200) -> tuple[torch.Tensor, float]:
    """Linear SVM ``(weight [d], bias)`` for labels ``y`` ∈ {−1, 1}: squared hinge, L2 penalty, ``c``.

    The objective of scikit-learn's ``LinearSVC`` (its default loss), minimised with L-BFGS in float64;
    the bias is not penalised.
    """
    if set(torch.unique(y).tolist()) != {-1.0, 1.0}:
        raise ValueError("labels must contain both classes, as -1 and 1")
    x, y = x.double(), y.double()
    w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=max_iter, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def objective():
        opt.zero_grad()
        margin = (1 - y * (x @ w[:-1] + w[-1])).clamp_min(0)
        loss = 0.5 * w[:-1].pow(2).sum() + c * margin.pow(2).sum()
        loss.backward()
        return loss

    opt.step(objective)
    w = w.detach()
    return w[:-1], float(w[-1])


def interfacegan_direction(codes: torch.Tensor, scores: torch.Tensor, ratio: float = 0.1,
                           split: float = 0.7, seed: int = 0) -> Boundary:
    """InterFaceGAN's boundary: codes [n, d] with attribute ``scores`` [n] → :class:`Boundary`.

    The ``ratio`` highest-scoring codes are positives and the lowest negatives (InterFaceGAN keeps 2 %
    of 500 000; with fewer samples keep more); ``split`` of each class trains, the rest measures accuracy.
    """
    n = len(codes)
    k = int(ratio * n)
    if k < 2:
        raise ValueError(f"ratio {ratio} of {n} codes keeps {k} per class: need at least 2 "
                         "(sample more codes or raise ratio)")
    if not torch.isfinite(scores).all():
        raise ValueError("scores contain NaN or Inf: label every code with a finite number")
    order = torch.argsort(scores.cpu())
    rng = np.random.RandomState(seed)
    n_train = max(1, int(split * k))
    train, test = [], []
    for idx in (order[:k], order[-k:]):                          # negatives, then positives
        idx = idx[torch.from_numpy(rng.permutation(k))]
        train.append(idx[:n_train]); test.append(idx[n_train:])
    x = codes.detach().cpu().double()
    y_train = torch.cat([-torch.ones(n_train), torch.ones(n_train)])
    y_test = torch.cat([-torch.ones(k - n_train), torch.ones(k - n_train)]).double()
    weight, bias = linear_svm(x[torch.cat(train)], y_train)
    if weight.norm() == 0:
        raise ValueError("no linear boundary separates the two classes: their codes do not differ")
    held = torch.cat(test)
    accuracy = float(((x[held] @ weight + bias).sign() == y_test).double().mean()) if len(held) else float("nan")
    return Boundary((weight / weight.norm()).float(), accuracy, 2 * k)


def ganspace_components(codes: torch.Tensor, k: int = 10) -> torch.Tensor:
    """The top ``k`` principal axes [k, d] (unit rows) of codes [n, d] in W, by variance."""
    x = codes.detach().double()
    _, _, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    return vh[:k].float()


def sefa_components(generator, k: int = 10) -> torch.Tensor:
    """SeFa's top ``k`` axes [k, style_dim]: eigenvectors of AᵀA, A = every style affine's weight
    [Σ channels, style_dim] with each channel's row scaled to unit norm (SeFa's code normalises
    each output channel's weight vector: its [style_dim, Σ] matrix column-wise), by eigenvalue."""
    from .stylegan2 import ModulatedConv2d
    a = torch.cat([m.modulation.weight.detach().double() for m in generator.modules()
                   if isinstance(m, ModulatedConv2d)])
    a = a / a.norm(dim=1, keepdim=True)
    values, vectors = torch.linalg.eigh(a.T @ a)           # ascending
    return vectors[:, values.argsort(descending=True)[:k]].T.float()


def pick_components(world, components: torch.Tensor, micromotions, probe: torch.Tensor,
                    step: float = 3.0) -> dict:
    """For each micromotion, the component (rows of ``components``: [k, d] in W, or [k, num_ws, d])
    that moves it most on ``probe`` codes [n, num_ws, d], signed to raise it (scored by
    :func:`attribute_scores`) → {micromotion: (index, signed axis)}.

    Each unit component is applied at ±``step`` to every layer; one set of renders serves all.
    """
    names = list(micromotions)
    n = len(probe)
    codes = torch.cat([torch.cat([probe + step * axis.to(probe), probe - step * axis.to(probe)])
                       for axis in components])
    score = attribute_scores(world, codes, names).view(len(components), 2, n, len(names))
    change = (score[:, 0] - score[:, 1]).mean(1)                 # [components, micromotions]
    out = {}
    for j, name in enumerate(names):
        best = int(change[:, j].abs().argmax())
        out[name] = (best, components[best] * (1.0 if change[best, j] >= 0 else -1.0))
    return out


@dataclass
class MethodSummary:
    """One method's line in chapter 11's ranking: ``monotonic`` is the mean over micromotions of the
    monotonic fractions, generated and inverted photos averaged; ``identity`` and ``others`` are the
    side effects per unit rise, the median over the micromotions where they were rated (NaN if none)."""

    name: str
    monotonic: float
    identity: float
    others: float


def comparison_row(generated, photos, effect: float) -> dict:
    """One method on one micromotion, from its scores (``evaluation.score_direction``) on generated
    faces and on inverted photos: the monotonic fraction on each, the target's mean rise on the
    generated faces, and the side effects per unit of that rise (identity and other-motion drift),
    rated only where the target rose by at least ``effect / 2``: a ratio to almost nothing says
    nothing, so it is NaN there."""
    rise = float((generated.curves[:, -1] - generated.curves[:, 0]).mean())
    moved = rise >= effect / 2
    return dict(generated=generated.monotonic, photos=photos.monotonic, rise=rise,
                identity=generated.identity_drift / rise if moved else float("nan"),
                others=generated.other_motion_drift / rise if moved else float("nan"))


def rank_methods(table: dict, motions) -> list[MethodSummary]:
    """``table[method, motion]`` = {generated, photos, identity, others} → one summary per method, best
    first by its mean monotonic fraction. Side effects are summarised by the median, not the mean: a
    micromotion the method barely moved has a ratio of drift to almost nothing (left NaN, not rated),
    and a few large ratios would swamp a mean."""
    def median_rated(name, key):
        rated = [v for v in (table[name, m][key] for m in motions) if not np.isnan(v)]
        return float(np.median(rated)) if rated else float("nan")

    names = list(dict.fromkeys(name for name, _ in table))
    out = [MethodSummary(name, (float(np.mean([table[name, m]["generated"] for m in motions]))
                                + float(np.mean([table[name, m]["photos"] for m in motions]))) / 2,
                         median_rated(name, "identity"), median_rated(name, "others"))
           for name in names]
    return sorted(out, key=lambda s: -s.monotonic)
