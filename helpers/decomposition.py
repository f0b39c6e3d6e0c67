"""Robust PCA, PCA, low-rank reconstruction and the edit direction of a set of anchor codes.

Taught in ``notebooks/05_pca_vs_rpca.ipynb``. The paper stacks a micromotion's anchor codes as rows
of a matrix ``D`` [anchors, features], splits it into a low-rank part ``L`` and a sparse part ``S``
(robust PCA, Candès et al. 2011), keeps a rank-k reconstruction of ``L`` and reads the edit direction
off it. ``faithful=True`` reproduces the released code's solver settings so the book can show what
they change.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

RULES = ("last_minus_first", "principal")


@dataclass
class RPCAInfo:
    """What the solver did: per-iteration residual ‖D−L−S‖/‖D‖, rank of L and density of S."""

    iterations: int
    converged: bool
    lam: float
    mu: float
    residual: list = field(default_factory=list)
    rank: list = field(default_factory=list)
    sparsity: list = field(default_factory=list)


def _check_matrix(D, min_rows: int = 2) -> torch.Tensor:
    D = torch.as_tensor(D)
    if D.dim() != 2:
        raise ValueError(f"expected a matrix [anchors, features], got shape {tuple(D.shape)}")
    if D.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} anchors (rows) to find a subspace, got {D.shape[0]}: "
                         "add anchors (more prompts or frames)")
    if not torch.isfinite(D).all():
        raise ValueError("the anchor matrix contains NaN or Inf (a diverged optimisation?); "
                         "rerun the anchors with a smaller learning rate")
    return D.to(torch.float64)


def svd_threshold(X: torch.Tensor, tau: float) -> tuple[torch.Tensor, int]:
    """Singular value soft-thresholding: the proximal step of the nuclear norm. → (matrix, rank)."""
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    s = (s - tau).clamp(min=0)
    r = int((s > 0).sum())
    return (U[:, :r] * s[:r]) @ Vh[:r], r


def shrink(X: torch.Tensor, tau: float) -> torch.Tensor:
    """Entrywise soft-thresholding: the proximal step of the L1 norm."""
    return torch.sign(X) * (X.abs() - tau).clamp(min=0)


def robust_pca(D, lam: float | None = None, tol: float = 1e-7, max_iter: int = 1000,
               faithful: bool = False) -> tuple[torch.Tensor, torch.Tensor, RPCAInfo]:
    """Principal component pursuit ``min ‖L‖_* + λ‖S‖_1  s.t.  L + S = D`` → (L, S, info).

    Default solver: inexact augmented Lagrangian (Lin, Chen & Ma 2010) with μ growing by 1.5 per
    step, stopped when the *relative* residual ‖D−L−S‖_F/‖D‖_F < ``tol``. ``faithful=True`` runs the
    paper's code instead: fixed μ = m·n / (4·ΣD²) and the absolute number 1e-7·ΣD² compared to the
    relative residual, which stops after a few iterations. λ defaults to 1/√max(m, n).
    A matrix of zeros returns L = S = 0, converged. Works in float64; returns D's dtype.
    """
    D0 = torch.as_tensor(D)
    D = _check_matrix(D0)
    m, n = D.shape
    lam = 1 / math.sqrt(max(m, n)) if lam is None else float(lam)
    norm_fro = float(torch.linalg.norm(D))
    if norm_fro == 0:
        z = torch.zeros_like(D0)
        return z, z.clone(), RPCAInfo(0, True, lam, 0.0)
    sum_sq = norm_fro ** 2
    if faithful:
        mu, rho, mu_max = m * n / (4 * sum_sq), 1.0, math.inf
        stop = 1e-7 * sum_sq
        Y = torch.zeros_like(D)
    else:
        spec = float(torch.linalg.matrix_norm(D, ord=2))
        mu, rho = 1.25 / spec, 1.5
        mu_max = mu * 1e7
        stop = tol
        Y = D / max(spec, float(D.abs().max()) / lam)
    info = RPCAInfo(0, False, lam, mu)
    S = torch.zeros_like(D)
    L = torch.zeros_like(D)
    for it in range(1, max_iter + 1):
        L, r = svd_threshold(D - S + Y / mu, 1 / mu)
        S = shrink(D - L + Y / mu, lam / mu)
        Z = D - L - S
        Y = Y + mu * Z
        mu = min(mu * rho, mu_max)
        res = float(torch.linalg.norm(Z)) / norm_fro
        info.residual.append(res)
        info.rank.append(r)
        info.sparsity.append(float((S != 0).double().mean()))
        info.iterations = it
        if res < stop:
            info.converged = True
            break
    if not info.converged:
        warnings.warn(f"robust_pca did not converge in {max_iter} iterations (relative residual "
                      f"{info.residual[-1]:.2e} > {stop:.1e}); raise max_iter or tol", RuntimeWarning)
    return L.to(D0.dtype), S.to(D0.dtype), info


def pca(D, center: bool = True):
    """Deterministic PCA by SVD → (mean [features], components Vh [r, features], singular values [r])."""
    D = _check_matrix(D)
    mean = D.mean(0) if center else torch.zeros(D.shape[1], dtype=D.dtype)
    _, s, Vh = torch.linalg.svd(D - mean, full_matrices=False)
    # fix signs so results do not flip between runs/devices: largest entry of each component positive
    idx = Vh.abs().argmax(1)
    signs = torch.sign(Vh[torch.arange(len(Vh)), idx])
    return mean, Vh * signs[:, None], s


def low_rank(D, k: int, center: bool = True) -> torch.Tensor:
    """Best rank-``k`` approximation of the rows of D (around their mean when ``center``)."""
    D0 = torch.as_tensor(D)
    D = _check_matrix(D0)
    r = min(D.shape) - (1 if center else 0)
    if not 1 <= k <= r:
        raise ValueError(f"rank k={k} is out of range: a {D.shape[0]}×{D.shape[1]} matrix "
                         f"{'(centred) ' if center else ''}has rank at most {r}")
    mean = D.mean(0) if center else torch.zeros(D.shape[1], dtype=D.dtype)
    U, s, Vh = torch.linalg.svd(D - mean, full_matrices=False)
    return ((U[:, :k] * s[:k]) @ Vh[:k] + mean).to(D0.dtype)


def decompose_anchors(anchors: torch.Tensor, method: str = "rpca", mode: str = "per_layer",
                      rank: int = 4, faithful: bool = False, center: bool = True):
    """Low-rank anchors [k, num_ws, d] from raw anchors [k, num_ws, d] → (low-rank anchors, infos).

    ``method``: 'rpca' (robust PCA, then rank-``rank`` reconstruction of L), 'pca' (rank-``rank``
    reconstruction of the anchors themselves) or 'none'. ``mode``: 'per_layer' (one matrix per W+
    entry, as the paper's code) or 'flat' (one [k, num_ws·d] matrix).
    """
    if anchors.dim() != 3:
        raise ValueError(f"anchors must be W+ codes [k, num_ws, d], got shape {tuple(anchors.shape)}")
    if method not in ("rpca", "pca", "none"):
        raise ValueError(f"method must be 'rpca', 'pca' or 'none', got {method!r}")
    if mode not in ("per_layer", "flat"):
        raise ValueError(f"mode must be 'per_layer' or 'flat', got {mode!r}")
    if method == "none":
        return anchors.clone(), []
    k, num_ws, d = anchors.shape
    mats = [anchors[:, i] for i in range(num_ws)] if mode == "per_layer" else [anchors.reshape(k, -1)]
    out, infos = [], []
    for M in mats:
        if method == "rpca":
            L, _, info = robust_pca(M, faithful=faithful)
            infos.append(info)
        else:
            L = M
        out.append(low_rank(L, rank, center=center))
    if mode == "per_layer":
        return torch.stack(out, 1), infos
    return out[0].reshape(k, num_ws, d), infos


def edit_direction(anchors: torch.Tensor, rule: str = "last_minus_first", first: int = 0,
                   last: int = -2) -> torch.Tensor:
    """The micromotion's edit direction from (low-rank) anchors [k, ...] ordered by degree → [...].

    'last_minus_first' is the released code's rule: row ``last`` (the 90 % anchor, the 100 % row is
    dropped) minus row ``first`` (the start code). 'principal' is the first principal direction of the
    anchors, signed so that it points along the prompt order and scaled to the anchors' extent along it.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if anchors.shape[0] < 2:
        raise ValueError("need at least 2 anchors for a direction")
    if rule == "last_minus_first":
        return anchors[last] - anchors[first]
    flat = anchors.reshape(anchors.shape[0], -1).to(torch.float64)
    _, Vh, _ = pca(flat)
    v = Vh[0]
    scores = (flat - flat.mean(0)) @ v
    order = torch.arange(len(scores), dtype=torch.float64)
    if float(((order - order.mean()) * (scores - scores.mean())).sum()) < 0:
        v, scores = -v, -scores
    extent = float(scores.max() - scores.min())
    return (v * extent).reshape(anchors.shape[1:]).to(anchors.dtype)


def inject_outliers(anchors: torch.Tensor, rows, fraction: float = 0.05, scale: float = 5.0,
                    seed: int = 0) -> torch.Tensor:
    """A copy of ``anchors`` [k, ...] where ``rows`` have a random ``fraction`` of entries pushed by
    ±``scale`` standard deviations: anchors gone astray in a few coordinates, the case robust PCA is for."""
    rng = np.random.RandomState(seed)
    out = anchors.clone()
    flat = out.reshape(out.shape[0], -1)
    std = float(anchors.std())
    for r in rows:
        idx = rng.choice(flat.shape[1], max(1, int(fraction * flat.shape[1])), replace=False)
        signs = torch.from_numpy(rng.choice([-1.0, 1.0], len(idx))).to(flat.dtype)
        flat[r, torch.from_numpy(idx)] += scale * std * signs
    return out


def direction_from_anchors(anchors: torch.Tensor, method: str = "rpca", rank: int = 4,
                           rule: str = "last_minus_first", last: int = -2, mode: str = "per_layer") -> torch.Tensor:
    """The whole second step in one call: decompose anchors [k, num_ws, d] (rank capped at k − 1)
    and read the edit direction [num_ws, d] off the low-rank anchors."""
    low, _ = decompose_anchors(anchors, method, mode, min(rank, anchors.shape[0] - 1))
    return edit_direction(low, rule, last=last)


def per_identity_directions(anchor_sets, **kw) -> torch.Tensor:
    """Each identity's anchors [k, num_ws, d] decomposed on their own → directions [n, num_ws, d].

    Each person's micromotion subspace is their own (``notebooks/07_subspace_angles.ipynb``), so
    anchors are never pooled; the mean over identities (``.mean(0)``) is a direction less tied to
    any one face. ``kw`` go to :func:`direction_from_anchors`.
    """
    return torch.stack([direction_from_anchors(a, **kw) for a in anchor_sets])
