"""Energy curves, the matched-random null, angle matrices and the outlier study on planted data."""
import numpy as np
import torch

from helpers import evaluation, subspaces


def planted(k=12, n=200, rank=2, seed=0):
    rng = np.random.RandomState(seed)
    basis = rng.randn(rank, n)
    coeff = rng.randn(k, rank)
    return torch.from_numpy(coeff @ basis + rng.randn(n))  # a shared offset (the start code)


def test_energy_curve_of_rank_two_matrix_is_one_from_k_two():
    curve = subspaces.energy_curve(planted(), ks=range(1, 5))
    assert curve[0] < 0.999 and np.allclose(curve[1:], 1.0)
    assert np.all(np.diff(curve) >= -1e-12)


def test_matched_null_keeps_start_row_and_step_lengths_but_not_rank():
    D = planted()
    null = subspaces.matched_random_anchors(D, seed=1)
    assert torch.equal(null[0], D[0])
    assert torch.allclose((null - null[0]).norm(dim=1), (D - D[0]).norm(dim=1))
    assert subspaces.energy_curve(null, ks=[2])[0] < 0.5 < subspaces.energy_curve(D, ks=[2])[0]


def test_mean_angle_matrix_zero_for_same_subspace_and_90_for_orthogonal():
    e = np.eye(6)
    m = subspaces.mean_angle_matrix([e[:2], e[:2][::-1], e[2:4]])
    assert np.allclose(np.diag(m), 0) and abs(m[0, 1]) < 1e-6 and abs(m[0, 2] - 90) < 1e-6


def test_outlier_study_robust_pca_beats_pca_on_sparse_corruption():
    rng = np.random.RandomState(0)
    base = torch.from_numpy(rng.randn(12, 1, 1) * rng.randn(1, 4, 32) + rng.randn(1, 4, 32))
    study = evaluation.outlier_study(base, outlier_rows=[3, 7], rank=1, fraction=0.05, scale=20.0)
    assert study["rpca"]["relative_error"] < study["pca"]["relative_error"]
    assert study["rpca"]["direction_cosine"] > 0.99


def test_random_pair_direction_is_a_difference_of_two_rows_in_order():
    a = torch.arange(5.0)[:, None] * torch.ones(5, 3)
    d = evaluation.random_pair_direction(a, seed=3)
    assert torch.all(d > 0) and torch.allclose(d, d[0].expand_as(d))


def test_direction_from_anchors_recovers_planted_direction():
    from helpers import decomposition
    rng = np.random.RandomState(0)
    true = torch.from_numpy(rng.randn(4, 16))
    t = torch.linspace(0, 1, 12, dtype=torch.float64)
    anchors = torch.from_numpy(rng.randn(4, 16))[None] + t[:, None, None] * true + 1e-3 * torch.from_numpy(rng.randn(12, 4, 16))
    d = decomposition.direction_from_anchors(anchors, rank=2, last=-1)
    assert evaluation.cosine(d, true) > 0.999


def test_angle_pairs_groups_subspaces_as_claim_b_compares_them():
    motions = ["smile", "smile", "age", "age", "smile"]
    identities = [0, 1, 0, 1, 2]
    pairs = subspaces.angle_pairs(motions, identities)
    assert pairs["same micromotion"] == [(0, 1), (0, 4), (1, 4), (2, 3)]
    assert pairs["same identity"] == [(0, 2), (1, 3)]
    assert pairs["smile"] == [(0, 1), (0, 4), (1, 4)] and pairs["age"] == [(2, 3)]
