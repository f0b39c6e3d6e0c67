# Shared steps of .ci/book.sh and .ci/test.sh. Source it from the repository root.
set -euo pipefail

VENV=.venv
PY="$VENV/bin/python"
TORCH_PIN="torch==2.13.0"   # a CPU wheel here; plain `torch` would pull a multi-GB CUDA build
STAGE_TIMES=()
# Kernels inherit this: it silences the debugger's frozen-modules note, which nbval would compare.
export PYDEVD_DISABLE_FILE_VALIDATION=1

CURRENT_STAGE=""

# stage NAME CMD...: run one step, print its wall time, and remember it for the summary.
stage() {
  local name=$1 t0=$SECONDS; shift
  echo "==> $name"; CURRENT_STAGE=$name
  "$@"
  STAGE_TIMES+=("$(printf '%6ss  %s' $((SECONDS - t0)) "$name")"); CURRENT_STAGE=""
  echo "<== $name: $((SECONDS - t0)) s"
}

# On exit, success or not: the time table, and which stage failed.
print_stage_times() {
  local rc=$?
  echo "---- wall time per stage ----"
  [ ${#STAGE_TIMES[@]} -eq 0 ] || printf '%s\n' "${STAGE_TIMES[@]}"
  [ -z "$CURRENT_STAGE" ] || echo "FAILED in stage: $CURRENT_STAGE (exit code $rc)"
  return "$rc"
}
trap print_stage_times EXIT

# The project venv. Reinstalling takes a minute, so it is skipped while pyproject.toml and this file are unchanged.
ensure_venv() {
  [ -x "$PY" ] || python3 -m venv "$VENV"
  local stamp="$VENV/.installed" want
  want=$(cat pyproject.toml .ci/lib.sh | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "venv up to date ($VENV)"; return
  fi
  # torch first and pinned, so `-e .` finds `torch>=2.1` satisfied and pulls no CUDA build.
  "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' \
    || "$PY" -m pip install -q "$TORCH_PIN"
  "$PY" -m pip install -q -e '.[book,test]'
  # The `clip` package (OpenAI's CLIP code with its BPE vocabulary) declares torchvision, which would
  # replace our CPU torch with a multi-GB CUDA build; the parts we use need only torch, ftfy and regex.
  "$PY" -m pip install -q --no-deps "clip-anytorch>=2.5"
  echo "$want" > "$stamp"
}

# MathJax, requirejs and the widgets HTML manager from the npm registry, so the site needs no CDN.
# Versions and hashes are pinned in book/_vendor/package-lock.json; node_modules/ and site/ are
# gitignored. Only site/vendor/ reaches the built site (html_extra_path in _config.yml): a folder
# outside _static/, because every .js file in _static/ becomes a script tag on every page.
vendor_js() {
  local dir=book/_vendor
  command -v npm >/dev/null || { echo "npm is needed to fetch MathJax and the widget manager (apt-get install npm)" >&2; return 1; }
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.ci"; then
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
    cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.ci"
  fi
  local nm="$dir/node_modules" out="$dir/site/vendor"
  rm -rf "$dir/site"; mkdir -p "$out/mathjax" "$out/html-manager"
  cp -r "$nm/mathjax/es5/." "$out/mathjax/"
  cp "$nm/requirejs/require.js" "$out/require.js"
  cp -r "$nm/@jupyter-widgets/html-manager/dist/." "$out/html-manager/"
  rm -f "$out"/html-manager/{*.map,embed.js,libembed-amd.js}  # only embed-amd.js is loaded
}

# Execute every notebooks/[0-9]*.ipynb into book/chapters/ with papermill (one driver process).
execute_notebooks() { "$PY" .ci/execute_notebooks.py; }

# Render the executed notebooks; warnings are errors, nothing is executed a second time.
# A fresh output folder: Sphinx never deletes pages or files that a build no longer makes.
# The chapters' results file (helpers/results.py) goes beside the site and into it, after the clean.
build_book() {
  rm -rf book/_build
  "$VENV/bin/jupyter-book" build book --config _config.yml --path-output book --all -W -n --keep-going
  copy_results
  echo "site: $PWD/book/_build/html/index.html"
}

copy_results() {
  local results=book/chapters/results.json
  [ -f "$results" ] && [ ! -L "$results" ] || return 0
  cp "$results" book/_build/results.json
  cp "$results" book/_build/html/results.json
}
