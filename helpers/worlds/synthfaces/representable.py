"""Can the synthfaces world draw an image at all? A bound measured on its own renders.

A real photo inverted into synthfaces comes back as some synthfaces face: the inversion always
returns a code. What tells the two apart is the reconstruction error (RMS pixel error of the
encoder's code, ``inversion.reconstruction_error``): this command measures it on photo-style
renders, the images the GAN was trained on, and records the largest, with the generator and
encoder it was measured for, in ``data/synthfaces_reconstruction.json``. An image whose error
after inversion is above ``MARGIN`` × that largest value is one the world cannot represent
(``micromotion edit`` says so). Refinement lowers the error, so the encoder's code is the strict
test. The other render styles are measured too, for the record: they are out of the GAN's domain.

    python -m helpers.worlds.synthfaces.representable          # remeasure after a new G or encoder
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ...shipped import DATA, manifest, record, verified

BOUND_FILE = DATA / "synthfaces_reconstruction.json"
MARGIN = 1.25          # above the largest error of any render: refinement noise, never a real face
N_PHOTO, N_OTHER = 512, 64
SEED = 2024


def measure(world, n_photo: int = N_PHOTO, n_other: int = N_OTHER, seed: int = SEED) -> dict:
    """The encoder's reconstruction error on renders of each style (``n_photo`` photo-style ones)."""
    import torch
    from ...inversion import reconstruction_error
    from . import renderer
    errors = {}
    for k, style in enumerate(renderer.STYLES):
        n = n_photo if style == "photo" else n_other
        factors = renderer.sample_factors(n, seed=seed + k)
        images = renderer.render(factors, style=style, size=world.resolution, seeds=seed + k)
        with torch.no_grad():
            codes = world.encode(images)
        errors[style] = reconstruction_error(world, images, codes).numpy()
    photo = errors["photo"]
    return {"max": float(photo.max()), "threshold": float(MARGIN * photo.max()), "margin": MARGIN,
            "n": int(photo.size), "seed": seed, "measured_on": "photo-style renders",
            "per_style": {s: {"n": int(e.size), "median": float(np.median(e)),
                              "p99": float(np.percentile(e, 99)), "max": float(e.max())}
                          for s, e in errors.items()},
            "generator_sha256": world.info.get("weights_sha256"),
            "encoder_sha256": world.info.get("encoder_sha256")}


def load_bound(generator_sha256: str | None, encoder_sha256: str | None) -> dict | None:
    """The recorded bound, if it was measured for this generator and encoder (else None: a bound
    for other models would mislead)."""
    from ... import shipped
    if BOUND_FILE.name not in manifest() or not (shipped.DATA / BOUND_FILE.name).exists():
        return None
    bound = json.loads(verified(BOUND_FILE.name).read_text())
    if (bound.get("generator_sha256"), bound.get("encoder_sha256")) != (generator_sha256, encoder_sha256):
        return None
    return bound


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", type=int, default=N_PHOTO, help="photo-style renders (the bound)")
    p.add_argument("--other", type=int, default=N_OTHER, help="renders of each other style (recorded)")
    args = p.parse_args(argv)
    from ...files import atomic_write
    from ... import worlds
    world = worlds.load("synthfaces", device="cpu")
    bound = measure(world, args.photo, args.other)
    atomic_write(BOUND_FILE, lambda f: f.write(json.dumps(bound, indent=2) + "\n"), mode="w")
    record(BOUND_FILE, "python -m helpers.worlds.synthfaces.representable "
                       f"--photo {args.photo} --other {args.other}")
    print(f"largest reconstruction error over {bound['n']} photo-style renders: {bound['max']:.3f}; "
          f"threshold {bound['threshold']:.3f}; per style: "
          + ", ".join(f"{s} {v['max']:.3f}" for s, v in bound["per_style"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
