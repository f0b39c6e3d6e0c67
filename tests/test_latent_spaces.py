"""W+ bookkeeping, style mixing, truncation sweeps and the kurtosis used to tell Z from W."""
import numpy as np
import pytest
import torch

from helpers import latent_spaces as ls


def test_layer_groups_follow_stylegans_naming():
    """FFHQ 1024 px, 18 entries: 4–8 px coarse, 16–32 px middle, the rest fine; each entry once."""
    groups = ls.layer_groups(18, 1024)
    assert groups == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 18))}
    small = ls.layer_groups(10, 64)                   # synthfaces: 64 px, 10 entries
    assert sorted(sum(small.values(), [])) == list(range(10)) and small["fine"] == [8, 9]
    assert [ls.ws_resolution(i, 64) for i in (0, 1, 2, 9)] == [4, 4, 8, 64]


def test_mix_styles_takes_only_the_named_entries_from_b():
    a, b = torch.zeros(3, 10, 4), torch.arange(40.0).view(1, 10, 4)
    mixed = ls.mix_styles(a, b, [2, 5])
    assert torch.equal(mixed[:, [2, 5]], b[:, [2, 5]].expand(3, 2, 4))
    assert not mixed[:, [0, 1, 3, 4, 6, 7, 8, 9]].any()
    assert not a.any()                                 # the input is not modified


def test_truncation_sweep_is_the_line_from_the_centre_to_the_code():
    centre, w = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(0))
    rows = ls.truncation_sweep(w, centre, [0.0, 0.5, 1.0, 1.5])
    assert torch.allclose(rows[0], centre[0], atol=1e-6) and torch.allclose(rows[2], w[0], atol=1e-6)
    assert torch.allclose(rows[1], (centre[0] + w[0]) / 2, atol=1e-6)
    assert torch.allclose(rows[3] - rows[2], (w[0] - centre[0]) / 2, atol=1e-6)


@pytest.mark.parametrize("draw, expected", [
    (lambda r, n: r.standard_normal(n), 0.0),
    (lambda r, n: r.uniform(-1, 1, n), -1.2),
    (lambda r, n: r.laplace(size=n), 3.0),
])
def test_excess_kurtosis_of_known_distributions(draw, expected):
    r = np.random.RandomState(0)
    x = torch.from_numpy(np.stack([draw(r, 400_000), draw(r, 400_000)], 1))
    assert torch.allclose(ls.excess_kurtosis(x), torch.full((2,), expected, dtype=x.dtype), atol=0.1)


def test_parse_layers_reads_groups_entries_and_ranges():
    assert ls.parse_layers("middle", 10, 64) == [4, 5, 6, 7]
    assert ls.parse_layers("coarse, fine", 10, 64) == [0, 1, 2, 3, 8, 9]
    assert ls.parse_layers("0-3,8,2", 18, 1024) == [0, 1, 2, 3, 8]
    for bad, message in [("mouth", "neither a group"), ("", "neither a group"), ("-1", "neither a group"),
                         ("3-1", "empty range"), ("9-10", "outside this world's W\\+ entries 0-9")]:
        with pytest.raises(ValueError, match=message):
            ls.parse_layers(bad, 10, 64)


def test_restrict_to_layers_keeps_only_those_entries_with_or_without_a_batch_axis():
    d = torch.arange(1.0, 41.0).view(10, 4)
    kept = ls.restrict_to_layers(d, [2, 5])
    assert torch.equal(kept[[2, 5]], d[[2, 5]]) and kept.count_nonzero() == 8
    assert torch.equal(ls.restrict_to_layers(d[None], [2, 5]), kept[None])
