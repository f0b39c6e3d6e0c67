"""Benchmark the CPU reformulations of the generator, CLIP and meter against their plain forms.

Each pair computes the same numbers (tests check values and gradients); this prints, side by side in
one run, how long each takes forward and backward on synthfaces at a batch of 11 (the anchors' chunk
size), interleaved over rounds, medians and the ratio plain / ours:

- generator synthesis in channels-last layout vs the default layout (``CHANNELS_LAST_ON_CPU``);
- one 64-px styled conv: demodulation, noise, bias and gain folded into one scale and one shift
  (in place) vs the chain of modules;
- ToRGB's modulated 1×1 conv as a batched matmul vs modulating the input and convolving;
- CLIP's patch embedding as a matmul vs the convolution;
- the factor meter in channels-last vs the default layout, and with its BatchNorms folded into the
  convs (eval mode) vs run as modules;
- ``batch_gradient`` with its persistent worker threads vs a fresh pool per call (2 threads).

    .venv/bin/python bench/cpu_paths.py [--rounds 5]
"""
import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import device, guidance, stylegan2, worlds  # noqa: E402
from helpers.worlds.synthfaces.captions import PERCENTAGES, prompts  # noqa: E402


def backward_of(fn, *inputs):
    """fn(*leaves).sum().backward() on fresh leaf copies of ``inputs``."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    fn(*leaves).sum().backward()


class FreshPool:
    """The old ``batch_gradient`` worker set-up: a new thread pool for every call."""

    def __init__(self, n):
        self.n = n

    def map(self, fn, items):
        with ThreadPoolExecutor(self.n) as pool:
            return list(pool.map(fn, items))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    world = worlds.load("synthfaces", device="cpu")
    g, meter, clip = world.generator, world.meter, world.text_model
    ws = world.sample_wplus(11, seed=1)
    with torch.no_grad():
        images = g.synthesis(ws)
    styled = g.convs[-1]                                    # the 64-px 3×3 styled conv
    x64 = torch.randn(11, styled.conv.in_ch, 64, 64).contiguous(memory_format=torch.channels_last)
    noise = g.fixed_noise()[-1]
    to_rgb = g.to_rgbs[-1].conv
    rgb_weight = to_rgb.scale * to_rgb.weight[0, :, :, 0, 0]
    clip_input = guidance.clip_image_input(images, clip.visual.input_resolution)
    conv1 = clip.visual.conv1
    texts = prompts("A person with {} smile", PERCENTAGES) * 2
    codes = world.sample_wplus(2, seed=1).repeat_interleave(11, 0)
    features = world.encode_text(texts)
    with torch.no_grad():
        reference = world.identity_embedding(g.synthesis(codes))

    def anchor_loss(leaf, rows):
        shot = g.synthesis(leaf)
        return world.clip_loss(shot, features[rows]) + 0.005 * world.identity_loss(shot, reference[rows])

    def layout(flag):
        def run():
            stylegan2.CHANNELS_LAST_ON_CPU = flag
            backward_of(g.synthesis, ws)
            stylegan2.CHANNELS_LAST_ON_CPU = True
        return run

    def patch(cls):
        def run():
            conv1.__class__ = cls
            backward_of(clip.encode_image, clip_input)
            conv1.__class__ = guidance.PatchEmbedding
        return run

    def pool(workers):
        def run():
            device._workers = workers
            torch.set_num_threads(2)
            device.batch_gradient(anchor_loss, codes)
            torch.set_num_threads(1)
            device._workers = persistent
        return run

    persistent = device._workers
    pairs = {
        "generator layout (channels-last)": (layout(False), layout(True)),
        "styled conv (scale + shift in place)": (
            lambda: backward_of(lambda x, s: styled.activate(styled.noise(styled.conv(x, s), noise)), x64, ws[:, -2]),
            lambda: backward_of(lambda x, s: styled(x, s, noise), x64, ws[:, -2])),
        "ToRGB 1x1 (batched matmul)": (
            lambda: backward_of(lambda x, s: F.conv2d(x * s[:, :, None, None], rgb_weight[:, :, None, None]),
                                x64, to_rgb.modulation(ws[:, -1])),
            lambda: backward_of(lambda x, s: stylegan2.pointwise(x, rgb_weight[None] * s[:, None, :]),
                                x64, to_rgb.modulation(ws[:, -1]))),
        "CLIP patch embedding (matmul)": (patch(torch.nn.Conv2d), patch(guidance.PatchEmbedding)),
        "meter layout (channels-last)": (
            lambda: backward_of(lambda x: meter.neck(meter._folded_body(x.contiguous())), images),
            lambda: backward_of(meter.features, images)),
        "meter BatchNorm folded into convs": (
            lambda: backward_of(lambda x: meter.neck(meter.body(meter._prepare(x))), images),
            lambda: backward_of(meter.features, images)),
        "row-split workers (persistent, 2 threads)": (pool(FreshPool), pool(persistent)),
    }
    torch.set_num_threads(1)
    times = {name: ([], []) for name in pairs}
    for name, (plain, ours) in pairs.items():               # warm-up
        plain(), ours()
    for _ in range(a.rounds):
        for name, (plain, ours) in pairs.items():
            for fn, out in zip((plain, ours), times[name]):
                t = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t)
    print(f"synthfaces, batch of 11, forward + backward, CPU, 1 thread (unless said), "
          f"median of {a.rounds} interleaved rounds")
    for name, (plain, ours) in times.items():
        tp, to = statistics.median(plain) * 1000, statistics.median(ours) * 1000
        print(f"{name:42s} plain {tp:7.1f} ms   ours {to:7.1f} ms   ratio {tp / to:.2f}x")


if __name__ == "__main__":
    main()
