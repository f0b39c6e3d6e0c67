"""StyleGAN2 generator and discriminator in pure PyTorch.

Taught in ``notebooks/01_generator.ipynb``. The module names and parameter shapes follow the
rosinality ``stylegan2-pytorch`` checkpoint format (the field's standard), so a real
``stylegan2-ffhq-config-f.pt`` loads with :func:`load_generator`. No compiled extension: the FIR
filters (``upfirdn2d``) and the fused leaky ReLU are written with plain torch ops, so the same code
runs on CPU and GPU.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BLUR_KERNEL = (1, 3, 3, 1)
CHANNELS_LAST_ON_CPU = True    # CPU convolutions run up to 2x faster on channels-last feature maps


# --------------------------------------------------------------------------- low-level ops
def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """Separable FIR kernel ``outer(taps, taps)`` normalised to sum 1, shape [k, k]."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with ``kernel``, then subsample.

    ``x``: [batch, channels, height, width]; ``kernel``: [k, k]. Pure torch; equivalent to the
    CUDA op of the StyleGAN2 code for symmetric kernels.
    """
    b, c, h, w = x.shape
    layout = memory_format(x)
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    k = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, k, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x.contiguous(memory_format=layout)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """``channels_last`` if ``x`` [b, c, h, w] is stored that way, else the default layout."""
    cl = x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if cl and not x.is_contiguous() else torch.contiguous_format


def pointwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution with one weight per sample: ``x`` [b, in, h, w], ``weight`` [b, out, in].

    One batched matrix product in the layout ``x`` has (no scaled copy of ``x``, unlike modulating
    the input first): the ToRGB layers' modulated convolution.
    """
    b, c, h, w = x.shape
    if memory_format(x) == torch.channels_last:          # stored as [b, h, w, in]
        out = x.permute(0, 2, 3, 1).reshape(b, h * w, c) @ weight.transpose(1, 2)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)
    return (weight @ x.reshape(b, c, h * w)).view(b, -1, h, w)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    """Add a per-channel bias, leaky ReLU, then rescale to keep unit variance."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), slope) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)

    def extra_repr(self):
        return f"{self.bias.shape[0]} channels"


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class Blur(nn.Module):
    """Low-pass FIR filter; ``kernel`` is a buffer (scaled by up-factor², as in the format)."""

    def __init__(self, taps, pad, upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)

    def extra_repr(self):
        return f"{tuple(self.kernel.shape)} FIR, pad {self.pad}"


class Upsample(nn.Module):
    def __init__(self, taps, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)

    def extra_repr(self):
        return f"×{self.factor}, {tuple(self.kernel.shape)} FIR"


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time)."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self):
        out_dim, in_dim = self.weight.shape
        extras = "" if self.lr_mul == 1 else f", lr_mul={self.lr_mul:g}"
        return f"{in_dim} → {out_dim}{extras}" + (", leaky ReLU" if self.activation else "")


class EqualConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)

    def extra_repr(self):
        out_ch, in_ch, k, _ = self.weight.shape
        return f"{in_ch} → {out_ch}, {k}×{k}, stride {self.stride}, padding {self.padding}"


# --------------------------------------------------------------------------- generator blocks
class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per input channel by the style, then demodulated."""

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_kernel=BLUR_KERNEL):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1),
                             upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)

    def forward(self, x, style, fused: bool | None = None):
        """``x`` [b, in, h, w], ``style`` [b, style_dim] → [b, out, h', w'].

        Two equivalent computations: ``fused`` builds one weight per sample (a grouped conv, the
        paper's form, fast on GPU); otherwise the style scales the input and demodulation scales
        the output, so one shared-weight conv serves the whole batch (several times faster on CPU).
        """
        if fused is None:
            fused = x.device.type != "cpu"
        if not fused:
            out, d = self.shared_weight_conv(x, style)
            return out if d is None else out * d[:, :, None, None]
        b, c, h, w = x.shape
        s = self.modulation(style)                                     # [b, in]
        weight = self.scale * self.weight * s.view(b, 1, c, 1, 1)      # [b, out, in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4], keepdim=True) + 1e-8)
        k = self.kernel_size
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, self.out_ch, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=b)
            out = out.view(b, self.out_ch, out.shape[-2], out.shape[-1])
            return self.blur(out)
        weight = weight.reshape(b * self.out_ch, c, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, self.out_ch, h, w)

    def extra_repr(self):
        flags = [f for f, on in (("upsample ×2", self.upsample), ("demodulate", self.demodulate)) if on]
        return ", ".join([f"{self.in_ch} → {self.out_ch}", f"{self.kernel_size}×{self.kernel_size}", *flags])

    def shared_weight_conv(self, x, style):
        """The unfused form, before demodulation: (conv of the style-scaled input, the
        demodulation factors [b, out] or None), so that a caller can fold them into later steps."""
        s = self.modulation(style)                                     # [b, in]
        weight = self.scale * self.weight[0]                          # [out, in, k, k]
        if self.kernel_size == 1 and not self.upsample:
            out = pointwise(x, weight[:, :, 0, 0][None] * s[:, None, :])
        elif self.upsample:
            out = self.blur(F.conv_transpose2d(x * s[:, :, None, None], weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x * s[:, :, None, None], weight, padding=self.padding)
        if not self.demodulate:
            return out, None
        return out, torch.rsqrt((weight.pow(2).sum([2, 3])[None] * s[:, None, :].pow(2)).sum(2) + 1e-8)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image, noise=None):
        if noise is None:
            b, _, h, w = image.shape
            noise = image.new_empty(b, 1, h, w).normal_()
        return image + self.weight * noise

    def extra_repr(self):
        return "per-pixel noise × one learned weight"


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.repeat(batch, 1, 1, 1)

    def extra_repr(self):
        _, c, h, w = self.input.shape
        return f"learned {c} × {h} × {w}"


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False, blur_kernel=BLUR_KERNEL):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None):
        if x.device.type != "cpu":
            return self.activate(self.noise(self.conv(x, style), noise))
        # On a CPU the elementwise passes over the feature maps cost as much as the convolution:
        # demodulation, noise, bias and the activation's gain √2 (leaky_relu(a)·√2 =
        # leaky_relu(√2·a)) become one scale and one shift, each in place after the first: 3 passes
        # instead of 5 (an addcmul would be one pass fewer forward, but its gradient multiplies the
        # whole feature map by its scalar ``value`` = 1 first, a pass more backward).
        out, d = self.conv.shared_weight_conv(x, style)
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        gain = math.sqrt(2)
        shift = gain * (self.noise.weight * noise + self.activate.bias.view(1, -1, 1, 1))
        shift = shift.contiguous(memory_format=memory_format(out))  # mixed layouts: a slow path
        return F.leaky_relu((out * (gain * d[:, :, None, None])).add_(shift), 0.2, inplace=True)


class ToRGB(nn.Module):
    """1×1 modulated conv to RGB, added to the upsampled RGB of the previous resolution (skip)."""

    def __init__(self, in_ch, style_dim, upsample=True, blur_kernel=BLUR_KERNEL):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def default_channels(channel_multiplier: int = 2, channel_max: int = 512,
                     channel_scale: float = 1.0) -> dict[int, int]:
    """Feature maps per resolution of the official config-f, scaled and capped at ``channel_max``."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
            128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
            512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: max(8, min(int(c * channel_scale), channel_max)) for r, c in base.items()}


def _check_size(size: int):
    if size < 8 or size > 1024 or size & (size - 1):
        raise ValueError(f"size must be a power of two between 8 and 1024, got {size}")


# --------------------------------------------------------------------------- generator
class Generator(nn.Module):
    """Mapping network (z → w), then the synthesis network driven by one w per layer (W+).

    ``size=1024, style_dim=512, n_mlp=8, channel_multiplier=2`` is FFHQ config-f with
    ``num_ws == 18``; smaller sizes and ``channel_max`` give the compact models of synthfaces.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 lr_mlp: float = 0.01, channel_max: int = 512, channel_scale: float = 1.0,
                 blur_kernel=BLUR_KERNEL):
        super().__init__()
        _check_size(size)
        self.size, self.style_dim, self.n_mlp = size, style_dim, n_mlp
        self.config = dict(size=size, style_dim=style_dim, n_mlp=n_mlp,
                           channel_multiplier=channel_multiplier, lr_mlp=lr_mlp,
                           channel_max=channel_max, channel_scale=channel_scale)
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)])
        self.channels = ch = default_channels(channel_multiplier, channel_max, channel_scale)
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_ch = ch[4]
        for lvl in range(3, self.log_size + 1):
            out_ch = ch[2 ** lvl]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch
        # The truncation centre: not in the state dict (171 keys, as rosinality's), kept beside
        # ``g_ema`` in the files; :func:`load_generator` fills it, :meth:`set_latent_avg` computes it.
        self.register_buffer("latent_avg", torch.zeros(style_dim), persistent=False)

    def extra_repr(self):
        return (f"{self.size} px, style_dim {self.style_dim}, {self.n_mlp}-layer mapping, "
                f"W+ of {self.num_ws} entries")

    @property
    def num_ws(self) -> int:
        """Number of W+ entries (18 at 1024 px)."""
        return self.log_size * 2 - 2

    @property
    def device(self) -> torch.device:
        return self.input.input.device

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z [batch, style_dim] → w [batch, style_dim]."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Average w over ``n`` seeded z: the truncation centre, shape [1, style_dim]."""
        z = z_from_seed(seed, n, self.style_dim, self.device)
        return self.mapping(z).mean(0, keepdim=True)

    @torch.no_grad()
    def set_latent_avg(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Fill :attr:`latent_avg` [style_dim] with :meth:`mean_latent` ``(n, seed)``; return it."""
        self.latent_avg.copy_(self.mean_latent(n, seed).squeeze(0))
        return self.latent_avg

    def fixed_noise(self) -> list[torch.Tensor]:
        """The stored noise buffers (used when ``noise_mode='const'``)."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """Broadcast W [batch, style_dim] to W+ [batch, num_ws, style_dim]; W+ passes through."""
        if w.dim() == 2:
            return w[:, None].expand(-1, self.num_ws, -1)
        if w.dim() == 3 and w.shape[1] == self.num_ws:
            return w
        raise ValueError(f"expected W [batch, {self.style_dim}] or W+ [batch, {self.num_ws}, "
                         f"{self.style_dim}], got shape {tuple(w.shape)}")

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """W+ [batch, num_ws, style_dim] → image [batch, 3, size, size], roughly in [-1, 1].

        ``noise_mode``: 'const' uses the stored buffers, 'random' draws fresh noise, 'none' zeros.
        """
        ws = self.to_wplus(ws)
        if ws.shape[-1] != self.style_dim:
            raise ValueError(f"latent width {ws.shape[-1]} != style_dim {self.style_dim}")
        if noise is None:
            if noise_mode == "const":
                noise = self.fixed_noise()
            elif noise_mode == "random":
                noise = [None] * self.num_layers
            elif noise_mode == "none":
                noise = [torch.zeros_like(n) for n in self.fixed_noise()]
            else:
                raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        b = ws.shape[0]
        x = self.input(b)
        if x.device.type == "cpu" and CHANNELS_LAST_ON_CPU:       # the layout then propagates
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.conv1(x, ws[:, 0], noise[0])
        skip = self.to_rgb1(out, ws[:, 1])
        i = 1
        for conv_up, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                  noise[2::2], self.to_rgbs):
            out = conv_up(out, ws[:, i], n1)
            out = conv(out, ws[:, i + 1], n2)
            skip = to_rgb(out, ws[:, i + 2], skip)
            i += 2
        return skip.contiguous()

    def forward(self, latent: torch.Tensor, input_space: str = "z", truncation: float = 1.0,
                truncation_latent: torch.Tensor | None = None, noise_mode: str = "const",
                mix_latent: torch.Tensor | None = None, mix_index: int | None = None) -> torch.Tensor:
        """Render images from z, W or W+.

        ``input_space``: 'z' ([batch, style_dim]), 'w' ([batch, style_dim]) or 'w+'
        ([batch, num_ws, style_dim]). Truncation pulls each w toward ``truncation_latent``
        (default: :meth:`mean_latent`). ``mix_latent`` (same space) replaces layers from
        ``mix_index`` on: style mixing.
        """
        ws = self.latent_to_wplus(latent, input_space, truncation, truncation_latent)
        if mix_latent is not None:
            mixed = self.latent_to_wplus(mix_latent, input_space, truncation, truncation_latent)
            ws = torch.cat([ws[:, :mix_index], mixed[:, mix_index:]], 1)
        return self.synthesis(ws, noise_mode=noise_mode)

    def latent_to_wplus(self, latent, input_space="z", truncation=1.0, truncation_latent=None):
        """z / W / W+ → truncated W+ [batch, num_ws, style_dim]."""
        if input_space not in ("z", "w", "w+"):
            raise ValueError(f"input_space must be 'z', 'w' or 'w+', got {input_space!r}")
        w = self.mapping(latent) if input_space == "z" else latent
        if truncation != 1.0:
            if truncation_latent is None:
                truncation_latent = self.mean_latent()
            centre = truncation_latent
            if centre.numel() == self.style_dim:  # one centre for every layer
                centre = centre.reshape(*([1] * (w.dim() - 1)), self.style_dim)
            w = centre + truncation * (w - centre)
        return self.to_wplus(w)


def z_from_seed(seed: int, n: int, dim: int, device="cpu") -> torch.Tensor:
    """Latents from ``numpy.random.RandomState(seed)``: the same z on every device."""
    z = np.random.RandomState(seed).randn(n, dim).astype(np.float32)
    return torch.from_numpy(z).to(device)


# --------------------------------------------------------------------------- discriminator
class ConvLayer(nn.Sequential):
    def __init__(self, in_ch, out_ch, kernel_size, downsample=False, bias=True, activate=True,
                 blur_kernel=BLUR_KERNEL):
        layers = []
        stride, padding = 1, kernel_size // 2
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride, padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, blur_kernel=BLUR_KERNEL):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """Residual discriminator with a minibatch-stddev feature; image → one logit."""

    def __init__(self, size: int, channel_multiplier: int = 2, channel_max: int = 512,
                 channel_scale: float = 1.0, stddev_group: int = 4):
        super().__init__()
        _check_size(size)
        self.config = dict(size=size, channel_multiplier=channel_multiplier, channel_max=channel_max,
                           channel_scale=channel_scale)
        ch = default_channels(channel_multiplier, channel_max, channel_scale)
        log_size = int(math.log2(size))
        in_ch = ch[size]
        convs = [ConvLayer(3, in_ch, 1)]
        for lvl in range(log_size, 2, -1):
            out_ch = ch[2 ** (lvl - 1)]
            convs.append(ResBlock(in_ch, out_ch))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation=True),
                                          EqualLinear(ch[4], 1))

    def forward(self, image):
        out = self.convs(image)
        b, c, h, w = out.shape
        group = math.gcd(b, self.stddev_group)
        y = out.view(group, -1, 1, c, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        y = y.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, y], 1))
        return self.final_linear(out.view(b, -1))


# --------------------------------------------------------------------------- checkpoints
def _is_kernel_buffer(key: str) -> bool:
    return key.endswith("blur.kernel") or key.endswith("upsample.kernel")


def save_generator(path, generator: Generator, extra: dict | None = None) -> None:
    """Write ``{"g_ema", "latent_avg", "config"}`` (rosinality layout plus our config) atomically;
    ``latent_avg`` is the generator's buffer (fill it with :meth:`Generator.set_latent_avg`)."""
    from .files import atomic_write
    payload = {"g_ema": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
               "latent_avg": generator.latent_avg.detach().cpu().reshape(-1),
               "config": dict(generator.config)}
    payload.update(extra or {})
    atomic_write(path, lambda f: torch.save(payload, f))


def load_generator(path, config: dict | None = None, device="cpu") -> Generator:
    """Load ``{"g_ema", "latent_avg"}`` with ``weights_only=True`` → the generator in eval mode,
    frozen, with the file's ``latent_avg`` in its :attr:`Generator.latent_avg` buffer.

    ``config`` (Generator kwargs) is needed for checkpoints that do not carry one, e.g. FFHQ
    config-f: ``dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)``. A missing
    ``latent_avg`` is recomputed from 4096 seeded samples.
    """
    from .checkpoints import read_checkpoint
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        keys = list(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} has no 'g_ema' entry (found {keys}); expected a rosinality "
                         "StyleGAN2 checkpoint {'g_ema', 'latent_avg'}.")
    config = config or ckpt.get("config")
    if config is None:
        raise ValueError(f"{path} carries no generator config: pass config=dict(size=…, ...)")
    generator = Generator(**config)
    from .checkpoints import load_state_checked
    load_state_checked(generator, ckpt["g_ema"], f"generator in {path}", may_be_missing=_is_kernel_buffer,
                       assign=False)
    generator.eval().requires_grad_(False).to(device)
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is None:
        generator.set_latent_avg()
    elif not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != generator.style_dim:
        shape = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
        raise ValueError(f"{path}: latent_avg has shape {shape}, expected [{generator.style_dim}]")
    else:
        generator.latent_avg.copy_(latent_avg.reshape(-1))
    return generator
