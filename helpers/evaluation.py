"""Ground-truth measurements in the synthfaces world, read by the factor meter.

The paper shows pictures; with known factors we can put a number on each claim.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .latent_spaces import layer_choices, layer_groups, mix_styles, restrict_to_layers
from .worlds.synthfaces.renderer import FACTORS, IDENTITY_FACTORS, MICROMOTION_FACTORS, factor_index


def style_mixing_effects(world, n: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Mean |Δ factor| [len(FACTORS)] when one layer group of A is replaced by B's.

    Which factors live in the coarse, middle and fine layers — measured, not eyeballed.
    """
    ws_a = world.sample_wplus(n, seed)
    ws_b = world.sample_wplus(n, seed + 1)
    base = world.measure(world.synthesize(ws_a))
    out = {}
    for name, layers in layer_groups(world.num_ws, world.resolution).items():
        mixed = world.measure(world.synthesize(mix_styles(ws_a, ws_b, layers)))
        out[name] = (mixed - base).abs().mean(0)
    return out


def factor_table(values: dict[str, torch.Tensor]) -> "list[dict]":
    """Rows {factor, <key>: value…} for display as a table."""
    return [{"factor": f, **{k: round(float(v[i]), 3) for k, v in values.items()}}
            for i, f in enumerate(FACTORS)]


@dataclass
class DirectionScore:
    """Ground-truth score of an edit direction over many target codes.

    ``slope``: mean change of the target factor per unit α; ``monotonic``: fraction of targets whose
    factor never drops by more than ``tolerance`` between consecutive α *and* rises by more than
    ``min_change`` over the range (standing still is not a motion); ``identity_drift`` and
    ``other_motion_drift``: mean |Δ| of identity / other micromotion factors between the ends of the
    α range; ``curves``: the target factor [n, len(alphas)].
    """

    factor: str
    slope: float
    monotonic: float
    identity_drift: float
    other_motion_drift: float
    curves: torch.Tensor

    def as_pair(self) -> tuple[float, float]:
        """(monotonic fraction, slope): the two numbers the ablation plots compare."""
        return self.monotonic, self.slope


def score_direction(world, targets: torch.Tensor, direction: torch.Tensor, factor: str,
                    alphas=(0.0, 0.25, 0.5, 0.75, 1.0), tolerance: float = 0.02,
                    min_change: float = 0.05, progress: bool = False) -> DirectionScore:
    """Apply ``direction`` to every target code and read the factors back with the meter."""
    from .transfer import render_edit
    j = factor_index(factor)
    frames = render_edit(world, targets, direction, alphas, progress=progress)
    n, t = frames.shape[:2]
    f = world.measure(frames.reshape(n * t, *frames.shape[2:])).reshape(n, t, -1)
    a = torch.as_tensor(np.asarray(alphas, dtype=np.float32))
    curves = f[:, :, j]
    ac = a - a.mean()
    slope = float(((curves - curves.mean(1, keepdim=True)) * ac).sum(1).mean() / (ac ** 2).sum())
    rises = (torch.diff(curves, dim=1) > -tolerance).all(1) & (curves[:, -1] - curves[:, 0] > min_change)
    monotonic = float(rises.float().mean())
    ends = (f[:, -1] - f[:, 0]).abs()
    ident = [factor_index(k) for k in IDENTITY_FACTORS]
    others = [factor_index(k) for k in MICROMOTION_FACTORS if k != factor]
    return DirectionScore(factor, slope, monotonic, float(ends[:, ident].mean()),
                          float(ends[:, others].mean()), curves)


def layer_group_scores(world, targets: torch.Tensor, direction: torch.Tensor, factor: str,
                       alphas=(0.0, 0.25, 0.5, 0.75, 1.0)) -> dict[str, DirectionScore]:
    """:func:`score_direction` of the whole W+ direction ("all") and of its part on each layer group
    (coarse, middle, fine; the rest set to zero), at the same α: which layers carry the motion, and
    whether the parts add up to the whole (they do where the generator is linear enough there)."""
    return {name: score_direction(world, targets, restrict_to_layers(direction, layers), factor, alphas)
            for name, layers in layer_choices(world.num_ws, world.resolution).items()}


@dataclass
class LayerReading:
    """What :func:`layer_group_scores` says of one direction.

    ``main_group``: the group whose part raises the factor most; ``kept_share``: that part's slope
    over the whole direction's; ``side_effects``: its identity + other-motion drift per unit slope
    over the whole's (below 1: cleaner); ``parts_over_whole``: the groups' slopes summed over the
    whole's (1 where the generator is linear along the edit; NaN where the whole hardly moves).
    """

    main_group: str
    kept_share: float
    side_effects: float
    parts_over_whole: float


def layer_reading(scores: dict[str, DirectionScore]) -> LayerReading:
    """Read :func:`layer_group_scores`' output ("all" and one entry per layer group)."""
    whole = scores["all"]
    groups = [g for g in scores if g != "all"]
    main = max(groups, key=lambda g: scores[g].slope)
    cost = lambda s: (s.identity_drift + s.other_motion_drift) / max(s.slope, 1e-6)   # per unit rise
    parts = sum(scores[g].slope for g in groups) / whole.slope if abs(whole.slope) > 0.02 else float("nan")
    return LayerReading(main, scores[main].slope / whole.slope, cost(scores[main]) / cost(whole), parts)


def storing_group(mixing: dict[str, torch.Tensor], factor: str) -> str:
    """The layer group whose style mixing (:func:`style_mixing_effects`) changes ``factor`` most."""
    return max(mixing, key=lambda g: float(mixing[g][factor_index(factor)]))


def variant_reading(by_family: dict, by_rule: dict, moves: float = 0.02) -> tuple[list, list, dict]:
    """Chapter 9's reading of the template-family and rule ablations, from ``{motion: {variant:
    (monotonic, slope)}}`` with variants percentages/adjectives and last_minus_first/principal.

    Returns the motions whose direction moves the factor at all (|slope| > ``moves`` with either
    family), those of them whose two families' slopes differ by more than half the larger, and the
    principal rule's slope over last−first's per moving motion (where last−first moves)."""
    def larger(m):
        return max(abs(by_family[m]["percentages"][1]), abs(by_family[m]["adjectives"][1]))
    moving = [m for m in by_family if larger(m) > moves]
    sensitive = [m for m in moving
                 if abs(by_family[m]["percentages"][1] - by_family[m]["adjectives"][1]) > 0.5 * larger(m)]
    gain = {m: by_rule[m]["principal"][1] / by_rule[m]["last_minus_first"][1] for m in moving
            if abs(by_rule[m]["last_minus_first"][1]) > moves}
    return moving, sensitive, gain


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two directions, flattened."""
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-12))


def outlier_study(anchors: torch.Tensor, outlier_rows, rank: int = 4, fraction: float = 0.05,
                  scale: float = 5.0, seed: int = 0, mode: str = "per_layer") -> dict:
    """What PCA and robust PCA keep when some anchors are corrupted in a few coordinates.

    For each method: the error of its low-rank anchors from corrupted input against the same method's
    result on the clean anchors (relative Frobenius), and the cosine between the two edit directions.
    """
    from .decomposition import decompose_anchors, edit_direction, inject_outliers
    dirty = inject_outliers(anchors, outlier_rows, fraction=fraction, scale=scale, seed=seed)
    out = {}
    for method in ("pca", "rpca"):
        clean_low, _ = decompose_anchors(anchors, method, mode, rank)
        dirty_low, _ = decompose_anchors(dirty, method, mode, rank)
        out[method] = {"relative_error": float((dirty_low - clean_low).norm() / clean_low.norm()),
                       "direction_cosine": cosine(edit_direction(dirty_low), edit_direction(clean_low))}
    return out


@dataclass
class RoundingSensitivity:
    """How much a text-made result moves when the start code moves by float rounding.

    ``base``: the score of the direction from the given anchors; ``nudged``: the scores of the
    directions from anchors remade from the start code plus ``scale``·N(0, 1) (one per repeat);
    ``cosines``: each nudged direction against the base one; ``gaps``: how far each nudged anchor
    set lands from the base one, as a fraction of how far the base anchors moved.
    """

    factor: str
    base: DirectionScore
    nudged: list
    cosines: list
    gaps: list

    @property
    def monotonic_range(self) -> tuple[float, float]:
        values = [self.base.monotonic] + [n.monotonic for n in self.nudged]
        return min(values), max(values)


def rounding_sensitivity(world, anchors: torch.Tensor, template: str, factor: str, targets: torch.Tensor,
                         repeats: int = 3, scale: float = 1e-6, seed: int = 0, rank: int = 4,
                         rule: str = "principal", steps: int = 40) -> RoundingSensitivity:
    """Remake one identity's text anchors [rows, num_ws, d] from start codes nudged by ``scale``
    (far below any meaningful change; about what another device's rounding does over 40 Adam steps)
    and score every resulting direction on ``targets``: the spread is the result's own noise."""
    from .anchors import text_anchors
    from .decomposition import direction_from_anchors
    start = anchors[0]
    noise = torch.from_numpy(np.random.RandomState(seed).randn(repeats, *start.shape).astype(np.float32))
    remade = text_anchors(world, start[None] + scale * noise, template, steps=steps, progress=False)
    base_dir = direction_from_anchors(anchors, rank=rank, rule=rule)
    moved = float((anchors[1:] - start).norm())
    scores, cosines, gaps = [], [], []
    for a in remade:
        d = direction_from_anchors(a, rank=rank, rule=rule)
        scores.append(score_direction(world, targets, d, factor))
        cosines.append(cosine(d, base_dir))
        gaps.append(float((a[1:] - anchors[1:]).norm()) / max(moved, 1e-12))
    return RoundingSensitivity(factor, score_direction(world, targets, base_dir, factor), scores, cosines, gaps)


def random_pair_direction(anchors: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The paper's ablation: the direction between two randomly chosen anchors (ordered by degree),
    instead of one read off the robust low-rank subspace."""
    rng = np.random.RandomState(seed)
    i, j = sorted(rng.choice(len(anchors), 2, replace=False))
    return anchors[j] - anchors[i]


def reconstruction_errors(world, images: torch.Tensor, codes: torch.Tensor) -> dict:
    """How well ``codes`` reproduce ``images`` [n, 3, res, res]: pixel MSE, and the meter's mean
    |Δ| over all factors and over the micromotions only (what the book edits)."""
    recon = world.synthesize(codes)
    a, b = world.measure(images), world.measure(recon)
    motion = [factor_index(m) for m in MICROMOTION_FACTORS]
    return {"pixel_mse": float((recon - images.cpu()).pow(2).mean()),
            "factor_error": float((a - b).abs().mean()),
            "micromotion_error": float((a - b)[:, motion].abs().mean())}


def effect_curve(world, probe: torch.Tensor, direction: torch.Tensor, factor: str, scales) -> np.ndarray:
    """Mean change of ``factor`` over ``probe`` codes when ``s · direction`` is added, for each s."""
    from .transfer import render_edit
    frames = render_edit(world, probe, direction, [0.0, *scales], batch=16, progress=False)
    n, t = frames.shape[:2]
    f = world.measure(frames.reshape(n * t, *frames.shape[2:])).reshape(n, t, -1)[:, :, factor_index(factor)]
    return (f[:, 1:] - f[:, :1]).mean(0).numpy()


def matched_direction(world, probe: torch.Tensor, direction: torch.Tensor, factor: str,
                      effect: float = 0.3, scales=(0.5, 1, 2, 4, 8, 16)) -> tuple[torch.Tensor, float]:
    """``direction`` rescaled so that it changes ``factor`` by ``effect`` on average over ``probe``.

    Directions from different methods have arbitrary lengths; compared at equal effect, their side
    effects and reliability can be set side by side. The unit-norm direction is tried at ``scales``
    and the scale interpolated where the effect is crossed; a direction that never reaches ``effect``
    is returned at the scale of its largest effect. Returns (the direction, the effect it reaches).
    """
    unit = direction / direction.norm()
    change = effect_curve(world, probe, unit, factor, scales)
    above = np.nonzero(change >= effect)[0]
    if not len(above):
        best = int(np.argmax(change))
        return unit * scales[best], float(change[best])
    i = int(above[0])
    if i == 0:
        s = scales[0] * effect / max(float(change[0]), 1e-6)
    else:
        lo, hi = change[i - 1], change[i]
        s = scales[i - 1] + (effect - lo) / (hi - lo) * (scales[i] - scales[i - 1])
    return unit * s, float(effect_curve(world, probe, unit, factor, [s])[0])
