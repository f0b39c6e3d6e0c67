"""Progress bars for the helpers' long loops: one policy, a redraw at most once a second.

In a notebook every redraw is a message on the kernel's output channel. A runner that reads those
only when a cell ends (nbval in CI) can hold about two thousand; past that ZeroMQ drops the newest,
the cell's closing 'idle' among them, and the runner fails the cell after waiting 5 s for output. Ten
text-anchor bars in one minute-long cell at tqdm's default 10 redraws a second did exactly that.
"""
MININTERVAL = 1.0   # seconds between redraws


def bar(iterable=None, *, desc: str, enabled: bool = True, **kwargs):
    """``tqdm.auto`` over ``iterable`` (a widget in notebooks, text elsewhere), off if not ``enabled``."""
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, disable=not enabled, mininterval=MININTERVAL, **kwargs)
