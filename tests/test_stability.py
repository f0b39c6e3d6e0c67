"""The committed stability table (chapter 3): made with the shipped weights, and reproducible."""
import json

import numpy as np
import pytest

from helpers import stability


def test_the_table_is_for_the_shipped_weights_and_every_micromotion(world):
    table = stability.load_table(world)
    assert set(table["rows"]) == set(world.templates) and table["nudges"] == stability.NUDGES
    for row in table["rows"].values():
        assert len(row["cosines"]) == len(row["nudged_monotonic"]) == stability.NUDGES


def test_a_stale_or_foreign_table_is_refused(world, tmp_path):
    table = json.loads(stability.TABLE.read_text())
    table["world_files"]["synthfaces_clip.pt"] = "0" * 64
    stale = tmp_path / "stability.json"
    stale.write_text(json.dumps(table))
    with pytest.raises(ValueError, match="synthfaces_clip.pt changed since"):
        stability.load_table(path=stale)
    with pytest.raises(ValueError, match="no stability table"):
        stability.load_table(path=tmp_path / "missing.json")


def test_a_row_is_reproduced(world, tmp_path, monkeypatch):
    """Anger's row remade from scratch (its anchors too: an empty cache) agrees with the table:
    its directions are stable, so rounding between runs moves the cosines by far less than 0.01."""
    monkeypatch.setenv("MICROMOTION_CACHE", str(tmp_path))
    row = stability.measure(world, "anger")
    saved = stability.load_table(world)["rows"]["anger"]
    assert np.allclose(row["cosines"], saved["cosines"], atol=0.01)
    assert abs(row["base_monotonic"] - saved["base_monotonic"]) <= 0.07   # 1 of 16 targets
    assert abs(row["base_slope"] - saved["base_slope"]) < 0.02


def test_the_command_takes_no_options(capsys):
    assert stability.main(["--nudges", "3"]) == 2
    assert "usage: python -m helpers.stability" in capsys.readouterr().err
