"""IR-SE50: the face ResNet shared by ArcFace and by the pSp / e4e / ReStyle encoders.

Taught in ``notebooks/02_inversion.ipynb``. "IR" units are pre-activation residual bottlenecks
(BN → 3×3 conv → PReLU → 3×3 conv → BN) and "SE" adds squeeze-and-excitation channel gates. The
attribute names (``input_layer``, ``body.{i}.shortcut_layer``, ``body.{i}.res_layer``, ``fc1``,
``fc2``) are those of TreB1eN's InsightFace_Pytorch, which pSp, e4e and ReStyle kept, so their
checkpoints load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

# (width, units) of the four stages of IR-50; the first unit of every stage halves the resolution.
IRSE50_STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))


class SqueezeExcite(nn.Module):
    """Gate each channel by a sigmoid of its global average (channels → channels/16 → channels)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x):
        gate = x.mean((2, 3), keepdim=True)
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(gate))))
        return x * gate


class BottleneckIRSE(nn.Module):
    """One residual unit: ``res_layer(x) + shortcut_layer(x)``.

    ``res_layer`` indices (0 BN, 1 conv, 2 PReLU, 3 strided conv, 4 BN, 5 SE) are part of the key
    names. The shortcut is a strided 1×1 conv + BN when the width changes, else plain subsampling
    (upstream writes it as a 1×1 max-pool, which has no weights).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if in_ch == out_ch:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                                nn.BatchNorm2d(out_ch))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False),
            nn.PReLU(out_ch),
            nn.Conv2d(out_ch, out_ch, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            SqueezeExcite(out_ch),
        )

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


def input_layer(in_channels: int = 3) -> nn.Sequential:
    """Stem: 3×3 conv (no bias) to 64 channels, BN, PReLU; keeps the resolution."""
    return nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                         nn.PReLU(64))


def ir_se50_body() -> nn.Sequential:
    """The 24 units of IR-SE50: [n, 64, s, s] → [n, 512, s/16, s/16]."""
    units, in_ch = [], 64
    for width, count in IRSE50_STAGES:
        for k in range(count):
            units.append(BottleneckIRSE(in_ch, width, 2 if k == 0 else 1))
            in_ch = width
    return nn.Sequential(*units)


def stage_ends() -> list[int]:
    """Index in ``body`` of the last unit of each stage: [2, 6, 20, 23] for IR-50.

    The encoders' feature pyramid taps stages 2–4 (128, 256 and 512 channels) here.
    """
    ends, total = [], 0
    for _, count in IRSE50_STAGES:
        total += count
        ends.append(total - 1)
    return ends


def build_without_init(factory, *args) -> nn.Module:
    """``factory(*args)`` on the CPU with uninitialised weights, for a checkpoint to fill.

    Skips the random init of a few hundred million weights that loading overwrites anyway; the
    BN step counters, which old files may lack, are zeroed.
    """
    with torch.device("meta"):
        module = factory(*args)
    module = module.to_empty(device="cpu")
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_running_stats()
    return module
