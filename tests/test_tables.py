"""The book's plain-text tables: aligned columns, blanks for missing cells, clear errors."""
import pytest

from helpers import tables


def test_columns_line_up_and_missing_cells_stay_blank():
    text = tables.table({"smile": {"a": "83%", "bb": "5%"}, "eye_closure": {"bb": "100%", "c": "x"}},
                        title="scores", row_header="motion")
    lines = text.splitlines()
    assert lines[0] == "scores"
    assert lines[1].split() == ["motion", "a", "bb", "c"]
    # right-aligned: each cell ends where its column's label ends
    assert lines[2].startswith("smile ") and lines[3].startswith("eye_closure")
    assert lines[2].index("83%") + 3 == lines[1].index(" a") + 2
    assert lines[3].index("100%") + 4 == lines[1].index("bb") + 2
    assert lines[2].endswith("5%")              # no trailing blanks where "c" is missing
    assert lines[3].endswith("x")


def test_scores_and_percentages():
    assert tables.score(0.8333, 0.1234) == "83% (+0.123)"
    assert tables.score(0.0, -0.05) == "0% (-0.050)"
    assert tables.percent(float("nan")) == "–"
    assert tables.number(0.1234) == "0.12" and tables.number(2.0, "+.1f") == "+2.0"
    assert tables.number(float("nan")) == "–"


def test_an_empty_table_is_refused():
    with pytest.raises(ValueError, match="at least one row"):
        tables.table({})
