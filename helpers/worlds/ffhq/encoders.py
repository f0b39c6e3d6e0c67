"""The FFHQ image encoders: ReStyle-pSp (the paper's inverter), e4e and pSp, with their loader.

Taught in ``notebooks/02_inversion.ipynb``. Each encoder maps a 256 px face to a W+ code
[n, n_styles, 512] for the StyleGAN2 decoder stored in the same checkpoint:

* **pSp** (``GradualStyleEncoder``, Richardson et al. 2021): a feature pyramid over IR-SE50;
  coarse entries read the 16×16 map, middle ones the 32×32 map, fine ones the 64×64 map;
  code = encoder(x) + latent_avg.
* **e4e** (``Encoder4Editing``, Tov et al. 2021): the same pyramid, but one shared w₀ plus a
  small per-entry offset, which keeps codes close to W and so easier to edit; code = w₀ + Δᵢ +
  latent_avg.
* **ReStyle-pSp** (``BackboneEncoder``, Alaluf et al. 2021): every entry reads the last 16×16
  map; the input is the image *and* the current reconstruction (6 channels), and the predicted
  residual is added to the current code, 5 times, starting from the average face.

Layer names follow the upstream repositories (eladrich/pixel2style2pixel,
omertov/encoder4editing, yuval-alaluf/restyle-encoder), so their ``.pt`` files load unchanged.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...stylegan2 import EqualLinear, Generator
from ...checkpoints import load_state_checked, read_checkpoint
from .irse import build_without_init, input_layer, ir_se50_body, stage_ends

ENCODER_SIZE = 256          # the encoders' input resolution (upstream: Resize((256, 256)))
COARSE, MIDDLE = 3, 7       # W+ entries [0, 3) coarse, [3, 7) middle, [7, n) fine


# --------------------------------------------------------------------------- building blocks
class StyleHead(nn.Module):
    """Feature map [n, 512, s, s] → one W entry [n, 512] (upstream ``GradualStyleBlock``).

    log2(``spatial``) stride-2 3×3 convs with leaky ReLU (slope 0.01) shrink an s×s map to 1×1,
    then an equalised linear layer. ``spatial`` is the map size at a 256 px input.
    """

    def __init__(self, spatial: int, channels: int = 512):
        super().__init__()
        layers = []
        for _ in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(channels, channels, 3, 2, 1), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(channels, channels)

    def forward(self, features):
        x = self.convs(features)
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"a style head left a {x.shape[-2]}×{x.shape[-1]} map: the encoder "
                             f"input must be at most {ENCODER_SIZE} px")
        return self.linear(x.flatten(1))


def upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear (align_corners=True) resize of ``top`` to ``lateral``'s size, plus it."""
    return F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class _IRSE50Encoder(nn.Module):
    """Stem + IR-SE50 body with the feature maps the heads read."""

    def __init__(self, input_nc: int):
        super().__init__()
        self.input_layer = input_layer(input_nc)
        self.body = ir_se50_body()

    def pyramid(self, x):
        """x [n, input_nc, 256, 256] → (c1 [n,128,64,64], c2 [n,256,32,32], c3 [n,512,16,16])."""
        x = self.input_layer(x)
        taps = {}
        wanted = stage_ends()[1:]
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in wanted:
                taps[i] = x
        return tuple(taps[i] for i in wanted)


class _PyramidEncoder(_IRSE50Encoder):
    """Heads for coarse (16×16), middle (32×32) and fine (64×64) entries, and the lateral 1×1 convs."""

    def __init__(self, input_nc: int, n_styles: int):
        super().__init__(input_nc)
        self.n_styles = n_styles
        self.styles = nn.ModuleList(
            StyleHead(16 if i < COARSE else 32 if i < MIDDLE else 64) for i in range(n_styles))
        self.latlayer1 = nn.Conv2d(256, 512, 1)
        self.latlayer2 = nn.Conv2d(128, 512, 1)

    def level_features(self, x):
        """The map each W+ entry reads: [c3, p2, p1] (computed only as far as needed)."""
        c1, c2, c3 = self.pyramid(x)
        levels = [c3]
        if self.n_styles > COARSE:
            levels.append(upsample_add(c3, self.latlayer1(c2)))
        if self.n_styles > MIDDLE:
            levels.append(upsample_add(levels[1], self.latlayer2(c1)))
        return levels

    @staticmethod
    def level(i: int) -> int:
        """Pyramid level W+ entry ``i`` reads: 0 coarse (c3), 1 middle (p2), 2 fine (p1)."""
        return 0 if i < COARSE else 1 if i < MIDDLE else 2


# --------------------------------------------------------------------------- the three encoders
class GradualStyleEncoder(_PyramidEncoder):
    """pSp: every W+ entry from its own head on its pyramid level → [n, n_styles, 512]."""

    def forward(self, x):
        levels = self.level_features(x)
        return torch.stack([head(levels[self.level(i)]) for i, head in enumerate(self.styles)], 1)


class Encoder4Editing(_PyramidEncoder):
    """e4e: entry 0 is w₀ (from the 16×16 map); entry i is w₀ + Δᵢ → [n, n_styles, 512]."""

    def forward(self, x):
        levels = self.level_features(x)
        w0 = self.styles[0](levels[0])
        deltas = [torch.zeros_like(w0)] + [self.styles[i](levels[self.level(i)])
                                           for i in range(1, self.n_styles)]
        return w0[:, None] + torch.stack(deltas, 1)


class BackboneEncoder(_IRSE50Encoder):
    """ReStyle-pSp: every W+ entry from its own head on the last 16×16 map → [n, n_styles, 512].

    Input: [image, current reconstruction] stacked on channels, [n, 6, 256, 256].
    """

    def __init__(self, input_nc: int, n_styles: int):
        super().__init__(input_nc)
        self.n_styles = n_styles
        self.styles = nn.ModuleList(StyleHead(16) for _ in range(n_styles))

    def forward(self, x):
        features = self.pyramid(x)[-1]
        return torch.stack([head(features) for head in self.styles], 1)


ENCODER_TYPES = {
    "BackboneEncoder": BackboneEncoder,         # ReStyle-pSp
    "Encoder4Editing": Encoder4Editing,         # e4e
    "GradualStyleEncoder": GradualStyleEncoder,  # pSp
}


# --------------------------------------------------------------------------- encoder + decoder
@dataclass
class EncoderInversion:
    """``codes`` [n, n_styles, 512]; ``images`` their reconstructions pooled to the encoder's size
    [n, 3, 256, 256], in [-1, 1] before clamping; ``steps`` the codes after each ReStyle iteration
    (one entry for e4e/pSp)."""

    codes: torch.Tensor
    images: torch.Tensor
    steps: list


class EncoderInverter(nn.Module):
    """An encoder with its decoder and W+ average, as stored in one pSp/e4e/ReStyle checkpoint.

    ``encoder`` and ``decoder`` are named as in the file (keys ``encoder.*``, ``decoder.*``);
    ``latent_avg`` [n_styles, 512] is the code every prediction is an offset from.
    ``iterations``: 5 for ReStyle (the paper's setting), 1 otherwise. ``input_size``: the
    encoder's resolution (256 upstream; smaller only for tests). ``add_average``: e4e/pSp's
    ``start_from_latent_avg`` (ReStyle always starts from the average).
    """

    def __init__(self, encoder_type: str, encoder: nn.Module, decoder: Generator,
                 latent_avg: torch.Tensor, iterations: int, input_size: int = ENCODER_SIZE,
                 add_average: bool = True):
        super().__init__()
        self.encoder_type, self.encoder, self.decoder = encoder_type, encoder, decoder
        self.register_buffer("latent_avg", latent_avg.reshape(-1, decoder.style_dim).clone(),
                             persistent=False)
        self.iterations, self.input_size, self.add_average = iterations, input_size, add_average

    @property
    def iterative(self) -> bool:
        """ReStyle: the encoder sees its own reconstruction and predicts a residual."""
        return self.encoder_type == "BackboneEncoder"

    def pool(self, images: torch.Tensor) -> torch.Tensor:
        """Decoder output → encoder resolution by adaptive average pooling (upstream ``face_pool``)."""
        return F.adaptive_avg_pool2d(images, self.input_size)

    def render(self, codes: torch.Tensor) -> torch.Tensor:
        """W+ codes [n, n_styles, 512] → images [n, 3, input_size, input_size], fixed noise."""
        return self.pool(self.decoder.synthesis(codes, noise_mode="const"))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Check a batch [n, 3, H, W] in [-1, 1] and resize it (antialiased) to the encoder size."""
        if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"expected RGB images [n, 3, H, W] in [-1, 1], got {shape}")
        if images.min() < -1.01 or images.max() > 1.01:
            raise ValueError("images must be scaled to [-1, 1] (x / 127.5 - 1 for uint8 pixels)")
        images = images.to(self.latent_avg.device, torch.float32)
        if images.shape[-2:] != (self.input_size, self.input_size):
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return images

    @torch.no_grad()
    def average_image(self) -> torch.Tensor:
        """The decoder's image of ``latent_avg`` [1, 3, s, s]: ReStyle's first "reconstruction"."""
        return self.render(self.latent_avg[None])

    @torch.no_grad()
    def invert(self, images: torch.Tensor, iterations: int | None = None) -> EncoderInversion:
        """Encode aligned faces [n, 3, H, W] in [-1, 1] into W+ codes [n, n_styles, 512].

        ReStyle: start from the average image and code, then ``iterations`` times encode
        cat(image, reconstruction) and add the output to the code. e4e / pSp: one pass,
        encoder(x) + latent_avg.
        """
        x = self.prepare(images)
        n = len(x)
        if not self.iterative:
            codes = self.encoder(x) + (self.latent_avg if self.add_average else 0)
            return EncoderInversion(codes, self.render(codes), [codes])
        steps = []
        codes = self.latent_avg.expand(n, -1, -1)
        reconstruction = self.average_image().expand(n, -1, -1, -1)
        for _ in range(self.iterations if iterations is None else iterations):
            codes = codes + self.encoder(torch.cat([x, reconstruction], 1))
            reconstruction = self.render(codes)
            steps.append(codes)
        return EncoderInversion(codes, reconstruction, steps)

    def forward(self, images):
        return self.invert(images).codes


# --------------------------------------------------------------------------- the loader
def _read_checkpoint(path) -> dict:
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "opts" not in ckpt:
        found = sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path} is not a pSp/e4e/ReStyle checkpoint: expected the entries "
                         f"'state_dict', 'opts' and 'latent_avg', found {found}.")
    if not isinstance(ckpt["opts"], dict):
        raise ValueError(f"{path}: 'opts' is a {type(ckpt['opts']).__name__}, expected a dict of "
                         "training options")
    return ckpt


def _split(state: dict, path) -> tuple[dict, dict]:
    """``encoder.*`` and ``decoder.*`` keys → two state dicts without the prefix."""
    parts, strays = {"encoder": {}, "decoder": {}}, []
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in parts and rest:
            parts[head][rest] = value
        else:
            strays.append(key)
    if strays:
        raise ValueError(f"{path}: unexpected keys {strays[:8]} outside 'encoder.' and 'decoder.'; "
                         "this is not a pSp/e4e/ReStyle checkpoint.")
    return parts["encoder"], parts["decoder"]


def _fir_kernel(key: str) -> bool:
    # Deterministic blur/upsample buffers: some public copies of the decoder lack them (NOTES §2).
    return key.endswith(("blur.kernel", "upsample.kernel"))


def _latent_avg(ckpt: dict, decoder: Generator, n_styles: int, path) -> torch.Tensor:
    """``latent_avg`` as [n_styles, 512]; recomputed from the decoder where a file lacks it."""
    avg = ckpt.get("latent_avg")
    if avg is None:  # a known variant (NOTES §3)
        warnings.warn(f"{path} has no latent_avg; using the decoder's mean of 4096 mapped samples")
        avg = decoder.mean_latent(4096)
    shape = tuple(avg.shape)
    avg = avg.float()
    if shape in ((decoder.style_dim,), (1, decoder.style_dim)):  # one W code for every entry
        avg = avg.reshape(1, -1).expand(n_styles, -1)
    if tuple(avg.shape) != (n_styles, decoder.style_dim):
        raise ValueError(f"{path}: latent_avg has shape {shape}, expected [{n_styles}, "
                         f"{decoder.style_dim}]")
    return avg


def load_encoder(path, device="cpu", *, decoder_config: dict | None = None,
                 input_size: int = ENCODER_SIZE, iterations: int = 5) -> EncoderInverter:
    """Load a pSp / e4e / ReStyle checkpoint ``{"state_dict", "opts", "latent_avg"}`` (eval, frozen).

    ``opts`` supplies ``encoder_type``, ``input_nc`` (6 for ReStyle, else 3), the decoder size
    (``output_size``, or e4e's ``stylegan_size``) and ``n_styles`` (else 2·log2(size) − 2). Its
    stored ``device`` is ignored: the model goes to ``device``. The decoder is the upstream
    ``Generator(size, 512, 8, channel_multiplier=2)`` unless ``decoder_config`` (kwargs of
    :class:`helpers.stylegan2.Generator`) says otherwise. ``iterations`` applies to ReStyle only.

    Raises ``ValueError`` for an unknown encoder type and for any missing, unexpected or
    mis-shaped key (only BatchNorm step counters and the decoder's FIR kernels may be absent).
    """
    ckpt = _read_checkpoint(path)
    opts = ckpt["opts"]
    encoder_type = opts.get("encoder_type")
    if encoder_type not in ENCODER_TYPES:
        raise ValueError(f"{path}: encoder_type {encoder_type!r} is not supported; supported types "
                         f"are {', '.join(ENCODER_TYPES)} (ReStyle-pSp, e4e, pSp). Use the registered "
                         "files 'restyle-psp-ffhq' or 'e4e-ffhq' (helpers.weights.fetch), or the "
                         "upstream repository for other encoders (ReStyle-e4e, ResNet backbones).")
    size = opts.get("output_size") or opts.get("stylegan_size")
    if not size:
        raise ValueError(f"{path}: opts has neither 'output_size' nor 'stylegan_size', so the decoder "
                         "size is unknown")
    n_styles = int(opts.get("n_styles") or 2 * int(math.log2(size)) - 2)
    input_nc = int(opts.get("input_nc", 6 if encoder_type == "BackboneEncoder" else 3))

    config = dict(size=int(size), style_dim=512, n_mlp=8, channel_multiplier=2)
    config.update(decoder_config or {})
    decoder = Generator(**config)
    if decoder.num_ws != n_styles:
        raise ValueError(f"{path}: opts say {n_styles} styles but a {config['size']} px decoder takes "
                         f"{decoder.num_ws}")
    encoder = build_without_init(ENCODER_TYPES[encoder_type], input_nc, n_styles)

    enc_state, dec_state = _split(ckpt["state_dict"], path)
    load_state_checked(encoder, enc_state, f"{encoder_type} encoder in {path}", prefix="encoder.")
    load_state_checked(decoder, dec_state, f"StyleGAN2 decoder in {path}", prefix="decoder.",
                       may_be_missing=_fir_kernel)
    model = EncoderInverter(encoder_type, encoder, decoder, _latent_avg(ckpt, decoder, n_styles, path),
                            iterations if encoder_type == "BackboneEncoder" else 1, input_size,
                            add_average=bool(opts.get("start_from_latent_avg", True)))
    return model.eval().requires_grad_(False).to(device)
