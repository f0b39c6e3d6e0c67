"""book/badges.py: the notebooks' opening cells are added once, and a missing parameters cell fails."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

BADGES = Path(__file__).resolve().parent.parent / "book" / "badges.py"


def write_notebook(path, cells):
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def run_badges(*args):
    return subprocess.run([sys.executable, str(BADGES), *map(str, args)], capture_output=True, text=True)


def test_badges_are_added_once_and_check_passes_after(tmp_path):
    path = tmp_path / "07_example.ipynb"
    write_notebook(path, [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]},
                           "execution_count": None, "outputs": [], "source": "world = 'synthfaces'"}])
    assert run_badges("--check", path).returncode == 1
    assert run_badges(path).returncode == 0
    first = path.read_text()
    assert run_badges(path).returncode == 0 and path.read_text() == first  # idempotent
    assert run_badges("--check", path).returncode == 0

    cells = json.loads(first)["cells"]
    assert [c["id"] for c in cells] == ["colab-badge", "colab-install", "p"]
    assert "blob/main/notebooks/07_example.ipynb" in cells[0]["source"]
    assert 'if "google.colab" in sys.modules:' in cells[1]["source"]


def test_a_notebook_without_parameters_cell_is_reported(tmp_path):
    path = tmp_path / "08_no_params.ipynb"
    write_notebook(path, [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# hi"}])
    done = run_badges(path)
    assert done.returncode == 1
    assert "08_no_params.ipynb" in done.stderr


def test_cells_without_an_id_get_one(tmp_path):
    path = tmp_path / "09_ids.ipynb"
    write_notebook(path, [{"cell_type": "code", "id": "cell-1", "metadata": {"tags": ["parameters"]},
                           "execution_count": None, "outputs": [], "source": "seed = 0"},
                          {"cell_type": "markdown", "metadata": {}, "source": "no id"},
                          {"cell_type": "markdown", "metadata": {}, "source": "none either"}])
    assert run_badges(path).returncode == 0
    assert run_badges("--check", path).returncode == 0
    ids = [c["id"] for c in json.loads(path.read_text())["cells"]]
    assert ids[2] == "cell-1" and len(set(ids)) == len(ids) == 5


def _install_cell(tmp_path, monkeypatch, url):
    """The install cell as IPython would run it on Colab, cloning from ``url`` into tmp_path;
    pip is recorded, not run (no network here) → (code, the recorded commands)."""
    import types
    from IPython.core.inputtransformer2 import TransformerManager
    monkeypatch.setattr(sys, "path", [str(BADGES.parent), *sys.path])
    import badges
    clone = tmp_path / "content" / "micromotion-book"
    source = badges.install_source().replace(badges.COLAB_CLONE, str(clone)).replace(
        f"https://github.com/{badges.REPOSITORY}", url)
    code = TransformerManager().transform_cell(source)
    shell, pips = [], []
    real_run = subprocess.run

    def run(command, *args, **kwargs):
        if "pip" in command:
            pips.append(" ".join(command[1:]))
            return subprocess.CompletedProcess(command, 0, "", "")
        shell.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    return code, clone, shell, pips


def test_the_colab_install_cell_brings_the_weights_and_puts_the_clone_first(tmp_path, monkeypatch):
    """The install cell, run as IPython runs it, with this repository standing in for GitHub: the
    clone holds data/ (pip alone would not install it) and is first on the kernel's path; run again,
    it updates the clone instead of failing. pip is recorded, not run (no network here)."""
    root = BADGES.parent.parent
    code, clone, shell, pips = _install_cell(tmp_path, monkeypatch, f"file://{root}")
    for _ in range(2):                                   # a second run finds the clone and pulls
        exec(code, {})
    fetches = [c for c in shell if "rev-parse" not in c]
    assert fetches[0][:2] == ["git", "clone"] and fetches[1][-2:] == ["pull", "-q"]
    assert len(fetches) == 2 and pips == [f"-m pip install -q -e {clone}[faces] clip-anytorch"] * 2
    assert sys.path[0] == str(clone) and (clone / "data" / "synthfaces_g.pt").is_file()
    found = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                            "from helpers import shipped; print(shipped.verified('synthfaces_g.pt'))", str(clone)],
                           cwd=tmp_path, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(clone / "data" / "synthfaces_g.pt")


def test_a_failed_clone_stops_the_install_cell_with_gits_words(tmp_path, monkeypatch):
    """A repository that is not there: the cell raises at once, quoting git, and installs nothing
    (it used to hide the error and fail later with ModuleNotFoundError)."""
    code, clone, shell, pips = _install_cell(tmp_path, monkeypatch, f"file://{tmp_path}/no-such-repo")
    with pytest.raises(RuntimeError, match=r"(?s)git clone -q --depth … failed:.*no-such-repo.*run this cell again"):
        exec(code, {})
    assert pips == [] and not (clone / "data").exists()


def test_every_code_line_of_every_chapter_fits_the_site():
    """The site cuts code lines past 88 columns; every chapter's code, the install cell included,
    stays within them."""
    long = []
    for path in sorted((BADGES.parents[1] / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            long += [f"{path.name}: {line}" for line in source.splitlines() if len(line) > 88]
    assert not long, "\n".join(long)
