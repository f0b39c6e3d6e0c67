"""helpers.progress: the one progress-bar policy (a redraw at most once a second)."""
import io
import time

from helpers import progress


def redraws(**kwargs):
    out = io.StringIO()
    t = time.perf_counter()
    for _ in progress.bar(range(10 ** 7), desc="loop", file=out, **kwargs):
        if time.perf_counter() - t > 1.5:
            break
    return out.getvalue().count("\r")


def test_a_bar_redraws_about_once_a_second():
    # tqdm's default (10 a second) would redraw ~15 times in these 1.5 s: enough, over a minute-long
    # notebook cell, to overflow the output queue of a runner that reads it when the cell ends.
    assert 1 <= redraws() <= 4


def test_a_disabled_bar_draws_nothing():
    assert redraws(enabled=False) == 0
