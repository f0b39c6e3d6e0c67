"""Ground-truth measurements in the synthfaces world, read by the judge (``World.measure``).

The paper shows pictures; with known factors we can put a number on each claim. Every score is
read by the judge, the meter that no optimisation ever sees, under one protocol (:data:`PROTOCOL`):
directions scaled to equal effect, one α grid, one meaning of "monotonic", identity drift as a
fraction of the identity factors' range.
"""
from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, replace

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
    ``min_change`` over the range (standing still is not a motion); ``identity_drift``: mean |Δ| of
    the identity factors between the ends of the α range, each as a fraction of its range over renders
    (:func:`identity_ranges`); ``other_motion_drift``: mean |Δ| of the other micromotion factors;
    ``curves``: the target factor [n, len(alphas)].
    """

    factor: str
    slope: float
    monotonic: float
    identity_drift: float
    other_motion_drift: float
    curves: torch.Tensor
    scale: float = float("nan")       # the direction's norm as scored (set by :func:`judged_score`)
    effect: float = float("nan")      # its median change of the factor on the probe set at α = 1
    n: int = 0                        # number of targets

    def as_pair(self) -> tuple[float, float]:
        """(monotonic fraction, slope): the two numbers the ablation plots compare."""
        return self.monotonic, self.slope


_READINGS = weakref.WeakKeyDictionary()


def unedited_reading(world, codes: torch.Tensor) -> torch.Tensor:
    """The judge's reading of ``codes`` as they are [n, factors], remembered per world by content:
    every direction scored on the same targets (or probe) starts from the same frame at α = 0."""
    from .anchors import cache_key
    memo = _READINGS.setdefault(world, {})
    key = cache_key(codes=codes.cpu())
    if key not in memo:
        memo[key] = world.measure(world.synthesize(codes))
    return memo[key]


def edit_readings(world, codes: torch.Tensor, direction: torch.Tensor, alphas,
                  progress: bool = False) -> torch.Tensor:
    """The judge's reading of every code along ``w + α Δ`` → [n, len(alphas), factors]; a leading
    α = 0 is read from :func:`unedited_reading` instead of rendered again."""
    from .transfer import render_edit
    alphas = [float(a) for a in alphas]
    rest = alphas[1:] if alphas and alphas[0] == 0.0 else alphas
    parts = []
    if rest:
        frames = render_edit(world, codes, direction, rest, progress=progress)
        n, t = frames.shape[:2]
        parts.append(world.measure(frames.reshape(n * t, *frames.shape[2:])).reshape(n, t, -1))
    if len(rest) < len(alphas):
        parts.insert(0, unedited_reading(world, codes)[:, None])
    return torch.cat(parts, 1)


def score_direction(world, targets: torch.Tensor, direction: torch.Tensor, factor: str,
                    alphas=(0.0, 0.25, 0.5, 0.75, 1.0), tolerance: float = 0.02,
                    min_change: float = 0.05, progress: bool = False) -> DirectionScore:
    """Apply ``direction`` to every target code and read the factors back with the judge."""
    j = factor_index(factor)
    f = edit_readings(world, targets, direction, alphas, progress)
    n = f.shape[0]
    a = torch.as_tensor(np.asarray(alphas, dtype=np.float32))
    curves = f[:, :, j]
    ac = a - a.mean()
    slope = float(((curves - curves.mean(1, keepdim=True)) * ac).sum(1).mean() / (ac ** 2).sum())
    rises = (torch.diff(curves, dim=1) > -tolerance).all(1) & (curves[:, -1] - curves[:, 0] > min_change)
    monotonic = float(rises.float().mean())
    ends = (f[:, -1] - f[:, 0]).abs()
    ident = [factor_index(k) for k in IDENTITY_FACTORS]
    others = [factor_index(k) for k in MICROMOTION_FACTORS if k != factor]
    drift = float((ends[:, ident] / identity_ranges(world)).mean())
    return DirectionScore(factor, slope, monotonic, drift, float(ends[:, others].mean()), curves, n=n)


_RANGES = weakref.WeakKeyDictionary()


def identity_ranges(world, n: int = 512, seed: int = 515) -> torch.Tensor:
    """Each identity factor's range over renders [len(IDENTITY_FACTORS)]: the 1st to 99th percentile
    of what the scoring meter reads off ``n`` renders of random people (computed once per meter)."""
    from .worlds.synthfaces import renderer
    from .worlds.synthfaces.meter import scoring_meter
    meter = scoring_meter(world)
    if meter not in _RANGES:
        f = world.measure(renderer.render(renderer.sample_factors(n, seed=seed), size=world.resolution,
                                          seeds=seed))[:, [factor_index(k) for k in IDENTITY_FACTORS]]
        _RANGES[meter] = (torch.quantile(f, 0.99, 0) - torch.quantile(f, 0.01, 0)).clamp_min(1e-3)
    return _RANGES[meter]


@dataclass(frozen=True)
class Protocol:
    """The one way the book scores an edit direction.

    Directions have arbitrary lengths, and "monotonic" depends on how far one goes, so a direction
    is first scaled to **equal effect**: its unit vector times the scale at which the *median* change
    of the target factor over a fixed probe set (``probe_size`` codes from ``RandomState(probe_seed)``
    at the world's ψ; never the targets) reaches ``effect`` (:func:`matched_direction`, trying
    ``scales``). Then α runs over ``alphas`` on each target; a target moves **monotonically** when
    its factor never drops by more than ``tolerance`` between consecutive α and rises by more than
    ``min_rise`` from the first α to the last. Identity drift is a fraction of the identity factors'
    range over renders. Everything is read by the judge.
    """

    effect: float = 0.3
    alphas: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)
    tolerance: float = 0.02
    min_rise: float = 0.05
    probe_size: int = 16
    probe_seed: int = 90210
    scales: tuple = (0.5, 1, 2, 4, 8, 16)

    def describe(self) -> str:
        """One line for a table's caption or a results row's ``protocol``."""
        return (f"equal effect {self.effect:g} (median Δ on {self.probe_size} probe codes), "
                f"α ∈ {{{', '.join(f'{a:g}' for a in self.alphas)}}}, monotonic: no drop > "
                f"{self.tolerance:g}, rise > {self.min_rise:g}; judged")


PROTOCOL = Protocol()


def probe_codes(world, protocol: Protocol = PROTOCOL) -> torch.Tensor:
    """The protocol's probe set: codes on which a direction's scale is set, never scored."""
    return world.sample_wplus(protocol.probe_size, seed=protocol.probe_seed, truncation=world.truncation)


_MATCHED = weakref.WeakKeyDictionary()


def at_equal_effect(world, direction: torch.Tensor, factor: str, protocol: Protocol = PROTOCOL,
                    probe: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """``direction`` scaled to the protocol's effect on its probe set (:func:`matched_direction`)
    → (the scaled direction, the median effect it reaches). Remembered per world by content, so a
    direction scored on several target sets is scaled once."""
    from .anchors import cache_key
    key = cache_key(direction=direction.cpu(), factor=factor, protocol=repr(protocol),
                    probe=probe.cpu() if probe is not None else None)
    memo = _MATCHED.setdefault(world, {})
    if key not in memo:
        probe = probe_codes(world, protocol) if probe is None else probe
        memo[key] = matched_direction(world, probe, direction, factor, protocol.effect, protocol.scales)
    return memo[key]


def judged_score(world, targets: torch.Tensor, direction: torch.Tensor, factor: str,
                 protocol: Protocol = PROTOCOL, probe: torch.Tensor | None = None) -> DirectionScore:
    """:func:`score_direction` under :data:`PROTOCOL`: ``direction`` scaled to equal effect on the
    probe set, then scored on ``targets`` over the protocol's α grid (its ``scale`` and ``effect``
    say where it was scored; a direction that never reaches the effect is scored at its largest)."""
    matched, reached = at_equal_effect(world, direction, factor, protocol, probe)
    return replace(score_matched(world, targets, matched, factor, protocol), effect=reached)


def score_matched(world, targets: torch.Tensor, matched: torch.Tensor, factor: str,
                  protocol: Protocol = PROTOCOL) -> DirectionScore:
    """:func:`score_direction` of a direction already at its scoring length (from
    :func:`at_equal_effect`, or a control kept at another's length) over the protocol's α grid."""
    score = score_direction(world, targets, matched, factor, protocol.alphas, protocol.tolerance,
                            protocol.min_rise)
    return replace(score, scale=float(matched.norm()))


def layer_group_scores(world, targets: torch.Tensor, direction: torch.Tensor, factor: str,
                       protocol: "Protocol | None" = None) -> dict[str, DirectionScore]:
    """The whole W+ direction ("all"), scaled to the protocol's equal effect, and its part on each
    layer group (coarse, middle, fine; the rest set to zero) at that same length, each scored over
    the protocol's α grid: which layers carry the motion, and whether the parts add up to the whole
    (they do where the generator is linear enough there)."""
    protocol = PROTOCOL if protocol is None else protocol
    matched, _ = at_equal_effect(world, direction, factor, protocol)
    return {name: score_matched(world, targets, restrict_to_layers(matched, layers), factor, protocol)
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
    (monotonic, slope)}}`` with variants percentages/adjectives and last_minus_first (the released
    rule: 90 % anchor − start code)/principal.

    Returns the motions whose direction moves the factor at all (|slope| > ``moves`` with either
    family), those of them whose two families' slopes differ by more than half the larger, and the
    principal rule's slope over the released rule's per moving motion (where that one moves)."""
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


#: The outlier cases of :func:`outlier_transfer`: (corrupted rows, fraction of their coordinates).
OUTLIER_CASES = {"rows 4, 8 (5 % of coordinates)": ([4, 8], 0.05),
                 "the rule's own rows 0, 10 (5 %)": ([0, 10], 0.05),
                 "whole rows 4, 8": ([4, 8], 1.0)}


def outlier_transfer(world, anchors: torch.Tensor, factor: str, targets: torch.Tensor, rank: int = 4,
                     cases=None, scale: float = 5.0, seed: int = 0, mode: str = "per_layer") -> dict:
    """What corrupted anchors do to the *transfer*, judged: for PCA and robust PCA, the clean
    direction's monotonic fraction under :data:`PROTOCOL`, and for each case of ``cases`` (default
    :data:`OUTLIER_CASES`: a few coordinates of two rows, the rows the released rule reads its
    direction off, two whole rows) the corrupted direction's cosine with the clean one and its
    monotonic fraction at the clean direction's length. → ``{method: {"clean": monotonic,
    case: {"cosine", "monotonic", "unconverged"}}}``; ``unconverged``: how many of the
    decomposed matrices robust PCA left at its iteration limit (0 for PCA) — reported here
    instead of as a warning, since a case built to break the solver is expected to."""
    from .decomposition import decompose_anchors, edit_direction, inject_outliers
    cases = OUTLIER_CASES if cases is None else cases
    out = {}
    for method in ("pca", "rpca"):
        clean = edit_direction(decompose_anchors(anchors, method, mode, rank)[0])
        base = judged_score(world, targets, clean, factor)
        out[method] = {"clean": base.monotonic}
        for name, (rows, fraction) in cases.items():
            dirty = inject_outliers(anchors, rows, fraction=fraction, scale=scale, seed=seed)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "robust_pca did not converge")
                low, infos = decompose_anchors(dirty, method, mode, rank)
            d = edit_direction(low)
            s = score_matched(world, targets, d / d.norm().clamp_min(1e-12) * base.scale, factor)
            out[method][name] = {"cosine": cosine(d, clean), "monotonic": s.monotonic,
                                 "unconverged": sum(not i.converged for i in infos)}
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
    and score every resulting direction on ``targets`` (the un-nudged one under :data:`PROTOCOL`,
    the nudged ones at its length): the spread is the result's own noise."""
    from .anchors import text_anchors
    from .decomposition import direction_from_anchors
    start = anchors[0]
    noise = torch.from_numpy(np.random.RandomState(seed).randn(repeats, *start.shape).astype(np.float32))
    remade = text_anchors(world, start[None] + scale * noise, template, steps=steps, progress=False)
    base_dir = direction_from_anchors(anchors, rank=rank, rule=rule)
    base = judged_score(world, targets, base_dir, factor)
    moved = float((anchors[1:] - start).norm())
    scores, cosines, gaps = [], [], []
    for a in remade:       # each at the length the protocol gave the un-nudged direction
        d = direction_from_anchors(a, rank=rank, rule=rule)
        scores.append(score_matched(world, targets, d / d.norm() * base.scale, factor))
        cosines.append(cosine(d, base_dir))
        gaps.append(float((a[1:] - anchors[1:]).norm()) / max(moved, 1e-12))
    return RoundingSensitivity(factor, base, scores, cosines, gaps)


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
    """Median change of ``factor`` over ``probe`` codes when ``s · direction`` is added, for each s
    (the median: one target that saturates or breaks does not set the scale of all)."""
    f = edit_readings(world, probe, direction, [0.0, *scales])[:, :, factor_index(factor)]
    return (f[:, 1:] - f[:, :1]).median(0).values.numpy()


def matched_direction(world, probe: torch.Tensor, direction: torch.Tensor, factor: str,
                      effect: float = 0.3, scales=(0.5, 1, 2, 4, 8, 16)) -> tuple[torch.Tensor, float]:
    """``direction`` rescaled so that it changes ``factor`` by ``effect`` (the median) over ``probe``.

    Directions from different methods have arbitrary lengths; compared at equal effect, their side
    effects and reliability can be set side by side. The unit-norm direction is tried at ``scales``,
    and inside the first bracket that crosses the effect the scale is interpolated, measured and the
    bracket narrowed (twice at most, until within 0.01); a direction that never reaches ``effect``
    is returned at the scale of its largest effect. Returns (the direction, the effect it reaches).
    """
    unit = direction / direction.norm()
    change = effect_curve(world, probe, unit, factor, scales)
    above = np.nonzero(change >= effect)[0]
    if not len(above):
        best = int(np.argmax(change))
        return unit * scales[best], float(change[best])
    i = int(above[0])
    points = [(0.0, 0.0) if i == 0 else (scales[i - 1], float(change[i - 1])), (scales[i], float(change[i]))]
    best = points[1]
    for _ in range(2):           # interpolate inside the bracket, measure, narrow it: twice
        (s0, c0), (s1, c1) = points
        s = s0 + (effect - c0) / max(c1 - c0, 1e-6) * (s1 - s0)
        c = float(effect_curve(world, probe, unit, factor, [s])[0])
        if abs(c - effect) < abs(best[1] - effect):
            best = (s, c)
        if abs(c - effect) < 0.01:
            break
        points = [(s, c), points[1]] if c < effect else [points[0], (s, c)]
    return unit * best[0], best[1]


#: The links of the paper's text path, as :func:`failing_link` names them (chapter 8).
LINKS = {"none": "none: the text direction transfers",
         "text model": "the text model: the oracle guide's direction transfers, the text one does not",
         "one identity's anchors": "one identity's optimised anchors (optimiser, rule, a single "
                                   "identity): even a perfect guide falls short, clip anchors do not",
         "world": "the generator or the decomposition: even directions from clips fall short"}


def failing_link(text: DirectionScore, oracle: DirectionScore, clips: DirectionScore,
                 goal: float = 0.9) -> str:
    """Which link of anchors → direction → transfer loses the motion, from the monotonic fractions
    of three directions scored on the same targets: text anchors, oracle-guided anchors (same start
    code and optimiser, a perfect guide in CLIP's place) and anchors from rendered clips. A key of
    :data:`LINKS`: the first link after which the fraction reaches ``goal``."""
    if text.monotonic >= goal:
        return "none"
    if oracle.monotonic >= goal:
        return "text model"
    return "one identity's anchors" if clips.monotonic >= goal else "world"
