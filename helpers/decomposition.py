"""Robust PCA, PCA, low-rank reconstruction and the edit direction of a set of anchor codes.

Taught in ``notebooks/05_pca_vs_rpca.ipynb``. The paper stacks a micromotion's anchor codes as rows
of a matrix ``D`` [anchors, features], splits it into a low-rank part ``L`` and a sparse part ``S``
(robust PCA, Candès et al. 2011), keeps a rank-k reconstruction of ``L`` and reads the edit direction
off it. ``faithful=True`` reproduces the released code's solver settings so the book can show what
they change.
"""
from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

RULES = ("last_minus_first", "principal")


@dataclass
class RPCAInfo:
    """What the solver did for one matrix: per-iteration primal residual ‖D−L−S‖/‖D‖, dual residual
    μ‖S−S_prev‖/‖D‖, rank of L and density of S; the final objective ‖L‖_* + λ‖S‖_1 (of a pair
    that may miss the constraint by the primal residual, so it can fall below the optimum), the
    ``feasible_objective`` of the pair (L, D − L), which cannot, and ``gap``, a certified bound on
    the distance to the optimum that needs no reference solution: the solver's multiplier scaled
    into the dual's feasible set {‖Y‖₂ ≤ 1, |Y|ᵢⱼ ≤ λ} gives a lower bound ⟨Ŷ, D⟩ on the optimum
    (weak duality), and ``gap`` = (feasible_objective − lower) / lower. Compare solvers by their
    ``feasible_objective``."""

    iterations: int
    converged: bool
    lam: float
    mu: float
    residual: list = field(default_factory=list)
    dual: list = field(default_factory=list)
    rank: list = field(default_factory=list)
    sparsity: list = field(default_factory=list)
    objective: float = float("nan")
    feasible_objective: float = float("nan")
    gap: float = float("nan")


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


def svd_threshold(X: torch.Tensor, tau) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular value soft-thresholding, the proximal step of the nuclear norm, on a batch
    [..., m, n] with one ``tau`` per matrix → (matrices, ranks).

    Through the Gram matrix of the short side: for 12 anchors, an eigen-decomposition of 12 × 12
    instead of an SVD of 12 × n. Squaring costs precision only in singular values far below the
    threshold, which it sets to zero anyway (float64 keeps those above it to ~1e-12).
    """
    if X.shape[-2] > X.shape[-1]:
        out, r = svd_threshold(X.mT, tau)
        return out.mT, r
    tau = torch.as_tensor(tau, dtype=X.dtype).reshape(*X.shape[:-2], 1)
    w, U = torch.linalg.eigh(X @ X.mT)
    s = w.clamp(min=0).sqrt()
    keep = s > tau
    scale = torch.where(keep, 1 - tau / torch.where(keep, s, 1.0), 0.0)
    return (U * scale[..., None, :]) @ (U.mT @ X), keep.sum(-1)


MU_GROWTH, MU_CAP, RELAX = 1.5, 100.0, 1.8   # see robust_pca; measured in bench/rpca.py


def robust_pca(D, lam: float | None = None, tol: float = 1e-6, max_iter: int = 10000,
               faithful: bool = False) -> tuple[torch.Tensor, torch.Tensor, RPCAInfo | list[RPCAInfo]]:
    """Principal component pursuit ``min ‖L‖_* + λ‖S‖_1  s.t.  L + S = D`` → (L, S, info).

    ``D`` is one matrix [m, n] (info: an :class:`RPCAInfo`) or a batch [b, m, n] of independent
    problems solved together (info: one per matrix; each matrix gets the answer it would get alone).
    Inexact augmented Lagrangian (Lin, Chen & Ma 2010) with over-relaxation 1.8 (Eckstein &
    Bertsekas; Boyd et al. 2011, §3.4.3): μ starts at 1.25/‖D‖₂ and grows ×1.5 per step up to 100 ×
    that, and a matrix stops when both the primal residual ‖D−L−S‖/‖D‖ and the dual residual
    μ‖S−S_prev‖/‖D‖ are below ``tol``: the two conditions of optimality. (A residual test alone,
    with μ growing without bound, stops where the thresholds 1/μ and λ/μ have vanished and L, S no
    longer move: feasible, not optimal.) At ``tol`` = 1e-6 the objective ‖L‖_* + λ‖S‖_1 is within
    1e-6 of the optimum (1e-7 measured) and L within 1e-4 on anchor-shaped matrices (tests;
    the cap, the relaxation and the count of iterations: bench/RESULTS.md). ``faithful=True``
    runs the released code instead: fixed μ = m·n / (4·ΣD²) and the absolute number 1e-7·ΣD²
    compared to the relative residual, which stops after a few iterations. λ defaults to
    1/√max(m, n). A matrix of zeros returns L = S = 0, converged. Works in float64; returns D's
    dtype.
    """
    D0 = torch.as_tensor(D)
    single = D0.dim() != 3
    D = _check_matrix(D0)[None] if single else torch.stack([_check_matrix(M) for M in D0])
    b, m, n = D.shape
    lam = 1 / math.sqrt(max(m, n)) if lam is None else float(lam)
    norm = torch.linalg.norm(D, dim=(1, 2))
    L, S = torch.zeros_like(D), torch.zeros_like(D)
    zero = dict(objective=0.0, feasible_objective=0.0, gap=0.0)
    infos = [RPCAInfo(0, True, lam, 0.0, **zero) if float(v) == 0 else None for v in norm]
    todo = [i for i, info in enumerate(infos) if info is None]
    if todo:
        _solve(D, norm, L, S, infos, todo, lam, tol, max_iter, faithful)
    L, S = L.to(D0.dtype), S.to(D0.dtype)
    return (L[0], S[0], infos[0]) if single else (L, S, infos)


def _solve(D, norm, L, S, infos, todo, lam, tol, max_iter, faithful):
    """Iterate on the matrices ``todo`` of the batch ``D``; each leaves the batch when it stops,
    and its L, S and :class:`RPCAInfo` are written in place."""
    live = list(todo)
    Dd, nd = D[live], norm[live]
    m, n = D.shape[1:]
    if faithful:
        mu = m * n / (4 * nd ** 2)
        mu_max, stop = mu, 1e-7 * nd ** 2
        Y = torch.zeros_like(Dd)
    else:
        spec = torch.linalg.matrix_norm(Dd, ord=2)
        mu = 1.25 / spec
        mu_max, stop = mu * MU_CAP, torch.full_like(mu, tol)
        Y = Dd / torch.maximum(spec, Dd.abs().amax((1, 2)) / lam)[:, None, None]
    # scaled form: U = Y/μ; over-relaxation R = αL + (1−α)(D − S); then the S step's clamp is U's update
    mu0, Sd, U = mu.clone(), torch.zeros_like(Dd), Y / mu[:, None, None]
    alpha = 1.0 if faithful else RELAX
    history = {i: [] for i in live}
    for it in range(1, max_iter + 1):
        Ld, rank = svd_threshold((Dd - Sd).add_(U), 1 / mu)
        F = Dd - Ld
        B = (F * alpha).add_(Sd, alpha=1 - alpha).add_(U) if alpha != 1 else F + U   # D − R + U
        t = (lam / mu)[:, None, None]
        U = torch.clamp(B, -t, t)       # S = B − clamp(B, −t, t): soft-thresholding, the L1 prox
        Sn = B.sub_(U)
        primal = torch.linalg.norm(F.sub_(Sn), dim=(1, 2)) / nd
        dual = mu * torch.linalg.norm(Sn - Sd, dim=(1, 2)) / nd
        Sd = Sn
        for i, row in zip(live, torch.stack([primal, dual, rank.double(), torch.count_nonzero(
                Sn, dim=(1, 2)).double() / (m * n)], 1).tolist()):
            history[i].append(row)
        done = primal < stop if faithful else (primal < stop) & (dual < stop)
        grown = torch.minimum(mu * MU_GROWTH, mu_max)
        if not torch.equal(grown, mu):
            U, mu = U * (mu / grown)[:, None, None], grown
        leaving = done | (it == max_iter)
        if not leaving.any():
            continue
        for k in leaving.nonzero().flatten().tolist():
            i = live[k]
            L[i], S[i] = Ld[k], Sd[k]
            columns = [list(c) for c in zip(*history.pop(i))]
            nuclear = float(torch.linalg.svdvals(Ld[k]).sum())
            objective = nuclear + lam * float(Sd[k].abs().sum())
            upper = nuclear + lam * float((Dd[k] - Ld[k]).abs().sum())    # the feasible pair
            Yk = U[k] * mu[k]     # the multiplier
            scale = max(float(torch.linalg.matrix_norm(Yk, ord=2)), float(Yk.abs().max()) / lam, 1.0)
            lower = float((Yk * Dd[k]).sum()) / scale
            infos[i] = RPCAInfo(it, bool(done[k]), lam, float(mu0[k]), *columns[:2],
                                [int(r) for r in columns[2]], columns[3], objective=objective,
                                feasible_objective=upper,
                                gap=(upper - lower) / lower if lower > 0 else math.inf)
        stay = ~leaving
        if not stay.any():
            break
        live = [i for i, s in zip(live, stay.tolist()) if s]
        Dd, nd, U, Sd, mu, mu_max, stop, mu0 = (x[stay] for x in (Dd, nd, U, Sd, mu, mu_max, stop, mu0))
    failed = [i for i in todo if not infos[i].converged]
    if failed:
        worst = max(max(infos[i].residual[-1], infos[i].dual[-1]) for i in failed)
        warnings.warn(f"robust_pca did not converge in {max_iter} iterations on {len(failed)} of "
                      f"{len(todo)} matrices (largest residual {worst:.2e} > {tol:.1e}); raise "
                      "max_iter or tol", RuntimeWarning)


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
    mats = anchors.transpose(0, 1) if mode == "per_layer" else anchors.reshape(1, k, -1)
    infos = []
    if method == "rpca":     # the W+ entries' problems are independent: solved as one batch
        mats, infos = _robust_pca_remembered(mats, faithful)
    out = [low_rank(M, rank, center=center) for M in mats]
    if mode == "per_layer":
        return torch.stack(out, 1), infos
    return out[0].reshape(k, num_ws, d), infos


_SOLVED: OrderedDict = OrderedDict()    # (content hash, faithful) → (L, infos); the last 256


def _robust_pca_remembered(mats: torch.Tensor, faithful: bool):
    """``robust_pca`` of a batch, remembered by content: chapters decompose the same anchors again
    for every rank, rule or template they compare, and the answer cannot change."""
    x = mats.detach().cpu().contiguous()
    key = (hashlib.sha1(x.numpy().tobytes()).hexdigest(), tuple(x.shape), str(x.dtype), faithful)
    if key not in _SOLVED:
        L, _, infos = robust_pca(x, faithful=faithful)
        _SOLVED[key] = (L, infos)
        if len(_SOLVED) > 256:
            _SOLVED.popitem(last=False)
    _SOLVED.move_to_end(key)
    L, infos = _SOLVED[key]
    return L.to(mats.device).clone(), list(infos)


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


def planted_anchors(k: int = 12, num_ws: int = 18, d: int = 512, seed: int = 0) -> torch.Tensor:
    """Anchor-like codes [k, num_ws·d] with a known structure: a start code, degrees along a
    curved two-dimensional path, 1 % noise, and two anchors gone astray in 200 coordinates each.
    The shape of the paper's anchor matrix (12 × 18·512 at FFHQ, 12 × 10·128 in synthfaces), for
    tests and ``bench/rpca.py``."""
    rng = np.random.RandomState(seed)
    start = rng.randn(num_ws * d)
    path = rng.randn(2, num_ws * d) * 0.3
    t = np.linspace(0, 1, k)
    D = start + np.outer(t, path[0]) + np.outer(t ** 2, path[1]) + 0.01 * rng.randn(k, num_ws * d)
    astray = min(200, num_ws * d // 4)
    D[3 % k, rng.choice(num_ws * d, astray, replace=False)] += 3.0
    D[8 % k, rng.choice(num_ws * d, astray, replace=False)] -= 3.0
    return torch.from_numpy(D)


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
