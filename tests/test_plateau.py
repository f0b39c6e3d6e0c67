"""#25's curve fit: where a GAN's Fréchet distance is heading, and what the goal would take."""
import numpy as np
import pytest

from helpers.worlds.synthfaces import plateau


def test_fit_recovers_a_known_curve_and_its_goal():
    n = np.linspace(50_000, 400_000, 12)
    fd = plateau._curve(n / plateau.SCALE, 4.0, 60.0, 1.2)
    fd = fd + np.random.RandomState(0).normal(0, 0.3, len(n))
    f = plateau.fit(n, fd, goal=10.0, resamples=100)
    assert f["low"] <= f["f_inf"] <= f["high"] and abs(f["f_inf"] - 4.0) < 2.0
    truth = plateau.images_to(10.0, 4.0, 60.0, 1.2)
    assert np.isfinite(f["images_to_goal"]) and 0.5 < f["images_to_goal"] / truth < 2
    assert f["images_to_goal_low"] <= f["images_to_goal"] <= f["images_to_goal_high"]
    assert f["n"] == 12 and f["resamples"] > 50


def test_a_curve_that_levels_off_above_the_goal_never_reaches_it():
    n = np.linspace(300_000, 360_000, 8)
    fd = 34 + np.random.RandomState(1).normal(0, 0.4, len(n))
    f = plateau.fit(n, fd, goal=10.0, resamples=100)
    assert f["f_inf"] > 10 and not np.isfinite(f["images_to_goal"])
    row = {"fit": f, "images": 360_000.0, "sec_per_step": 1.5}
    assert plateau.goal_text(row).startswith("never")
    assert plateau.images_to(10, 12, 5, 1) == float("inf")
    with pytest.raises(ValueError, match="at least 4 saves"):
        plateau.fit([1e5, 2e5, 3e5], [50, 40, 35])


def test_the_committed_experiments_are_summarised():
    rows = plateau.summary()
    assert "shipped" in rows and rows["shipped"]["images"] > 3e5
    for row in rows.values():
        assert row["fitted"] in ("fd", "fd_judge") and row["saves"] >= 4
    table = plateau.table(rows)
    assert set(table) == {r["label"] for r in rows.values()}
    assert all(set(cells) == {"images seen", "last FD guide / judge", "F∞ (95 % interval)",
                              "images to FD 10"} for cells in table.values())
