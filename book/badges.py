"""Give every notebooks/*.ipynb the same opening: an Open-in-Colab badge, then a Colab-only install.

Cells without an id (nbformat 4.5 requires one) get one, so every notebook validates.

    python book/badges.py          # normalise the notebooks in place (only those that change)
    python book/badges.py --check  # change nothing; exit 1 if a notebook is not normalised

The two cells are found by their tags and rebuilt at the top, so running this twice changes nothing.
Every notebook must also have a cell tagged ``parameters`` (papermill injects values after it, and
the book's chapters rely on it); notebooks lacking one are listed and the exit code is 1.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

REPOSITORY = "micromotion-book/micromotion-book"  # GitHub owner/name: the one place it is written
BRANCH = "main"
COLAB_CLONE = "/content/micromotion-book"   # where the install cell clones the book on Colab
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BADGE_TAG, INSTALL_TAG = "colab-badge", "colab-install"


def badge_source(name: str) -> str:
    url = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def install_source() -> str:
    # Everywhere but Colab the cell does nothing. pip alone would not do on Colab: the synthfaces
    # weights in data/ are not part of the package, so the book is cloned and installed editable
    # (the `micromotion` command then finds them too), and the clone goes first on this kernel's
    # path (an editable install is seen by new processes only); its `faces` extra brings dlib for
    # the FFHQ alignment of real photos. `clip` comes from clip-anytorch
    # (`pip install clip` is an unrelated tool). Each step is checked: a failed clone or install
    # stops here with git's or pip's own words, not later as "No module named 'helpers'".
    return ("# On Colab: fetch this book (its code and the synthfaces weights in data/) and\n"
            "# install it; elsewhere it is already installed and this cell does nothing.\n"
            "import subprocess, sys\n"
            'if "google.colab" in sys.modules:\n'
            f'    book = "{COLAB_CLONE}"\n'
            f'    url = "https://github.com/{REPOSITORY}"\n'
            '    fetch = (["git", "-C", book, "pull", "-q"] if subprocess.run(\n'
            '        ["git", "-C", book, "rev-parse"], capture_output=True).returncode == 0\n'
            '        else ["git", "clone", "-q", "--depth", "1", url, book])\n'
            '    # [faces]: dlib and its landmark model, to FFHQ-align real photos and clips\n'
            '    for step in (fetch, [sys.executable, "-m", "pip", "install", "-q", "-e",\n'
            '                         book + "[faces]", "clip-anytorch"]):\n'
            "        done = subprocess.run(step, capture_output=True, text=True)\n"
            "        if done.returncode != 0:\n"
            "            raise RuntimeError(\n"
            '                f"{\' \'.join(step[:4])} … failed:\\n{done.stderr.strip()}\\n"\n'
            '                "Check the network (and the URL), then run this cell again.")\n'
            "    sys.path.insert(0, book)")


def tags(cell: dict) -> list:
    return cell.get("metadata", {}).get("tags", [])


def normalised(nb: dict, name: str) -> dict:
    """A copy of ``nb`` whose first two cells are the badge and the install cell, built afresh."""
    nb = copy.deepcopy(nb)
    body = [c for c in nb["cells"] if not {BADGE_TAG, INSTALL_TAG} & set(tags(c))]
    badge = {"cell_type": "markdown", "metadata": {"tags": [BADGE_TAG]}, "source": badge_source(name)}
    # remove-cell: the install is for Colab only, the rendered book does not show it.
    install = {"cell_type": "code", "execution_count": None, "outputs": [],
               "metadata": {"tags": [INSTALL_TAG, "remove-cell"]}, "source": install_source()}
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):  # cell ids exist from 4.5 on
        badge["id"], install["id"] = BADGE_TAG, INSTALL_TAG
        used = {c.get("id") for c in body}
        for i, cell in enumerate(body):     # a cell pasted in without one; nbformat will refuse it
            if "id" not in cell:
                cell["id"] = next(f"cell-{k}" for k in range(i, i + len(body) + 1) if f"cell-{k}" not in used)
                used.add(cell["id"])
    nb["cells"] = [badge, install] + body
    return nb


def comparable(nb: dict) -> dict:
    """What the badges decide: sources as strings (Jupyter may store lists of lines), and no
    execution counts (running the install cell in Jupyter must not make a notebook unnormalised)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.pop("execution_count", None)
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing, fail if a notebook would change")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    unnormalised, no_parameters = [], []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if not any("parameters" in tags(c) for c in nb["cells"]):
            no_parameters.append(path.name)
        new = normalised(nb, path.name)
        if comparable(new) == comparable(nb):
            continue
        unnormalised.append(path.name)
        if not args.check:  # the layout Jupyter itself writes, so saving in Jupyter makes no diff
            path.write_text(json.dumps(new, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                            encoding="utf-8")

    verb = "not normalised (run: python book/badges.py)" if args.check else "normalised"
    for name in unnormalised:
        print(f"{verb}: {name}")
    for name in no_parameters:
        print(f"no cell tagged 'parameters': {name}", file=sys.stderr)
    print(f"{len(paths)} notebook(s) checked")
    return 1 if no_parameters or (args.check and unnormalised) else 0


if __name__ == "__main__":
    sys.exit(main())
