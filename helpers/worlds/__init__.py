"""One API over two worlds: ``load("synthfaces")`` (offline, ground truth) or ``load("ffhq")``.

Taught in ``notebooks/01_generator.ipynb``. A notebook changes world with one parameter; every
method below behaves the same in both, and the synthfaces world adds what only a world with known
factors can offer (``render``, ``measure``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORLDS = ("synthfaces", "ffhq")
FFHQ_CONFIG = dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)


@dataclass
class World:
    """A generator with its latent average plus the world's extra instruments.

    ``generator``: :class:`helpers.stylegan2.Generator` (eval, frozen); ``latent_avg``:
    [style_dim]; ``truncation``: the default ψ of the paper's start codes (0.7).
    """

    name: str
    generator: Any
    latent_avg: Any
    device: Any
    truncation: float = 0.7
    meter: Any = None
    text_model: Any = None
    info: dict = field(default_factory=dict)

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    @property
    def style_dim(self) -> int:
        return self.generator.style_dim

    @property
    def resolution(self) -> int:
        return self.generator.size

    def sample_w(self, n: int, seed: int = 0, truncation: float | None = None):
        """``n`` codes in W [n, style_dim] from ``RandomState(seed)``, truncated toward the average."""
        import torch
        from ..stylegan2 import z_from_seed
        psi = self.truncation if truncation is None else truncation
        with torch.no_grad():
            w = self.generator.mapping(z_from_seed(seed, n, self.style_dim, self.device))
            return self.latent_avg + psi * (w - self.latent_avg)

    def sample_wplus(self, n: int, seed: int = 0, truncation: float | None = None):
        """Like :meth:`sample_w`, broadcast to W+ [n, num_ws, style_dim]."""
        return self.generator.to_wplus(self.sample_w(n, seed, truncation)).clone()

    def synthesize(self, ws, batch: int = 16, noise_mode: str = "const"):
        """W or W+ codes → images [n, 3, res, res] in [-1, 1] (clamped), rendered in batches."""
        import torch
        out = []
        with torch.no_grad():
            for i in range(0, len(ws), batch):
                out.append(self.generator.synthesis(ws[i:i + batch].to(self.device),
                                                    noise_mode=noise_mode).clamp(-1, 1).cpu())
        return torch.cat(out)

    def measure(self, images):
        """Factors read off images by the factor meter (synthfaces only)."""
        if self.meter is None:
            raise ValueError(f"the {self.name!r} world has no factor meter: ground-truth factors "
                             "exist only in the synthfaces world")
        return self.meter.measure(images)

    def tokenize(self, prompts):
        """Prompts → CLIP token ids [n, 77] (the `clip` package's BPE in both worlds)."""
        if self.name == "ffhq":
            import clip
            return clip.tokenize(list(prompts))
        from .synthfaces.text_model import tokenize
        return tokenize(list(prompts))

    def clip_loss(self, images, prompts):
        """The paper's CLIP loss ``1 − logits/100`` per image [n]; one prompt, or one per image."""
        from ..guidance import clip_loss
        if self.text_model is None:
            raise ValueError(f"the {self.name!r} world has no text model yet; for synthfaces train it with "
                             "`python -m helpers.worlds.synthfaces.text_model`")
        tokens = prompts if hasattr(prompts, "dtype") else self.tokenize(prompts)
        return clip_loss(self.text_model, images, tokens)

    def identity_loss(self, images, reference):
        """``1 − cos`` between identity embeddings of ``images`` and ``reference``, per image [n]."""
        from ..guidance import identity_loss
        if self.meter is None:
            raise ValueError(f"the {self.name!r} world has no identity model loaded")
        return identity_loss(self.meter.identity_embedding, images, reference)

    def render(self, factors, style: str = "photo", seeds=None):
        """Renderer faces at the generator's resolution (synthfaces only)."""
        if self.name != "synthfaces":
            raise ValueError("only the synthfaces world has a renderer")
        from .synthfaces import renderer
        return renderer.render(factors, style=style, size=self.resolution, seeds=seeds)


def load(name: str = "synthfaces", device: str | None = "auto") -> World:
    """Load a world by name on ``device`` ('auto' picks CUDA, then MPS, then CPU)."""
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; worlds are: {', '.join(WORLDS)}")
    from ..device import pick_device
    dev = pick_device(device)
    if name == "synthfaces":
        return _load_synthfaces(dev)
    return _load_ffhq(dev)


def _load_synthfaces(dev) -> World:
    import torch
    from ..shipped import verified
    from ..stylegan2 import load_generator
    from .synthfaces.meter import load_meter
    path = verified("synthfaces_g.pt")
    generator, latent_avg = load_generator(path, device=dev)
    meta = torch.load(path, map_location="cpu", weights_only=True)
    meter = load_meter(device=dev)
    from ..shipped import manifest
    text_model, text_sha = None, None
    if "synthfaces_clip.pt" in manifest():
        from .synthfaces.text_model import load_text_model
        text_model = load_text_model(device=dev)
        text_sha = manifest()["synthfaces_clip.pt"]["sha256"]
    return World("synthfaces", generator, latent_avg, dev, meter=meter, text_model=text_model,
                 info={"trained_images": int(meta.get("trained_images", 0)),
                       "trained_steps": int(meta.get("trained_steps", 0)), "weights": str(path),
                       "weights_sha256": manifest()[path.name]["sha256"], "text_model_sha256": text_sha})


def _load_ffhq(dev) -> World:
    from ..stylegan2 import load_generator
    from ..weights import fetch
    from ..weights import get_spec
    path = fetch("stylegan2-ffhq")
    generator, latent_avg = load_generator(path, config=FFHQ_CONFIG, device=dev)
    return World("ffhq", generator, latent_avg, dev,
                 info={"weights": str(path), "weights_sha256": get_spec("stylegan2-ffhq").sha256})
