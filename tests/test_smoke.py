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


def test_atomic_write_respects_umask(tmp_path):
    import os
    from helpers.files import atomic_write
    old = os.umask(0o022)
    try:
        p = atomic_write(tmp_path / "a" / "f.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert p.read_bytes() == b"x" and (p.stat().st_mode & 0o777) == 0o644
    assert [q.name for q in p.parent.iterdir()] == ["f.bin"]
