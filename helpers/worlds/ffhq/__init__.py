"""The ``ffhq`` world's auxiliary models, in pure PyTorch with the upstream state-dict names.

* :mod:`.irse` — the IR-SE50 face ResNet they share;
* :mod:`.encoders` — ReStyle-pSp (the paper's inverter), e4e and pSp, and :func:`load_encoder`;
* :mod:`.arcface` — ArcFace IR-SE50, :func:`load_arcface` and :func:`identity_embedding`.

The weights come from :mod:`helpers.weights`, e.g.
``load_encoder(fetch("restyle-psp-ffhq", allow_unverified=True), device)``,
``load_encoder(fetch("e4e-ffhq"), device)``, ``load_arcface(fetch("arcface-ir-se50"), device)``.
"""
from .arcface import ArcFace, arcface_input, identity_embedding, load_arcface
from .encoders import (BackboneEncoder, EncoderInversion, EncoderInverter, Encoder4Editing,
                       GradualStyleEncoder, load_encoder)

__all__ = ["ArcFace", "arcface_input", "identity_embedding", "load_arcface", "BackboneEncoder",
           "EncoderInversion", "EncoderInverter", "Encoder4Editing", "GradualStyleEncoder",
           "load_encoder"]
