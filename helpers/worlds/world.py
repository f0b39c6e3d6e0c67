"""The World: a generator plus the instruments a world has.

Every notebook and command talks to a world through this one class; each world package builds its
own (``synthfaces.world``, ``ffhq.world``), and ``helpers.worlds.load`` picks one by name.
"""
from __future__ import annotations

from typing import Any, Callable

LAZY_MODELS = ("encoder", "text_model", "identity_model")
OWN_MODELS = ("meter", "judge", "renderer")


class World:
    """A generator plus the world's extra instruments.

    ``generator``: :class:`helpers.stylegan2.Generator` (eval, frozen), carrying its truncation
    centre ``generator.latent_avg`` [style_dim] (also :attr:`latent_avg`); ``truncation``: the default ψ of the paper's start codes (0.7). ``meter``: the
    synthfaces factor meter that takes part in optimisations (the guide; None in ffhq). ``judge``: a
    second meter trained apart that only scores (:meth:`measure`). ``renderer``: a module that draws the world's people
    from known factors (``sample_factors``, ``render``, ``sweep``; synthfaces' procedural
    renderer), so that chapters can make ground-truth images and clips; None in ffhq. ``encoder``, ``text_model``, ``identity_model``: given,
    or built on first access by ``loaders[name]()`` (a download, for ffhq); None where the world
    has none. ``info``: provenance (weights files and their sha256). ``reconstruction_bound``: the
    largest reconstruction error of the world's own renders and the threshold above which an image
    is one it cannot represent (a dict, see ``synthfaces.representable``; None where not measured).
    """

    def __init__(self, name: str, generator, device, truncation: float = 0.7, meter=None,
                 text_model=None, info: dict | None = None, *, encoder=None, identity_model=None,
                 loaders: dict[str, Callable[[], Any]] | None = None, reconstruction_bound=None,
                 renderer=None, judge=None, refine_steps: int | None = None):
        self.name, self.generator, self.device = name, generator, device
        self.refine_steps = refine_steps     # invert's default after the encoder (None: 100)
        self.reconstruction_bound, self.renderer = reconstruction_bound, renderer
        self.truncation, self.meter, self.info = truncation, meter, dict(info or {})
        self.judge = judge
        self._models = {"encoder": encoder, "text_model": text_model, "identity_model": identity_model}
        self._loaders = dict(loaders or {})
        unknown = set(self._loaders) - set(LAZY_MODELS)
        if unknown:
            raise ValueError(f"no lazy model named {sorted(unknown)}; lazy models: {', '.join(LAZY_MODELS)}")

    # ------------------------------------------------------------------ models, loaded on first use
    def _model(self, name: str):
        if self._models[name] is None and name in self._loaders:
            self._models[name] = self._loaders[name]()     # may download; kept only on success
            del self._loaders[name]
        return self._models[name]

    def has(self, model: str) -> bool:
        """Whether the world has ``model`` ('encoder', 'text_model', 'identity_model', 'meter',
        'judge', 'renderer'), loaded or loadable, without loading it: what notebooks ask before a
        cell that needs it, instead of asking for the world's name."""
        if model in OWN_MODELS:
            return getattr(self, model) is not None
        if model not in LAZY_MODELS:
            raise ValueError(f"unknown model {model!r}; models: {', '.join(OWN_MODELS + LAZY_MODELS)}")
        return self._models[model] is not None or model in self._loaders

    @property
    def encoder(self):
        """Image → W+ network (synthfaces: e4e-style; ffhq: ReStyle-pSp), or None."""
        return self._model("encoder")

    @encoder.setter
    def encoder(self, value):
        self._models["encoder"] = value
        self._loaders.pop("encoder", None)

    @property
    def text_model(self):
        """A model with the `clip` package's CLIP interface, or None."""
        return self._model("text_model")

    @text_model.setter
    def text_model(self, value):
        self._models["text_model"] = value
        self._loaders.pop("text_model", None)

    @property
    def identity_model(self):
        """ArcFace (ffhq) or the factor meter (synthfaces): what :meth:`identity_embedding` uses."""
        return self._model("identity_model")

    @identity_model.setter
    def identity_model(self, value):
        self._models["identity_model"] = value
        self._loaders.pop("identity_model", None)

    # ------------------------------------------------------------------ metadata
    @property
    def version(self) -> str:
        """The world's version: a short hash of its model files' hashes. Results, anchor caches
        and study rows record it, so numbers from other models are never mixed up."""
        return self.info.get("version") or self.name

    @property
    def latent_avg(self):
        """The generator's average w [style_dim]: the centre of truncation and of inversion."""
        return self.generator.latent_avg

    @property
    def num_ws(self) -> int:
        return self.generator.num_ws

    @property
    def style_dim(self) -> int:
        return self.generator.style_dim

    @property
    def resolution(self) -> int:
        return self.generator.size

    @property
    def templates(self) -> dict[str, str]:
        """The paper's prompt templates by micromotion, ``{}`` standing for the degree word."""
        from ..vocabulary import TEMPLATES
        return dict(TEMPLATES)

    def __repr__(self) -> str:
        parts = [f"{self.resolution} px", f"W+ {self.num_ws} × {self.style_dim}", f"device {self.device}"]
        for model in LAZY_MODELS + OWN_MODELS:
            own = model in OWN_MODELS
            state = "yes" if (getattr(self, model) if own else self._models[model]) is not None else (
                "on first use" if model in self._loaders else "no")
            parts.append(f"{model}: {state}")
        return f"World({self.name!r}; {', '.join(parts)})"

    # ------------------------------------------------------------------ codes and images
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

    def paper_start_code(self, seed: int = 1, truncation: float | None = None):
        """The released code's start code for ``seed``, as far as it can be reproduced → W+
        [1, num_ws, style_dim]. Its ``z`` is exact: StyleCLIP draws ``torch.randn(1, 512)`` on the
        CPU after ``torch.manual_seed(seed)``, the same on every device. Its truncation centre is
        not: the code truncates toward ``mean_latent(4096)``, drawn on the GPU (another average on
        every device), so this uses the checkpoint's ``latent_avg``, as :meth:`sample_w` does."""
        import torch
        z = torch.randn(1, self.style_dim, generator=torch.Generator().manual_seed(seed))
        psi = self.truncation if truncation is None else truncation
        with torch.no_grad():
            w = self.generator.mapping(z.to(self.device))
            w = self.latent_avg + psi * (w - self.latent_avg)
        return self.generator.to_wplus(w).clone()

    def synthesize(self, ws, batch: int = 16, noise_mode: str = "const"):
        """W or W+ codes → images [n, 3, res, res] in [-1, 1] (clamped), rendered in batches."""
        import torch
        out = []
        with torch.no_grad():
            for i in range(0, len(ws), batch):
                out.append(self.generator.synthesis(ws[i:i + batch].to(self.device),
                                                    noise_mode=noise_mode).clamp(-1, 1).cpu())
        return torch.cat(out)

    def preprocess(self, images):
        """Anything image-like → a batch [n, 3, res, res] in [-1, 1] (float32, CPU).

        Takes a file path, a PIL image, a numpy array ([H, W], [H, W, 1|3|4], or a batch
        [n, H, W, C]; uint8, uint16, bool or floats in [0, 1]), a tensor ([3, H, W] or [n, C, H, W]
        in [-1, 1], or uint8), or a list of any of these. Files, PIL images and arrays go through
        :func:`helpers.images.load_image` (EXIF rotation, transparency onto white, grey and
        16-bit to 8-bit RGB, huge images downscaled on load). Non-square images are centre-cropped
        to a square, then resized (Lanczos / antialiased) to the generator's resolution. No face
        alignment: for real photos use :func:`helpers.alignment.align_face` first.

        Raises ``ValueError`` (``ImageLoadError`` for files) for anything that is not an image,
        images smaller than 16 px, and tensors outside [-1, 1].
        """
        from ..images import to_batch
        return to_batch(images, self.resolution)

    def encode(self, images, batch: int = 16):
        """Images (anything :meth:`preprocess` takes) → W+ codes [n, num_ws, style_dim] on the world's
        device, by the encoder alone (no gradients, in batches)."""
        import torch
        encoder = self.encoder
        if encoder is None:
            raise ValueError(f"the {self.name!r} world has no encoder: train it with `python -m "
                             "helpers.worlds.synthfaces.train_encoder`, or use invert(), which then optimises "
                             "from the average code")
        x = self.preprocess(images)
        with torch.no_grad():
            return torch.cat([encoder(x[i:i + batch].to(self.device)) for i in range(0, len(x), batch)])

    def invert(self, images, refine_steps: int | None = None, **kw):
        """Images → W+ codes [n, num_ws, style_dim]: the encoder's guess, then optimisation.

        ``refine_steps`` of :func:`helpers.inversion.invert` start from :meth:`encode` (default:
        the world's ``refine_steps`` — 0 on ffhq, the paper's ReStyle output alone — else 100;
        0 returns the encoder's codes). A world without an encoder starts from the average
        code (default 300 steps). ``kw`` go to :func:`helpers.inversion.invert` (``lr``,
        ``spread_weight``, ``feature_weight``, ``progress``…); the synthfaces world matches the factor
        meter's features besides pixels unless ``feature_fn=None`` — that keeps the factors (smile,
        identity…) where pixels alone would trade them for a lower pixel error.
        """
        from ..inversion import invert
        x = self.preprocess(images)
        init = self.encode(x) if self.encoder is not None else None
        if refine_steps is None:
            refine_steps = (300 if init is None else 100 if self.refine_steps is None
                            else self.refine_steps)
        if refine_steps < 0:
            raise ValueError(f"refine_steps must be ≥ 0, got {refine_steps}")
        if refine_steps == 0:
            if init is None:
                raise ValueError(f"the {self.name!r} world has no encoder, so refine_steps=0 would return "
                                 "the average code; give refine_steps > 0")
            return init
        kw.setdefault("feature_fn", self.meter.features if self.meter is not None else None)
        return invert(self, x, init=init, steps=refine_steps, **kw).codes

    def measure(self, images, by: str = "judge"):
        """Factors [n, len(FACTORS)] read off images (synthfaces only): by the judge, which scores
        everything the book reports, or ``by="meter"``, the guide that optimisations use (reading
        what a guide sees). A world without a separate judge scores with its meter."""
        if by not in ("judge", "meter"):
            raise ValueError(f"by must be 'judge' or 'meter', got {by!r}")
        if self.meter is None:
            raise ValueError(f"the {self.name!r} world has no factor meter: ground-truth factors "
                             "exist only in the synthfaces world")
        return (self.judge if by == "judge" and self.judge is not None else self.meter).measure(images)

    def render(self, factors, style: str = "photo", seeds=None):
        """Renderer faces at the generator's resolution (synthfaces only)."""
        if self.name != "synthfaces":
            raise ValueError("only the synthfaces world has a renderer")
        from .synthfaces import renderer
        return renderer.render(factors, style=style, size=self.resolution, seeds=seeds)

    # ------------------------------------------------------------------ text
    def template(self, template: str) -> str:
        """A micromotion name (a key of :attr:`templates`) or a template with ``{}`` → the template."""
        from ..vocabulary import resolve_template
        return resolve_template(template)

    def prompts(self, template: str, degrees=None) -> list[str]:
        """The prompt sweep of a template or micromotion name (default degrees: "no", 10 %, … 100 %)."""
        from ..vocabulary import PERCENTAGES, prompts
        return prompts(self.template(template), PERCENTAGES if degrees is None else tuple(degrees))

    def tokenize(self, prompts):
        """Prompts → CLIP token ids [n, 77] (the `clip` package's BPE, the same in both worlds)."""
        from ..guidance import tokenize
        return tokenize([prompts] if isinstance(prompts, str) else list(prompts))

    def _require_text_model(self):
        model = self.text_model
        if model is None:
            raise ValueError(f"the {self.name!r} world has no text model yet; for synthfaces train it with "
                             "`python -m helpers.worlds.synthfaces.text_model`")
        return model

    def encode_text(self, prompts):
        """Prompts (or token ids) → unit-length text features [n, d] (no gradients, world's device)."""
        import torch
        from ..guidance import clip_text_features
        model = self._require_text_model()
        tokens = prompts if torch.is_tensor(prompts) else self.tokenize(prompts)
        return clip_text_features(model, tokens.to(self.device))

    def encode_image(self, images):
        """Images → unit-length text-model image features [n, d] (no gradients, world's device)."""
        import torch
        from ..guidance import clip_image_features
        model = self._require_text_model()
        with torch.no_grad():
            return clip_image_features(model, images.to(self.device))

    def clip_similarity(self, image_features, text_features):
        """``1 −`` the paper's CLIP loss for every image × text pair [n, k], from encoded features."""
        model = self._require_text_model()
        return model.logit_scale.exp().float() * image_features @ text_features.T / 100

    def clip_loss(self, images, prompts):
        """The paper's CLIP loss ``1 − logits/100`` per image [n]; one prompt, or one per image.

        ``prompts``: texts, token ids, or :meth:`encode_text` features (encode once, reuse per step).
        """
        import torch
        from ..guidance import clip_loss
        model = self._require_text_model()
        tokens = prompts if torch.is_tensor(prompts) else self.tokenize(prompts)
        return clip_loss(model, images, tokens)

    # ------------------------------------------------------------------ identity
    def identity_embedding(self, images):
        """Identity embeddings [n, k] of images [n, 3, H, W] in [-1, 1], differentiable.

        ffhq: ArcFace IR-SE50 (512-d, unit length); synthfaces: the meter's identity factors.
        """
        model = self.identity_model
        if model is None:
            raise ValueError(f"the {self.name!r} world has no identity model loaded")
        if hasattr(model, "identity_embedding"):        # the synthfaces factor meter
            return model.identity_embedding(images)
        from .ffhq import identity_embedding
        return identity_embedding(model, images)

    def identity_loss(self, images, reference):
        """``1 − cos`` between identity embeddings of ``images`` and ``reference``, per image [n].

        ``reference``: images, or their :meth:`identity_embedding` (computed once, reused per step).
        """
        from ..guidance import identity_loss
        if not self.has("identity_model"):
            raise ValueError(f"the {self.name!r} world has no identity model loaded")
        return identity_loss(self.identity_embedding, images, reference)
