"""Spectra, energy and principal angles: is a micromotion low-rank, and shared across identities?

Taught in ``notebooks/06_low_rank.ipynb`` and ``notebooks/07_subspace_angles.ipynb``.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import subspace_angles

from .decomposition import _check_matrix


def spectrum(D, center: bool = True) -> np.ndarray:
    """Singular values of the (centred) rows of D, largest first."""
    D = _check_matrix(D)
    if center:
        D = D - D.mean(0)
    return torch.linalg.svdvals(D).numpy()


def energy(singular_values, k: int) -> float:
    """Fraction of the squared singular values in the top ``k``: Σ_{i≤k} σ² / Σ σ²."""
    s2 = np.asarray(singular_values, dtype=np.float64) ** 2
    if s2.sum() == 0:
        raise ValueError("all singular values are zero: the anchors are identical")
    return float(s2[:k].sum() / s2.sum())


def basis(D, k: int, center: bool = True) -> np.ndarray:
    """Orthonormal rows [k, features] spanning the top-``k`` principal subspace of D's rows."""
    D = _check_matrix(D)
    if center:
        D = D - D.mean(0)
    r = min(D.shape)
    if not 1 <= k <= r:
        raise ValueError(f"k={k} out of range for a {D.shape[0]}×{D.shape[1]} matrix")
    _, _, Vh = torch.linalg.svd(D, full_matrices=False)
    return Vh[:k].numpy()


def principal_angles(A, B) -> np.ndarray:
    """Principal angles in degrees, smallest first, between the row spaces of A [k1, n] and B [k2, n]."""
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(f"need two matrices with the same number of columns, got {A.shape} and {B.shape}")
    return np.sort(np.degrees(subspace_angles(A.T, B.T)))


def random_basis(n: int, k: int, rng: np.random.RandomState) -> np.ndarray:
    """A uniformly random k-dimensional subspace of R^n, as orthonormal rows [k, n]."""
    q, _ = np.linalg.qr(rng.randn(n, k))
    return q.T


def random_angles(n: int, k: int, trials: int = 200, seed: int = 0) -> np.ndarray:
    """Null distribution: principal angles [trials, k] between pairs of random k-subspaces of R^n."""
    rng = np.random.RandomState(seed)
    return np.stack([principal_angles(random_basis(n, k, rng), random_basis(n, k, rng))
                     for _ in range(trials)])


def flat_rows(anchors) -> torch.Tensor:
    """Anchor codes [k, num_ws, d] (or [k, n]) → one matrix [k, num_ws·d] in float64."""
    a = torch.as_tensor(anchors)
    return a.reshape(a.shape[0], -1).to(torch.float64)


def energy_curve(D, ks=range(1, 9), center: bool = True) -> np.ndarray:
    """Energy captured by the top k singular values for each k in ``ks`` (clipped to the rank)."""
    s = spectrum(D, center)
    return np.array([energy(s, min(k, len(s))) for k in ks])


def matched_random_anchors(anchors, seed: int = 0) -> torch.Tensor:
    """The null for a micromotion matrix: the same start row, and each other row moved from it by a
    random direction of the *same length* as the real anchor's move. Low rank in the real matrix
    beyond this null is structure, not an artefact of sizes."""
    D = flat_rows(anchors)
    rng = np.random.RandomState(seed)
    steps = torch.from_numpy(rng.randn(*D.shape))
    steps = steps / steps.norm(dim=1, keepdim=True) * (D - D[0]).norm(dim=1, keepdim=True)
    out = D[0] + steps
    out[0] = D[0]
    return out


def mean_angle_matrix(bases: list) -> np.ndarray:
    """Mean principal angle (degrees) between every pair of subspaces given as orthonormal rows."""
    n = len(bases)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = principal_angles(bases[i], bases[j]).mean()
    return out


def angle_pairs(motions, identities) -> dict:
    """Index pairs ``(a, b)``, a < b, of subspaces labelled by micromotion and identity, grouped the
    way the paper's claim (b) compares them: ``"same micromotion"`` (two identities),
    ``"same identity"`` (two micromotions of one identity), and each micromotion's own pairs under
    its name."""
    motions, identities = list(motions), list(identities)
    out = {"same micromotion": [], "same identity": [], **{m: [] for m in dict.fromkeys(motions)}}
    for a in range(len(motions)):
        for b in range(a + 1, len(motions)):
            if identities[a] == identities[b]:
                if motions[a] != motions[b]:
                    out["same identity"].append((a, b))
            elif motions[a] == motions[b]:
                out["same micromotion"].append((a, b))
            if motions[a] == motions[b]:
                out[motions[a]].append((a, b))
    return out

