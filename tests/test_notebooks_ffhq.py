"""Every chapter runs end to end with ``world = "ffhq"``, offline, as a student's Colab run would.

The book executes on synthfaces only; without this check a cell that quietly assumes the factor
meter or the renderer would first fail on Colab. Each notebook runs in a real kernel (nbclient,
the parameters injected after its `parameters` cell as papermill does) whose first cell installs
the ffhq world's small random-weight stand-ins (:func:`ffhq_fakes.install_offline_ffhq`: the
upstream file layouts, a 32 px decoder), with the chapter's own parameters shrunk to fit the test
budget. It checks that the chapters run and take the ffhq path, not what they measure: random
weights have nothing to measure.
"""
import json
import shutil
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from ffhq_fakes import write_checkpoints

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Each chapter's parameters, made small (names from its `parameters` cell; a typo fails the run).
SMALL = {
    "01_generator": {},
    "02_inversion": {"n_eval": 4, "refine_steps": 5, "n_photos": 1},
    "03_text_anchors": {"n_identities": 2, "steps": 4, "n_nudges": 1, "n_stability_targets": 4},
    "04_video_anchors": {"n_targets": 2, "inversion_steps": 2},          # + clip_path, a folder of frames
    "05_pca_vs_rpca": {"n_identities": 2, "n_targets": 4},
    "06_low_rank": {"n_identities": 2, "null_trials": 3},
    "07_subspace_angles": {"n_identities": 2},
    "08_transfer": {"n_identities": 2, "n_targets": 4, "n_ood": 2, "refine_steps": 2,
                    "n_real": 1},
    "09_ablations": {"n_identities": 2, "n_targets": 4, "n_photos": 2,
                     "l2_lambdas": [0.008], "n_layer_targets": 2},
    "10_explore": {},
    "11_baselines": {"n_identities": 2, "n_labelled": 40, "label_counts": [10, 40], "n_components": 3,
                     "n_probe": 3, "n_targets": 4, "n_photos": 2, "refine_steps": 2},
}
NOT_RUN = {"00_synthfaces": "it describes the synthfaces world itself and loads it whatever `world` says",
           "00_paper": "it loads no world: the paper's claims, listed from helpers.claims",
           "12_what_replicated": "it loads no world: it judges the results the other chapters recorded"}


def test_every_chapter_is_run_on_ffhq_or_says_why_not():
    chapters = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert chapters == set(SMALL) | set(NOT_RUN)
    for name, params in SMALL.items():     # a shrunk parameter the chapter does not have is a typo
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        for key in ["world", *params]:
            assert any(line.startswith(f"{key} =") for line in cell.source.splitlines()), (name, key)


def _in_slices(get_msg, step: float = 1.0):
    """A channel's ``get_msg`` that waits in slices of ``step`` seconds, however long it may wait.

    nbclient waits for a cell's reply and idle status with a poll that has no timeout, and a poll
    can miss its wake-up when a cell talks to widgets (jupyter/nbclient#312): the kernel goes idle,
    the client waits forever. A poll that ends looks at the socket again, so a missed message is
    picked up within one slice.
    """
    async def sliced(timeout=None):
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise
    return sliced


class _Client(NotebookClient):
    """nbclient, with :func:`_in_slices` on the shell and IOPub channels."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            channel.get_msg = _in_slices(channel.get_msg)
        return kc


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """The stand-in weight files, a folder of head-turn frames (chapter 4 needs a real clip on
    ffhq), and one anchor cache shared by the chapters, as on Colab."""
    from PIL import Image

    root = tmp_path_factory.mktemp("ffhq_notebooks")
    paths = write_checkpoints(root)
    frames = root / "clip"
    frames.mkdir()
    # a real face (scikit-image's public-domain astronaut) that drifts in the frame, as a
    # hand-held clip would: chapter 4 FFHQ-aligns real frames before it inverts them
    from skimage import data
    face = data.astronaut()
    for k in range(7):
        Image.fromarray(np.roll(face, (2 * k - 6, 6 - 2 * k), axis=(0, 1))).save(frames / f"frame_{k}.png")
    yield {"paths": paths, "clip": frames, "cache": root / "cache", "root": root}
    shutil.rmtree(root, ignore_errors=True)          # 600 MB of weights: not left behind


@pytest.mark.parametrize("name", sorted(SMALL))
def test_chapter_runs_on_the_ffhq_world(name, offline, monkeypatch):
    monkeypatch.setenv("MICROMOTION_CACHE", str(offline["cache"]))
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    paths = {k: str(v) for k, v in offline["paths"].items()}
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport ffhq_fakes\n"
        f"ffhq_fakes.install_offline_ffhq({json.dumps(paths)})"))
    params = {"world": "ffhq", **SMALL[name]}
    if name == "04_video_anchors":
        params["clip_path"] = str(offline["clip"])
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(   # what papermill injects, as in CI
        "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())))
    nb.cells.append(nbformat.v4.new_code_cell("print('worlds built:', ffhq_fakes.LOADED)"))
    _Client(nb, kernel_name="python3", resources={"metadata": {"path": str(offline["root"])}}).execute()
    # (a cell's error fails above with its traceback)
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "worlds built: ['ffhq'" in printed                # the chapter took the ffhq path
    assert "synthfaces GAN trained" not in printed
