"""The ffhq world: StyleGAN2-FFHQ 1024 px (fetched, hash-checked), with ReStyle-pSp, ArcFace and
CLIP ViT-B/32 loaded on first use (``load("ffhq")`` fetches only the generator)."""
from __future__ import annotations

from ..world import World
from . import catalogue  # noqa: F401  (registers the weights fetched below)

FFHQ_CONFIG = dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)


def load_clip(device):
    """CLIP ViT-B/32 through the `clip` package (it downloads and checks the file itself)."""
    try:
        import clip
    except ImportError as err:
        raise ImportError("the ffhq world's text model is CLIP ViT-B/32 from the `clip` package, whose "
                          "clip.load needs torchvision: pip install torchvision, and pip install --no-deps "
                          "clip-anytorch ftfy regex (`pip install clip` is an unrelated tool)") from err
    from ...guidance import with_fast_patch_embedding
    model, _ = clip.load("ViT-B/32", device=device, jit=False)
    return with_fast_patch_embedding(model.eval().requires_grad_(False))


def load(dev, config: dict | None = None, encoder_input: int | None = None) -> World:
    """The paper's world. ``config`` (Generator kwargs, default :data:`FFHQ_CONFIG`) and
    ``encoder_input`` (default 256 px) exist so that tests can wire it with small random models."""
    from ...stylegan2 import load_generator
    from ...weights import fetch, get_spec
    from .encoders import ENCODER_SIZE
    config = dict(FFHQ_CONFIG if config is None else config)
    encoder_input = ENCODER_SIZE if encoder_input is None else encoder_input
    path = fetch("stylegan2-ffhq")
    generator = load_generator(path, config=config, device=dev)

    def encoder():
        from ...weights import fetch       # looked up at call time: tests replace it
        from . import load_encoder
        # ReStyle-pSp has no published sha256: the download is accepted, hashed and recorded
        return load_encoder(fetch("restyle-psp-ffhq", allow_unverified=True), dev,
                            decoder_config=config, input_size=encoder_input)

    def identity_model():
        from ...weights import fetch
        from . import load_arcface
        return load_arcface(fetch("arcface-ir-se50"), dev)

    return World("ffhq", generator, dev,
                 loaders={"encoder": encoder, "identity_model": identity_model,
                          "text_model": lambda: load_clip(dev)},
                 info={"weights": str(path), "weights_sha256": get_spec("stylegan2-ffhq").sha256,
                       "encoder": "restyle-psp-ffhq (ReStyle-pSp, 5 iterations; loads on first use)",
                       "identity_model": "arcface-ir-se50 (loads on first use)",
                       "text_model": "CLIP ViT-B/32 (loads on first use)"})
