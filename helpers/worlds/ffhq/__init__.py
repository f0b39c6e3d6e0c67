"""The ``ffhq`` world's auxiliary models, in pure PyTorch with the upstream state-dict names.

* :mod:`.irse` — the IR-SE50 face ResNet they share;
* :mod:`.encoders` — ReStyle-pSp (the paper's inverter), e4e and pSp, and :func:`load_encoder`;
* :mod:`.arcface` — ArcFace IR-SE50, :func:`load_arcface` and :func:`identity_embedding`.

The weights are registered in :mod:`.catalogue` and come from :mod:`helpers.weights`, e.g.
``load_encoder(fetch("restyle-psp-ffhq", allow_unverified=True), device)``,
``load_encoder(fetch("e4e-ffhq"), device)``, ``load_arcface(fetch("arcface-ir-se50"), device)``.
"""
_EXPORTS = {"ArcFace": "arcface", "arcface_input": "arcface", "identity_embedding": "arcface",
            "load_arcface": "arcface", "BackboneEncoder": "encoders", "EncoderInversion": "encoders",
            "EncoderInverter": "encoders", "Encoder4Editing": "encoders",
            "GradualStyleEncoder": "encoders", "load_encoder": "encoders"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """The models load on first use: ``import helpers.worlds.ffhq.catalogue`` needs no torch."""
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
