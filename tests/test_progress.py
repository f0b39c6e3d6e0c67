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


def test_helpers_draw_their_bars_through_the_policy():
    """Only the policy imports tqdm; the training commands (never run in a notebook) set their own
    slower redraws. A loop that calls tqdm directly would bring back the redraw flood."""
    from pathlib import Path
    root = Path(progress.__file__).parent
    training = {"train_gan.py", "training.py", "train_encoder.py"}
    direct = [str(p.relative_to(root)) for p in root.rglob("*.py")
              if "tqdm" in p.read_text() and p.name != "progress.py" and p.name not in training]
    assert direct == []
    for name in training:
        for line in next(root.rglob(name)).read_text().splitlines():
            if "tqdm(" in line and "import" not in line:
                assert "mininterval=" in line, (name, line)
