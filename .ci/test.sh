#!/usr/bin/env bash
# Every test: unit tests, the notebooks re-run and compared by nbval, the strict book build, and
# the built pages opened in a headless browser. Any failure fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
# The notebooks must run from an empty cache: no anchors or directions left by earlier runs.
export MICROMOTION_CACHE="$(mktemp -d -t micromotion-cache.XXXXXX)"

# pytest, where exit code 5 ("no tests collected") is a failure like any other, said out loud.
run_pytest() {
  local rc=0
  "$PY" -m pytest "$@" || rc=$?
  [ "$rc" -ne 5 ] || echo "pytest collected no tests: that is a failure here" >&2
  return "$rc"
}

stage "venv" ensure_venv
stage "notebook openings (badges --check)" "$PY" book/badges.py --check
stage "unit tests (pytest tests/)" run_pytest tests
stage "vendored JS (npm)" vendor_js
stage "execute notebooks (papermill)" execute_notebooks
# nbval re-runs each executed notebook in a fresh kernel and compares its outputs with papermill's:
# a notebook that does not reproduce itself fails. (Its sanitizer patterns must stay linear in the
# line length: an embedded GIF is one 300 kB line, and a backtracking pattern once took 10+ minutes.)
# nbval gets an empty cache of its own: a cached anchor skips its progress bar, and the re-run must
# compute everything again, exactly as papermill did, to count as a reproduction.
run_nbval() {
  export MICROMOTION_CACHE="$(mktemp -d -t micromotion-nbval.XXXXXX)"
  run_pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
    --nbval-cell-timeout 1800 book/chapters
}
stage "notebooks reproduce (nbval)" run_nbval
stage "build HTML (jupyter-book, strict)" build_book
stage "pages in a browser (chromium)" "$PY" tests/browser_check.py book/_build/html
