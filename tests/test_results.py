"""The results file: intervals, atomic merges, refusals."""
import json
import multiprocessing
import os

import numpy as np
import pytest

from helpers import results


def test_wilson_matches_the_formula_and_stays_in_range():
    low, high = results.wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)       # Wilson (1927), 95 %
    assert results.wilson(0, 10)[0] == 0 and round(results.wilson(0, 10)[1], 4) == 0.2775
    assert results.wilson(10, 10)[1] == 1 and results.wilson(10, 10)[0] < 1
    assert np.diff(results.wilson(50, 100)) > np.diff(results.wilson(500, 1000))   # narrows with n
    with pytest.raises(ValueError, match="successes"):
        results.wilson(11, 10)


def test_bootstrap_is_seeded_and_covers_the_mean():
    x = np.random.RandomState(1).randn(200) + 3
    a, b = results.bootstrap(x), results.bootstrap(x)
    assert a == b and a[0] < x.mean() < a[1]
    assert abs((a[1] - a[0]) - 2 * 1.96 * x.std() / np.sqrt(200)) < 0.05   # about the normal width
    with pytest.raises(ValueError, match="at least 2 finite"):
        results.bootstrap([1.0, float("nan")])


def test_records_merge_into_one_file_and_bad_ones_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENV, str(tmp_path / "out" / "results.json"))
    ctx = dict(chapter="08_transfer", source="evaluation.score_direction", protocol="α in [0, 1]")
    results.record_fraction("text.monotonic.smile", 52, 100, **ctx)
    results.record_mean("text.slope.smile", [0.1, 0.2, 0.3], **ctx)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(data) == {"text.monotonic.smile", "text.slope.smile"}
    entry = data["text.monotonic.smile"]
    assert entry["value"] == 0.52 and entry["n"] == 100 and entry["low"] < 0.52 < entry["high"]
    assert set(entry) == set(results.FIELDS) and results.read() == data
    with pytest.raises(ValueError, match="inside its interval"):
        results.record("x.y", 2.0, 0.0, 1.0, 5, **ctx)
    with pytest.raises(ValueError, match="one word"):
        results.record("x y", 0.5, 0.0, 1.0, 5, **ctx)
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == data   # unchanged


def test_planted_links_are_not_followed(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (tmp_path / "results.json").symlink_to(outside)
    ctx = dict(chapter="c", source="s", protocol="p")
    with pytest.raises(ValueError, match="symbolic link"):
        results.record("a.b", 0.5, 0, 1, 3, file=tmp_path / "results.json", **ctx)
    (tmp_path / "results.json").unlink()
    (tmp_path / ".results.json.lock").symlink_to(tmp_path / "victim")
    with pytest.raises(ValueError, match="cannot lock"):
        results.record("a.b", 0.5, 0, 1, 3, file=tmp_path / "results.json", **ctx)
    assert outside.read_text() == "{}" and not (tmp_path / "victim").exists()


def _write_many(args):
    file, worker = args
    for i in range(15):
        results.record(f"w{worker}.r{i}", i, i, i, 1, chapter="c", source="s", protocol="p", file=file)


def test_concurrent_merges_lose_nothing(tmp_path):
    file = str(tmp_path / "results.json")
    with multiprocessing.get_context("fork").Pool(3) as pool:
        pool.map(_write_many, [(file, w) for w in range(3)])
    assert len(results.read(file)) == 45
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
