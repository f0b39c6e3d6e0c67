#!/usr/bin/env bash
# Build the book on a fresh machine: venv, notebooks executed with papermill, strict HTML build.
#   bash .ci/book.sh        → book/_build/html/index.html (opens offline, from the files)
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh

stage "venv" ensure_venv
stage "vendored JS (npm)" vendor_js
stage "execute notebooks (papermill)" execute_notebooks
stage "build HTML (jupyter-book, strict)" build_book
