"""Procedural faces with known identity and micromotion factors (the synthfaces micro-world).

Taught in ``notebooks/00_synthfaces.ipynb``. A face is a vector of named factors in [0, 1]; the
renderer draws it with signed distance fields and analytic anti-aliasing, batched in torch, in one
of four styles (a photo-like look and three out-of-domain looks standing in for the paper's
paintings, cartoons and sculptures). Everything is deterministic given the factors and a seed.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

IDENTITY_FACTORS = ("face_width", "face_length", "skin_tone", "hair_color", "hair_length",
                    "eye_spacing", "nose_size", "brow_thickness", "background_hue", "clothing_hue")
MICROMOTION_FACTORS = ("smile", "anger", "eye_closure", "yaw", "age")
FACTORS = IDENTITY_FACTORS + MICROMOTION_FACTORS
#: Bumped whenever the same factors render differently; training logs record it.
#: 2: an eased, larger smile (corners lift most of a pixel by smile 0.1), rosy cheeks, fuller lips.
VERSION = 2
STYLES = ("photo", "painting", "cartoon", "sculpture")
#: The resting expression: no smile, no anger, eyes open, frontal, young.
NEUTRAL = {"smile": 0.0, "anger": 0.0, "eye_closure": 0.0, "yaw": 0.5, "age": 0.0}
MAX_YAW_DEGREES = 45.0


def factor_index(name: str) -> int:
    """Column of ``name`` in a factor matrix; a clear error for unknown names."""
    if name not in FACTORS:
        raise ValueError(f"unknown factor {name!r}; factors are: {', '.join(FACTORS)}")
    return FACTORS.index(name)


def check_factors(factors) -> torch.Tensor:
    """Validate a factor matrix [batch, len(FACTORS)] with values in [0, 1]; return it as float32."""
    f = torch.as_tensor(factors, dtype=torch.float32)
    if f.dim() == 1:
        f = f[None]
    if f.dim() != 2 or f.shape[1] != len(FACTORS):
        raise ValueError(f"factors must have shape [batch, {len(FACTORS)}] (columns {FACTORS}), "
                         f"got {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise ValueError("factors contain NaN or Inf")
    lo, hi = float(f.min()), float(f.max())
    if lo < 0 or hi > 1:
        bad = [FACTORS[j] for j in range(f.shape[1]) if (f[:, j] < 0).any() or (f[:, j] > 1).any()]
        raise ValueError(f"factor values must lie in [0, 1]; out of range: {bad} "
                         f"(min {lo:.3g}, max {hi:.3g})")
    return f


def sample_factors(n: int, seed: int = 0, neutral: bool = False, **fixed) -> torch.Tensor:
    """``n`` random faces [n, len(FACTORS)] from ``RandomState(seed)``; identity and motion uniform.

    ``neutral=True`` puts micromotions at :data:`NEUTRAL`; keyword arguments pin any factor.
    """
    f = torch.from_numpy(np.random.RandomState(seed).rand(n, len(FACTORS)).astype(np.float32))
    if neutral:
        for name, value in NEUTRAL.items():
            f[:, factor_index(name)] = value
    return set_factors(f, **fixed)


def set_factors(factors: torch.Tensor, **values) -> torch.Tensor:
    """A copy of ``factors`` with the named columns set (scalar or per-row values)."""
    f = check_factors(factors).clone()
    for name, value in values.items():
        f[:, factor_index(name)] = torch.as_tensor(value, dtype=torch.float32)
    return check_factors(f)


def factors_from_dict(values: Mapping[str, float], base=None) -> torch.Tensor:
    """One face [1, F] from a dict of named factors; unnamed ones come from ``base`` or 0.5/neutral."""
    if base is None:
        base = torch.full((1, len(FACTORS)), 0.5)
        for name, v in NEUTRAL.items():
            base[0, factor_index(name)] = v
    return set_factors(base, **dict(values))


# --------------------------------------------------------------------------- drawing primitives
def _cov(d, px):
    """Anti-aliased coverage of the region ``d < 0`` (signed distance ``d``, pixel size ``px``)."""
    return (0.5 - d / px).clamp(0, 1)


def _ellipse(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an axis-aligned ellipse (exact on the axes)."""
    dx, dy = (x - cx) / rx, (y - cy) / ry
    k = torch.sqrt(dx * dx + dy * dy) + 1e-9
    grad = torch.sqrt((dx / rx) ** 2 + (dy / ry) ** 2) / k  # |∇k|: first-order distance k−1 / |∇k|
    return (k - 1) / (grad + 1e-6)


def _segment(x, y, ax, ay, bx, by):
    """Distance to the segment a–b."""
    px, py, dx, dy = x - ax, y - ay, bx - ax, by - ay
    t = ((px * dx + py * dy) / (dx * dx + dy * dy + 1e-9)).clamp(0, 1)
    return torch.sqrt((px - t * dx) ** 2 + (py - t * dy) ** 2)


def _over(canvas, color, alpha):
    """Paint ``color`` [B,3,1,1] or [B,3,H,W] with coverage ``alpha`` [B,1,H,W] over ``canvas``."""
    return canvas * (1 - alpha) + color * alpha


def _hsv(h, s, v):
    """HSV → RGB for tensors of shape [B]; returns [B, 3, 1, 1]."""
    h = (h % 1.0) * 6
    c = v * s
    x = c * (1 - ((h % 2) - 1).abs())
    z = torch.zeros_like(h)
    i = h.floor().long() % 6
    table = torch.stack([torch.stack(t, -1) for t in
                         [(c, x, z), (x, c, z), (z, c, x), (z, x, c), (x, z, c), (c, z, x)]], 1)
    rgb = table[torch.arange(len(h)), i] + (v - c)[:, None]
    return rgb[:, :, None, None]


def _lerp_palette(t, palette):
    """Piecewise-linear colour ramp; ``t`` [B] in [0, 1], ``palette`` list of RGB → [B,3,1,1]."""
    pal = torch.tensor(palette, dtype=torch.float32, device=t.device)
    pos = t.clamp(0, 1) * (len(palette) - 1)
    i0 = pos.floor().long().clamp(max=len(palette) - 2)
    w = (pos - i0)[:, None]
    return ((1 - w) * pal[i0] + w * pal[i0 + 1])[:, :, None, None]


SKIN = [(0.98, 0.85, 0.74), (0.90, 0.72, 0.58), (0.74, 0.55, 0.40), (0.55, 0.38, 0.26),
        (0.38, 0.25, 0.17)]
HAIR = [(0.93, 0.82, 0.52), (0.70, 0.45, 0.20), (0.62, 0.24, 0.10), (0.36, 0.22, 0.12),
        (0.10, 0.08, 0.07)]
GREY = (0.82, 0.82, 0.84)


def _noise_field(seeds: Sequence[int], cells: int, size: int, device) -> torch.Tensor:
    """Smooth value noise [B,1,size,size] in about [-1, 1], one field per seed."""
    grids = np.stack([np.random.RandomState(int(s) % (2 ** 32)).randn(1, cells, cells)
                      for s in seeds]).astype(np.float32)
    return F.interpolate(torch.from_numpy(grids).to(device), size=(size, size), mode="bicubic",
                         align_corners=False)


# --------------------------------------------------------------------------- the face
def _draw(f: torch.Tensor, size: int, flat: bool, seeds) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw faces [B,3,size,size] in [0, 1] and the figure's coverage [B,1,size,size].

    ``flat`` skips shading and texture (the cartoon base)."""
    B, dev = f.shape[0], f.device
    col = {name: f[:, i].view(B, 1, 1, 1) for i, name in enumerate(FACTORS)}
    px = 2.0 / size
    lin = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) * px - 1
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    x, y = x[None, None], y[None, None]

    smile, anger, closure, age = col["smile"], col["anger"], col["eye_closure"], col["age"]
    yaw = (col["yaw"] * 2 - 1) * math.radians(MAX_YAW_DEGREES)
    rx = 0.50 + 0.14 * col["face_width"]
    ry = 0.66 + 0.12 * col["face_length"]
    cx, cy = torch.zeros_like(rx), 0.02 + 0.0 * rx

    def project(frontal):
        """Horizontal position and foreshortening of a point at ``frontal`` (× rx) on the head."""
        theta = torch.asin(torch.as_tensor(frontal, dtype=torch.float32, device=dev).clamp(-1, 1)) + yaw
        return cx + rx * torch.sin(theta), torch.cos(theta).clamp(min=0.05)

    # background: vertical gradient of one hue
    hue = 0.85 * col["background_hue"].view(B)  # < 1 so that hue 0 and 1 differ (no wrap-around)
    top, bottom = _hsv(hue, 0.35 + 0 * hue, 0.92 + 0 * hue), _hsv(hue, 0.55 + 0 * hue, 0.55 + 0 * hue)
    t = (y + 1) / 2
    img = top * (1 - t) + bottom * t

    skin = _lerp_palette(col["skin_tone"].view(B), SKIN)
    skin = skin * (1 - 0.15 * age) + 0.15 * age * skin.mean(1, keepdim=True)   # paler with age
    skin = skin + torch.tensor([0.10, -0.03, -0.03], device=dev).view(1, 3, 1, 1) * anger
    hair = _lerp_palette(col["hair_color"].view(B), HAIR)
    hair = hair * (1 - age ** 1.5) + torch.tensor(GREY, device=dev).view(1, 3, 1, 1) * age ** 1.5
    cloth = _hsv(0.85 * col["clothing_hue"].view(B) + 0.5, 0.6 + 0 * hue, 0.55 + 0 * hue)
    shadow = skin * 0.72

    # long hair behind the head
    hl = col["hair_length"]
    back_ry = ry * (0.95 + 0.75 * hl)
    back = _ellipse(x, y, cx - 0.25 * rx * torch.sin(yaw), cy - 0.08 + back_ry - ry, rx * (1.12 + 0.1 * hl), back_ry)
    a = _cov(back, px) * ((hl - 0.35) / 0.1).clamp(0, 1)
    img = _over(img, hair * 0.85, a)
    mask = a

    # shoulders and neck
    a = _cov(_ellipse(x, y, cx, 1.42 + 0 * rx, 0.98 + 0 * rx, 0.62 + 0 * rx), px)
    img = _over(img, cloth, a)
    mask = torch.maximum(mask, a)
    neck = torch.maximum((x - cx).abs() - 0.30 * rx / 0.57, -(y - cy - 0.3))
    neck = torch.maximum(neck, y - 1.0)
    img = _over(img, shadow, _cov(neck, px))

    # ears sit on the back of the head: they move against the turn and hide behind it
    for side in (-1.0, 1.0):
        ex = cx + side * rx * 0.98 - 0.3 * rx * torch.sin(yaw)
        ear = _ellipse(x, y, ex, cy - 0.02 + 0 * rx, 0.09 + 0 * rx, 0.16 + 0 * rx)
        img = _over(img, shadow * 1.1, _cov(ear, px))

    # head: an ellipse whose lower half narrows toward the chin
    taper = 1 + 0.35 * (y - cy).clamp(min=0) / ry
    head = _ellipse(x * taper, y, cx * taper, cy, rx, ry)
    head_a = _cov(head, px)
    face = skin
    if not flat:  # soft light from the upper left
        light = 1.0 - 0.22 * ((x - cx + 0.35 * rx) ** 2 / rx ** 2 + (y - cy + 0.3 * ry) ** 2 / ry ** 2)
        face = skin * light.clamp(0.6, 1.05)
    img = _over(img, face, head_a)
    mask = torch.maximum(mask, torch.maximum(head_a, _cov(neck, px)))

    # smile raises the cheeks: a soft rosy highlight under each eye, growing from the first degree
    for side in (-1.0, 1.0):
        kx, ks = project(side * 0.55)
        d = _ellipse(x, y, kx, cy + 0.14 * ry - 0.04 * smile, 0.14 * ks, 0.10 + 0 * rx)
        glow = skin * 1.10 + torch.tensor([0.06, 0.0, 0.0], device=dev).view(1, 3, 1, 1)
        img = _over(img, glow.clamp(0, 1), _cov(d, 6 * px) * 0.7 * smile * head_a)

    # age: forehead lines, nasolabial folds, crow's feet
    wrinkle = skin * 0.62
    wa = (age - 0.25).clamp(min=0) / 0.75
    eye_y = cy - 0.12 * ry
    spacing = 0.30 + 0.14 * col["eye_spacing"]
    for k in range(3):
        wy = cy - 0.50 * ry - 0.09 * k
        w_x, w_s = project(0.0)
        d = torch.maximum((y - wy - 0.02 * ((x - w_x) / rx) ** 2).abs() - 0.012, (x - w_x).abs() - 0.30 * rx * w_s)
        img = _over(img, wrinkle, _cov(d, px) * wa * head_a)
    for side in (-1.0, 1.0):
        ax, _ = project(side * 0.22)
        bx, _ = project(side * 0.40)
        d = _segment(x, y, ax, cy + 0.17 * ry, bx, cy + 0.45 * ry) - 0.014
        img = _over(img, wrinkle, _cov(d, px) * wa)
        fx, fs = project(side * (spacing + 0.30))
        for dy in (-0.05, 0.0, 0.05):
            d = _segment(x, y, fx, eye_y + dy, fx + side * 0.07 * fs, eye_y + 1.6 * dy) - 0.010
            img = _over(img, wrinkle, _cov(d, px) * wa * head_a)

    # hair cap on top of the head, parted with the turn
    cap = _ellipse(x, y, cx, cy - 0.04, rx * 1.07, ry * 1.02)
    hairline = cy - ry * (0.42 + 0.08 * hl) + 0.07 * torch.cos(3.0 * (x - cx - 0.6 * rx * torch.sin(yaw)) / rx)
    cap = torch.maximum(cap, y - hairline)
    img = _over(img, hair, _cov(cap, px))
    sides = torch.maximum(_ellipse(x, y, cx, cy - 0.04, rx * 1.08, ry * 1.02), -head)
    sides = torch.maximum(sides, y - (cy + ry * (0.05 + 0.7 * hl)))
    img = _over(img, hair, _cov(sides, px))
    mask = torch.maximum(mask, torch.maximum(_cov(cap, px), _cov(sides, px)))

    # eyes: white, iris, upper lid; closure shrinks the opening to a lid line
    openness = (1 - closure)
    for side in (-1.0, 1.0):
        ex, es = project(side * spacing)
        erx, ery = 0.115 * es, 0.012 + 0.062 * openness
        d_eye = _ellipse(x, y, ex, eye_y, erx, ery)
        a_eye = _cov(d_eye, px)
        img = _over(img, torch.tensor([0.97, 0.96, 0.94], device=dev).view(1, 3, 1, 1) * (0.8 + 0.2 * openness), a_eye)
        ix = ex + 0.045 * torch.sin(yaw) * es
        iris = _ellipse(x, y, ix, eye_y, 0.055 * es, 0.055 + 0 * rx)
        img = _over(img, torch.tensor([0.20, 0.13, 0.08], device=dev).view(1, 3, 1, 1), _cov(iris, px) * a_eye)
        img = _over(img, torch.tensor([0.02, 0.02, 0.02], device=dev).view(1, 3, 1, 1),
                    _cov(_ellipse(x, y, ix, eye_y, 0.024 * es, 0.024 + 0 * rx), px) * a_eye)
        lid = torch.maximum(d_eye.abs() - 0.014 - 0.012 * closure, y - eye_y - 0.01 + 0.0 * closure)
        img = _over(img, shadow * 0.45, _cov(lid, px))

        # brows: anger pulls the inner end down and in
        bt = 0.018 + 0.026 * col["brow_thickness"]
        by = eye_y - 0.15 - 0.02 * openness + 0.02 * closure
        ox, os_ = project(side * (spacing + 0.17 - 0.03 * anger))
        ix2, _ = project(side * (spacing - 0.16 + 0.05 * anger))
        d = _segment(x, y, ix2, by + 0.085 * anger - 0.01, ox, by - 0.025 * anger + 0.015) - bt
        img = _over(img, hair * 0.7, _cov(d, px))

    # nose: bridge shadow and nostrils, it sticks out so it moves more with the turn
    ns = 0.8 + 0.5 * col["nose_size"]
    nx = cx + rx * torch.sin(yaw) * 1.25
    ny = cy + 0.17 * ry
    bridge = _segment(x, y, cx + rx * torch.sin(yaw), eye_y + 0.05, nx, ny) - 0.012 * ns
    img = _over(img, shadow, _cov(bridge, px) * 0.6)
    img = _over(img, shadow * 0.8, _cov(_ellipse(x, y, nx, ny, 0.075 * ns, 0.035 * ns), px))

    # mouth: a lip band on a curve; smile lifts the corners and opens onto teeth, anger turns them down.
    # The lift eases out (fast at first) so a faint smile already moves the corners by most of a
    # pixel at 64 px; the teeth carry the upper range.
    mx, ms = project(0.0)
    my = cy + 0.43 * ry
    eased = 1 - (1 - smile) ** 2
    half = (0.17 + 0.07 * eased - 0.04 * anger) * ms
    u = ((x - mx) / half).clamp(-1.5, 1.5)
    lift = 0.13 * eased - 0.07 * anger
    centre = my - lift * u ** 2 + 0.5 * lift
    gap = (0.075 * (smile - 0.35).clamp(min=0) / 0.65) * (1 - u ** 2).clamp(min=0)
    inside = (y - centre - gap / 2).abs() - gap / 2
    ends = (x - mx).abs() - half
    lips = torch.maximum(inside - 0.036 * (1 - 0.5 * u ** 2), ends)
    lip_col = skin * torch.tensor([0.85, 0.52, 0.52], device=dev).view(1, 3, 1, 1)
    img = _over(img, lip_col, _cov(lips, px))
    opening = torch.maximum(inside, ends + 0.01)
    img = _over(img, torch.tensor([0.25, 0.05, 0.05], device=dev).view(1, 3, 1, 1), _cov(opening, px))
    teeth = torch.maximum(torch.maximum(inside, ends + 0.03), y - centre - 0.6 * gap)
    img = _over(img, torch.tensor([0.96, 0.95, 0.90], device=dev).view(1, 3, 1, 1), _cov(teeth, px))

    if not flat:  # a little skin texture and sensor grain
        grain = _noise_field([s + 7 for s in seeds], size // 2, size, dev)
        img = img * (1 + 0.025 * grain)
    return img.clamp(0, 1), mask


# --------------------------------------------------------------------------- styles
def _luma(img):
    return (img * torch.tensor([0.299, 0.587, 0.114], device=img.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _edges(img):
    """Colour-gradient magnitude [B,1,H,W] (Sobel over RGB)."""
    kx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float32, device=img.device) / 4
    k = torch.stack([kx, kx.T])[:, None].repeat(3, 1, 1, 1)
    g = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    return g.pow(2).sum(1, keepdim=True).sqrt()


def _painting(img, seeds):
    """Oil paint: warm saturated palette, brush strokes that smear colour along a flow field."""
    B, _, H, W = img.shape
    mean = img.mean(1, keepdim=True)
    img = (mean + 1.35 * (img - mean)) * torch.tensor([1.06, 0.98, 0.82], device=img.device).view(1, 3, 1, 1)
    flow = _noise_field(seeds, 4, H, img.device) * 2.0
    angle = flow[:, 0]
    lin = torch.linspace(-1, 1, H, device=img.device)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    acc = torch.zeros_like(img)
    for step in (-2, -1, 0, 1, 2):  # average along the stroke direction
        off = step * 1.5 / H
        grid = torch.stack([gx + off * torch.cos(angle), gy + off * torch.sin(angle)], -1)
        acc = acc + F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
    img = acc / 5
    strokes = torch.sin(45 * (gx * torch.cos(angle + 1.3) + gy * torch.sin(angle + 1.3)))[:, None]
    canvas = _noise_field([s + 11 for s in seeds], H // 2, H, img.device)
    return (img * (1 + 0.05 * strokes + 0.03 * canvas)).clamp(0, 1)


def _cartoon(flat_img, mask):
    """Cartoon: posterised flat colours, a plain backdrop and dark outlines."""
    backdrop = flat_img[:, :, :1, :1] * 0.5 + 0.5
    img = _over(backdrop.expand_as(flat_img), (flat_img * 4).round() / 4, mask)
    edge = ((_edges(img) - 0.08) / 0.08).clamp(0, 1)
    return _over(img, torch.tensor([0.08, 0.06, 0.06], device=img.device).view(1, 3, 1, 1), edge)


def _sculpture(img, mask, seeds):
    """Marble: grey stone, strong top-left light, veins, in a dark niche."""
    B, _, H, W = img.shape
    lum = _luma(img)
    lum = 0.62 + 1.1 * (lum - (lum * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True))
    lin = torch.linspace(-1, 1, H, device=img.device)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    light = (1.1 - 0.3 * (gx + 0.4) ** 2 - 0.2 * (gy + 0.4) ** 2)[None, None]
    turb = _noise_field(seeds, 5, H, img.device)
    veins = (1 - (torch.sin(7 * gx + 4 * gy + 3 * turb)).abs()) ** 8
    stone = (lum * light - 0.15 * veins).clamp(0, 1)
    stone = stone * torch.tensor([0.96, 0.95, 0.91], device=img.device).view(1, 3, 1, 1)
    niche = (0.18 + 0.08 * light).expand(B, 3, H, W) * torch.tensor([1.0, 0.9, 0.8], device=img.device).view(1, 3, 1, 1)
    return _over(niche, stone, mask).clamp(0, 1)


def render(factors, style: str = "photo", size: int = 64, seeds: Iterable[int] | int | None = None,
           device=None) -> torch.Tensor:
    """Faces for a factor matrix [batch, len(FACTORS)] → images [batch, 3, size, size] in [-1, 1].

    ``style`` is one of :data:`STYLES`; ``seeds`` (one per face, or one base seed) fixes texture.
    The output range matches the generator's, so renders and samples compare directly.
    """
    f = check_factors(factors)
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; styles are: {', '.join(STYLES)}")
    if not isinstance(size, int) or size < 16 or size > 1024:
        raise ValueError(f"size must be an integer between 16 and 1024, got {size!r}")
    if device is not None:
        f = f.to(device)
    if seeds is None or isinstance(seeds, (int, np.integer)):
        base = 0 if seeds is None else int(seeds)
        seeds = [base + i for i in range(len(f))]
    seeds = list(seeds)
    if len(seeds) != len(f):
        raise ValueError(f"got {len(seeds)} seeds for {len(f)} faces")
    with torch.no_grad():
        img, mask = _draw(f, size, flat=style == "cartoon", seeds=seeds)
        if style == "cartoon":
            img = _cartoon(img, mask)
        elif style == "painting":
            img = _painting(img, seeds)
        elif style == "sculpture":
            img = _sculpture(img, mask, seeds)
    return img * 2 - 1


def sweep(identity, factor: str, values: Sequence[float] | int = 7, style: str = "photo",
          size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A "video": one face (``identity`` [1, F] or [F]) with ``factor`` swept over ``values``.

    Returns (frames [T, 3, size, size] in [-1, 1], factor matrix [T, F]). An int ``values`` gives
    that many evenly spaced values over [0, 1]. The same seed for every frame keeps texture still.
    """
    base = check_factors(identity)
    if base.shape[0] != 1:
        raise ValueError("sweep takes one face")
    factor_index(factor)
    if isinstance(values, int):
        values = np.linspace(0, 1, values)
    vals = torch.as_tensor(np.asarray(values, dtype=np.float32))
    f = set_factors(base.repeat(len(vals), 1), **{factor: vals})
    return render(f, style=style, size=size, seeds=[seed] * len(vals)), f


def yaw_degrees(values) -> np.ndarray:
    """Yaw factor in [0, 1] → head angle in degrees (−45° … 45°, as in the paper's video)."""
    return (np.asarray(values, dtype=np.float64) * 2 - 1) * MAX_YAW_DEGREES


def yaw_factor(degrees) -> np.ndarray:
    """Head angle in degrees → yaw factor in [0, 1]."""
    return (np.asarray(degrees, dtype=np.float64) / MAX_YAW_DEGREES + 1) / 2
