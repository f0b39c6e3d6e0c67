"""Benchmark robust PCA: ours (inexact ALM, torch) vs a reference ADMM in numpy, same answer.

The reference is the algorithm of the seed code the paper built on (fixed μ = m·n / (4‖D‖₁),
Candès et al. 2011), with a correct *relative* stopping rule. Both solve the same convex problem to
relative residual 1e-7 on a 12 × (18·512) anchor matrix; we print the speed ratio (goal ≥ 10×) and
how far apart the two solutions are.

    .venv/bin/python bench/rpca.py
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.decomposition import robust_pca  # noqa: E402


def reference_admm(D, tol=1e-7, max_iter=20000):
    """Principal component pursuit by ADMM with fixed μ, in numpy (the reference)."""
    m, n = D.shape
    mu = m * n / (4 * np.abs(D).sum())
    lam = 1 / np.sqrt(max(m, n))
    S = np.zeros_like(D)
    Y = np.zeros_like(D)
    norm = np.linalg.norm(D)
    for it in range(1, max_iter + 1):
        U, s, Vt = np.linalg.svd(D - S + Y / mu, full_matrices=False)
        L = (U * np.maximum(s - 1 / mu, 0)) @ Vt
        X = D - L + Y / mu
        S = np.sign(X) * np.maximum(np.abs(X) - lam / mu, 0)
        Z = D - L - S
        Y += mu * Z
        if np.linalg.norm(Z) / norm < tol:
            return L, S, it
    return L, S, max_iter


def anchor_matrix(seed=0, k=12, num_ws=18, d=512):
    """Anchor-like rows: a start code plus degrees along a low-rank path, noise and two outliers."""
    rng = np.random.RandomState(seed)
    start = rng.randn(num_ws * d)
    path = rng.randn(2, num_ws * d) * 0.3
    t = np.linspace(0, 1, k)
    D = start + np.outer(t, path[0]) + np.outer(t ** 2, path[1]) + 0.01 * rng.randn(k, num_ws * d)
    D[3, rng.choice(num_ws * d, 200, replace=False)] += 3.0   # an anchor gone astray in a few entries
    D[8, rng.choice(num_ws * d, 200, replace=False)] -= 3.0
    return D


def main():
    torch.set_num_threads(1)
    D = anchor_matrix()
    t = time.perf_counter()
    L_ref, S_ref, it_ref = reference_admm(D)
    t_ref = time.perf_counter() - t
    t = time.perf_counter()
    L, S, info = robust_pca(torch.from_numpy(D), tol=1e-7)
    t_ours = time.perf_counter() - t
    diff = np.linalg.norm(L.numpy() - L_ref) / np.linalg.norm(L_ref)
    print(f"matrix {D.shape[0]}×{D.shape[1]}, relative tolerance 1e-7, 1 thread")
    print(f"reference ADMM (numpy): {t_ref:7.3f} s, {it_ref} iterations")
    print(f"ours (inexact ALM):     {t_ours:7.3f} s, {info.iterations} iterations")
    print(f"speed ratio: {t_ref / t_ours:.1f}x (goal ≥ 10x); relative difference of L: {diff:.1e}")


if __name__ == "__main__":
    main()
