"""The ffhq world: StyleGAN2-FFHQ 1024 px (fetched, hash-checked), with ReStyle-pSp, ArcFace and
CLIP ViT-B/32 loaded on first use (``load("ffhq")`` fetches only the generator)."""
from __future__ import annotations

from ..world import World
from . import catalogue  # noqa: F401  (registers the weights fetched below)

#: the paper's models this world may load: its version is a hash of their hashes
MODELS = ("stylegan2-ffhq", "restyle-psp-ffhq", "e4e-ffhq", "arcface-ir-se50", "clip-vit-b32")

FFHQ_CONFIG = dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)


def load_clip(device, path=None):
    """CLIP ViT-B/32 from OpenAI's TorchScript file (fetched and hash-checked, or ``path``),
    rebuilt as the `clip` package's model class, float32 on a CPU (as ``clip.load``).

    Only ``clip/model.py`` is used: ``import clip`` needs torchvision (for a preprocessing this book
    does not use) and ``pkg_resources``, which setuptools ≥ 81 no longer ships.
    """
    import torch
    from ...guidance import clip_module, with_fast_patch_embedding
    if path is None:
        from ...weights import fetch
        path = fetch("clip-vit-b32")
    import warnings
    try:
        with warnings.catch_warnings():     # torch ≥ 2.9 calls TorchScript deprecated: not ours to act on
            warnings.simplefilter("ignore", DeprecationWarning)
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{path} is not a TorchScript CLIP archive ({str(error).splitlines()[0]}); "
                         "delete it and load the world again to fetch a fresh copy") from None
    try:
        model = clip_module("model").build_model(state)
    except (KeyError, RuntimeError, ValueError) as error:
        raise ValueError(f"{path} does not hold a CLIP model's weights ({type(error).__name__}: "
                         f"{error}); expected OpenAI's ViT-B-32.pt") from None
    model = model.to(device)
    if torch.device(device).type == "cpu":
        model = model.float()
    return with_fast_patch_embedding(model.eval().requires_grad_(False))


def load(dev, config: dict | None = None, encoder_input: int | None = None) -> World:
    """The paper's world. ``config`` (Generator kwargs, default :data:`FFHQ_CONFIG`) and
    ``encoder_input`` (default 256 px) exist so that tests can wire it with small random models."""
    from ...stylegan2 import load_generator
    from ...shipped import world_version
    from ...weights import fetch, get_spec
    from .encoders import ENCODER_SIZE
    config = dict(FFHQ_CONFIG if config is None else config)
    encoder_input = ENCODER_SIZE if encoder_input is None else encoder_input
    path = fetch("stylegan2-ffhq")
    generator = load_generator(path, config=config, device=dev)

    def encoder():
        import warnings
        from ...weights import WeightsError, fetch   # looked up at call time: tests replace it
        from . import load_encoder
        # ReStyle-pSp, the paper's inverter, has no published sha256: the download is accepted,
        # hashed and recorded. Where no mirror can be fetched, e4e (hash verified) stands in.
        try:
            path = fetch("restyle-psp-ffhq", allow_unverified=True)
        except WeightsError as err:
            warnings.warn("ReStyle-pSp could not be fetched, so the e4e encoder stands in (its "
                          f"hash is verified; inversions differ from the paper's): {err}",
                          RuntimeWarning, stacklevel=2)
            path = fetch("e4e-ffhq")
        return load_encoder(path, dev, decoder_config=config, input_size=encoder_input)

    def identity_model():
        from ...weights import fetch
        from . import load_arcface
        return load_arcface(fetch("arcface-ir-se50"), dev)

    return World("ffhq", generator, dev, refine_steps=0,     # the paper: ReStyle's output alone
                 loaders={"encoder": encoder, "identity_model": identity_model,
                          "text_model": lambda: load_clip(dev)},
                 info={"weights": str(path), "weights_sha256": get_spec("stylegan2-ffhq").sha256,
                       "version": world_version({n: get_spec(n).sha256 for n in MODELS}),
                       "encoder": "restyle-psp-ffhq (ReStyle-pSp, 5 iterations; loads on first use)",
                       "identity_model": "arcface-ir-se50 (loads on first use)",
                       "text_model": "CLIP ViT-B/32 (loads on first use)"})
