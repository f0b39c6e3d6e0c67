"""Execute every notebooks/[0-9]*.ipynb with papermill, on its default parameters, into book/chapters/.

One Python process drives them all (each notebook still gets a fresh kernel: no state leaks between
chapters). The executed copies keep their source names, so the book's order is the number prefixes'.
Each runs in book/chapters/, where nbval re-runs it too: files a notebook writes land beside the
page that shows them, and never in notebooks/. Every notebook runs even when one fails; the exit
code is 1 if any failed.
"""
import resource
import sys
import time
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent
SOURCES, CHAPTERS = ROOT / "notebooks", ROOT / "book" / "chapters"
CELL_TIMEOUT_S = 1800  # a guard against a hung cell, far above any chapter's cost on CPU
BUDGET_S, BUDGET_RSS_GB = 15 * 60, 4.0  # the book's budget on 2 CPU cores from an empty cache

notebooks = sorted(SOURCES.glob("[0-9]*.ipynb"))
if not notebooks:
    sys.exit(f"no notebooks/[0-9]*.ipynb in {SOURCES}")
CHAPTERS.mkdir(parents=True, exist_ok=True)
for stale in set(CHAPTERS.glob("*.ipynb")) - {CHAPTERS / nb.name for nb in notebooks}:
    stale.unlink()  # its source was removed or renamed: it must not stay in the book
(CHAPTERS / "results.json").unlink(missing_ok=True)  # this run's chapters write it afresh

failed = []
start = time.perf_counter()
for nb in notebooks:
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(nb, CHAPTERS / nb.name, cwd=CHAPTERS, kernel_name="python3",
                                   progress_bar=False, execution_timeout=CELL_TIMEOUT_S)
        status = "ok"
    except Exception as error:  # papermill has already written the notebook with the error in it
        failed.append(nb.name)
        status = f"FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}"
    # ru_maxrss of children: the largest resident size of any finished kernel so far (KiB on Linux)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"{time.perf_counter() - t0:7.1f} s  {nb.name}  {status}  (peak kernel memory so far {peak_gb:.2f} GB)",
          flush=True)

total = time.perf_counter() - start
peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
verdict = "within" if total <= BUDGET_S and peak_gb <= BUDGET_RSS_GB else "OVER"
print(f"book: {total / 60:.1f} min, peak kernel memory {peak_gb:.2f} GB — {verdict} the budget "
      f"({BUDGET_S // 60} min, {BUDGET_RSS_GB:.0f} GB on 2 cores from an empty cache)", flush=True)

if failed:
    sys.exit(f"{len(failed)} notebook(s) failed: {', '.join(failed)} (see book/chapters/)")
