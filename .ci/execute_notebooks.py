"""Execute every notebooks/[0-9]*.ipynb with papermill, on its default parameters, into book/chapters/.

One Python process drives them all (each notebook still gets a fresh kernel: no state leaks between
chapters). The executed copies keep their source names, so the book's order is the number prefixes'.
Each runs in book/chapters/, where nbval re-runs it too: files a notebook writes land beside the
page that shows them, and never in notebooks/. Every notebook runs even when one fails; the exit
code is 1 if any failed.
"""
import sys
import time
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent
SOURCES, CHAPTERS = ROOT / "notebooks", ROOT / "book" / "chapters"
CELL_TIMEOUT_S = 1800  # a guard against a hung cell, far above any chapter's cost on CPU

notebooks = sorted(SOURCES.glob("[0-9]*.ipynb"))
if not notebooks:
    sys.exit(f"no notebooks/[0-9]*.ipynb in {SOURCES}")
CHAPTERS.mkdir(parents=True, exist_ok=True)
for stale in set(CHAPTERS.glob("*.ipynb")) - {CHAPTERS / nb.name for nb in notebooks}:
    stale.unlink()  # its source was removed or renamed: it must not stay in the book

failed = []
for nb in notebooks:
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(nb, CHAPTERS / nb.name, cwd=CHAPTERS, kernel_name="python3",
                                   progress_bar=False, execution_timeout=CELL_TIMEOUT_S)
        status = "ok"
    except Exception as error:  # papermill has already written the notebook with the error in it
        failed.append(nb.name)
        status = f"FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}"
    print(f"{time.perf_counter() - t0:7.1f} s  {nb.name}  {status}", flush=True)

if failed:
    sys.exit(f"{len(failed)} notebook(s) failed: {', '.join(failed)} (see book/chapters/)")
