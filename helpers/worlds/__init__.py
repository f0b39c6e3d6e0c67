"""One API over two worlds: ``load("synthfaces")`` (offline, ground truth) or ``load("ffhq")``.

Taught in ``notebooks/01_generator.ipynb``. A notebook changes world with one parameter; every
method below behaves the same in both, and the synthfaces world adds what only a world with known
factors can offer (``render``, ``measure``).

What each world holds:

* generator — synthfaces: StyleGAN2 64 px, W+ 10 × 128 (ships in ``data/``); ffhq: StyleGAN2 FFHQ
  1024 px, W+ 18 × 512 (downloaded);
* encoder — synthfaces: the e4e-style CNN of :mod:`.synthfaces.encoder`; ffhq: ReStyle-pSp;
* text model — synthfaces: a small CLIP trained on captions; ffhq: CLIP ViT-B/32;
* identity embedding — synthfaces: the factor meter's identity factors; ffhq: ArcFace IR-SE50;
* factor meter (``measure``) and renderer (``render``) — synthfaces only.

The ffhq world's auxiliary models load on first use (``encode``, ``clip_loss``, ``identity_loss``…),
so ``load("ffhq")`` fetches only the generator.
"""
from __future__ import annotations

from .world import LAZY_MODELS, World  # noqa: F401  (the API: helpers.worlds.World)

WORLDS = ("synthfaces", "ffhq")


def load(name: str = "synthfaces", device: str | None = "auto") -> World:
    """Load a world by name on ``device`` ('auto' picks CUDA, then MPS, then CPU)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in WORLDS:
        raise ValueError(f"unknown world {name!r}; worlds are: {', '.join(WORLDS)}")
    from ..device import pick_device
    dev = pick_device(device)
    if key == "synthfaces":
        from .synthfaces import world as synthfaces_world
        world = synthfaces_world.load(dev)
    else:
        from .ffhq import world as ffhq_world
        world = ffhq_world.load(dev)
    from .. import results
    results.world_version = world.version        # every result this process records names it
    return world


def __getattr__(name: str):
    if name == "FFHQ_CONFIG":              # the paper's generator config, without importing torch here
        from .ffhq.world import FFHQ_CONFIG
        return FFHQ_CONFIG
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
