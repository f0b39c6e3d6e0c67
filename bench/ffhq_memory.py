"""Memory of the ffhq world at real size (1024 px), per code, and the chunk a GPU budget allows.

One step of a text anchor for one code is: StyleGAN2-FFHQ synthesis at 1024 px, CLIP ViT-B/32 on
its 224 px view and ArcFace IR-SE50 on its 112 px crop, forward and backward. Counted with random
weights in the upstream layouts:

- ``--device meta`` (any machine): no memory is touched; a dispatch mode adds up the storage of
  every tensor the step creates and frees, and reports the peak — a count, not a measurement;
- ``--device cuda`` (a GPU): ``torch.cuda.max_memory_allocated`` around the same step, measured.

Then the chunk :class:`helpers.device.Chunks` would choose for chapter 3's 3 identities × 11
prompts under a T4-sized budget (15 GB, less the weights), and whether it fits at all.

    .venv/bin/python bench/ffhq_memory.py                 # the count, here
    python3 bench/ffhq_memory.py --device cuda            # on a lent GPU (bench/gpu.sh)
"""
import argparse
import math
import sys
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.device import HEADROOM  # noqa: E402
from helpers.guidance import clip_image_input, clip_module  # noqa: E402
from helpers.stylegan2 import Generator  # noqa: E402
from helpers.worlds.ffhq import ArcFace  # noqa: E402
from helpers.worlds.ffhq.arcface import identity_embedding  # noqa: E402

GiB = 2 ** 30
T4 = 15e9                     # bytes a Colab T4 offers
CODES = 3 * 11                # chapter 3: 3 identities × 11 prompts


class StoragePeak(TorchDispatchMode):
    """Adds up the storage of every tensor an op returns while it lives; keeps the peak."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.tracked = set()

    def _track(self, t):
        if isinstance(t, torch.Tensor) and id(t) not in self.tracked:
            n = t.untyped_storage().nbytes()
            self.live += n
            self.peak = max(self.peak, self.live)
            self.tracked.add(id(t))
            weakref.finalize(t, self._free, n, id(t))
        return t

    def _free(self, n, key):
        self.live -= n
        self.tracked.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tree_map(self._track, out)
        return out


def models(device):
    """StyleGAN2-FFHQ config-f, CLIP ViT-B/32 and ArcFace IR-SE50, random weights, frozen."""
    clip_model = clip_module("model")
    with torch.device(device):
        g = Generator(1024, 512, 8, channel_multiplier=2)
        clip = clip_model.CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12)
        arcface = ArcFace()
    for m in (g, clip, arcface):
        m.eval().requires_grad_(False)
    return g, clip, arcface


def weights_bytes(*modules) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters()) + sum(
        b.numel() * b.element_size() for m in modules for b in m.buffers())


def step(g, clip, arcface, n, device):
    """One optimisation step's forward and backward for ``n`` codes."""
    w = torch.zeros(n, 18, 512, device=device, requires_grad=True)
    images = g.synthesis(w)
    features = clip.encode_image(clip_image_input(images, 224))
    loss = features.float().square().sum() + identity_embedding(arcface, images).sum()
    loss.backward()


def per_code(g, clip, arcface, device) -> tuple[float, float]:
    """Peak bytes of a step for 1 and for 2 codes → (fixed part, bytes per code)."""
    peaks = []
    for n in (1, 2):
        if device == "meta":
            mode = StoragePeak()
            with mode:
                step(g, clip, arcface, n, device)
            peaks.append(mode.peak)
        else:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step(g, clip, arcface, n, device)
            torch.cuda.synchronize()
            peaks.append(torch.cuda.max_memory_allocated() - base)
    return peaks[0] - (peaks[1] - peaks[0]), peaks[1] - peaks[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="meta", choices=("meta", "cuda"))
    p.add_argument("--budget", type=float, default=T4, help="bytes of the GPU to plan for")
    args = p.parse_args()
    g, clip, arcface = models(args.device)
    weights = weights_bytes(g, clip, arcface)
    fixed, code = per_code(g, clip, arcface, args.device)
    how = "counted on the meta device" if args.device == "meta" else "measured on " + \
        torch.cuda.get_device_name()
    print(f"text-anchor step at 1024 px (G + CLIP ViT-B/32 + ArcFace IR-SE50), {how}:")
    print(f"  weights {weights / GiB:.2f} GiB; per code {code / GiB:.2f} GiB "
          f"(+ {max(fixed, 0) / GiB:.2f} GiB whatever the batch)")
    one_batch = weights + max(fixed, 0) + CODES * code
    print(f"  chapter 3's {CODES} codes in one batch: {one_batch / GiB:.1f} GiB")
    free = args.budget * HEADROOM - weights - max(fixed, 0)
    chunk = max(0, min(CODES, int(free // code)))
    print(f"  budget {args.budget / 1e9:.0f} GB × {HEADROOM} headroom: chunks of {chunk} codes, "
          f"{math.ceil(CODES / chunk) if chunk else '∞'} chunks per step"
          + ("" if chunk else " — does NOT fit even one code"))
    return 0 if chunk else 1


if __name__ == "__main__":
    sys.exit(main())
