"""The paper's claims are judged from the results file by where their intervals lie."""

from helpers import claims


def entry(value, low, high, n=100):
    return {"value": value, "low": low, "high": high, "n": n}


def test_a_claim_is_judged_by_its_interval_against_the_bar():
    c = next(c for c in claims.CLAIMS if c.key == "text.monotonic.{m}")
    results = {"text.monotonic.smile": entry(0.97, 0.92, 0.99),
               "text.monotonic.anger": entry(0.9, 0.83, 0.95),
               "text.monotonic.age": entry(0.5, 0.4, 0.6)}
    assert claims.judge(c, results, "smile")["verdict"] == claims.REPLICATED
    assert claims.judge(c, results, "anger")["verdict"] == claims.UNDECIDED
    assert claims.judge(c, results, "age")["verdict"] == claims.NOT_REPLICATED
    assert claims.judge(c, results, "yaw")["verdict"] == claims.NOT_MEASURED


def test_a_claim_below_a_named_bar_reads_that_results_interval():
    c = next(c for c in claims.CLAIMS if not c.above)
    results = {"study.angle_random.mean": entry(74.0, 71.0, 77.0, 200),
               "study.angle_mean.text.smile": entry(40.0, 35.0, 45.0, 20),
               "study.angle_mean.text.yaw": entry(73.0, 70.0, 76.0, 20)}
    smile = claims.judge(c, results, "smile")
    assert smile["verdict"] == claims.REPLICATED and smile["bar"] == 71.0
    assert claims.judge(c, results, "yaw")["verdict"] == claims.UNDECIDED
    del results["study.angle_random.mean"]
    assert claims.judge(c, results, "smile")["verdict"] == claims.NOT_MEASURED


def test_every_claim_names_a_chapter_that_exists():
    from pathlib import Path
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    for c in claims.CLAIMS:
        assert (notebooks / f"{c.chapter}.ipynb").is_file(), c.chapter
    assert [c.number for c in claims.CLAIMS] == list(range(1, len(claims.CLAIMS) + 1))
    assert len(claims.verdicts({})) == len(claims.CLAIMS) * 5


def test_too_few_samples_leave_a_claim_undecided_whatever_its_interval():
    c = next(c for c in claims.CLAIMS if c.key == "text.monotonic.{m}")
    few = claims.judge(c, {"text.monotonic.smile": entry(1.0, 1.0, 1.0, n=2)}, "smile")
    assert few["verdict"] == claims.UNDECIDED and "n = 2" in few["reason"]
