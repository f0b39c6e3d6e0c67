"""The package installs and imports cheaply: notebooks import helpers first thing."""
import subprocess
import sys
import time


def test_helpers_import_in_a_fresh_interpreter_is_fast():
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import helpers; print(helpers.__version__)"],
                          capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    assert done.stdout.strip(), "helpers has no __version__"
    assert elapsed < 2.0, f"`import helpers` took {elapsed:.2f} s: something heavy is imported eagerly"
