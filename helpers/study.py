"""The study: the paper's claims over many identities, one independent task per table row.

A task is one (anchor source, micromotion, identity): make the anchors, measure their low rank,
keep their rank-``rank`` subspace, read directions off them (robust PCA or PCA; the released rule
or the principal one) and score each on ``n_targets`` held-out faces under the book's protocol.
Null tasks make the matrices the paper's claims are judged against: ``random`` (12 random codes),
``matched`` (a text matrix's moves in random directions of the same lengths) and ``irrelevant``
(text anchors for words the world has no factor for). Made by

    python -m helpers.study run --identities 20 --out data/studies/study          # Ray, local
    python -m helpers.study run --address ray://head:10001 ...                     # on a cluster
    python -m helpers.study summary --out data/studies/study

Each finished task appends one row to ``rows.csv`` (its subspace goes to ``bases/<key>.npy`` first)
with its provenance: commit, world version and file hashes, every parameter. Rows are written only
by the driver and only when a task has finished, keyed by task: a rerun skips finished keys, a
worker killed mid-task is retried by the engine, and nothing is lost or written twice. The engine
is Ray (``engine="ray"``); chapters and tests run tasks in-process (``engine="local"``).
Statistics over the table are in :mod:`helpers.study_stats`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .shipped import DATA, frozen_version, world_files, world_version

TABLE = DATA / "studies" / "study"
MADE_BY = "python -m helpers.study run"
ANCHOR_SOURCES = ("text", "oracle", "clips")
NULL_SOURCES = ("irrelevant", "random", "matched")
SOURCES = ANCHOR_SOURCES + NULL_SOURCES
#: where directions are scored: generated faces, or people rendered in a style and inverted
TARGETS = ("generated", "photo", "painting", "cartoon", "sculpture")
#: (decomposition, rule) pairs a task scores: the paper's released pipeline first
METHODS = (("rpca", "last_minus_first"), ("pca", "last_minus_first"), ("rpca", "principal"))
FAULT = "MICROMOTION_STUDY_FAULT"     # tests: "<key>:<marker file>" kills the worker once mid-task


@dataclass(frozen=True)
class Task:
    """One row of the study. ``identity`` indexes start codes ``sample_wplus(·, seed)`` (text,
    oracle, irrelevant, matched), rendered people (clips) or random matrices (random)."""

    source: str
    motion: str
    identity: int
    seed: int = 1
    steps: int = 40            # text and oracle optimisation steps
    clip_steps: int = 200      # inversion steps per clip frame
    rank: int = 4
    n_targets: int = 100
    target_seed: int = 2001    # chapter 8's held-out faces: seed + 2000
    targets: str = "generated"  # or a style: n_targets people rendered so, then inverted

    @property
    def key(self) -> str:
        fields_ = asdict(self)
        if fields_["targets"] == "generated":   # the keys made before targets had styles
            del fields_["targets"]
        params = json.dumps(fields_, sort_keys=True)
        return (f"{self.source}.{self.motion}.{self.identity}."
                f"{hashlib.sha256(params.encode()).hexdigest()[:8]}")

    @classmethod
    def of_row(cls, row: dict) -> "Task":
        """The task a table row was computed from (its parameters are columns of the row)."""
        kinds = {f.name: f.type for f in fields(cls)}
        return cls(**{name: int(float(row[name])) if kind in ("int", int) else row[name]
                      for name, kind in kinds.items()})

    def validate(self) -> "Task":
        from .vocabulary import IRRELEVANT_TEMPLATES, TEMPLATES
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; sources: {', '.join(SOURCES)}")
        known = IRRELEVANT_TEMPLATES if self.source == "irrelevant" else TEMPLATES
        if self.source != "random" and self.motion not in known:
            raise ValueError(f"unknown micromotion {self.motion!r} for source {self.source!r}; "
                             f"known: {', '.join(known)}")
        if self.targets not in TARGETS:
            raise ValueError(f"unknown targets {self.targets!r}; targets: {', '.join(TARGETS)}")
        if self.targets != "generated" and self.source not in ANCHOR_SOURCES:
            raise ValueError(f"styled targets score directions: source {self.source!r} makes "
                             f"none (use one of {', '.join(ANCHOR_SOURCES)})")
        if self.identity < 0 or self.rank < 1 or self.n_targets < 1:
            raise ValueError(f"identity ≥ 0, rank ≥ 1 and n_targets ≥ 1 are needed: {self}")
        return self


def grid(identities: int = 20, motions=None, sources=SOURCES, targets=("generated",),
         **params) -> list[Task]:
    """Every task of a study: anchor sources × micromotions × identities × ``targets``, and the
    nulls (random matrices: one per identity; irrelevant prompts: each template × identity;
    generated targets only), identity-major."""
    from .vocabulary import IRRELEVANT_TEMPLATES, TEMPLATES
    motions = list(TEMPLATES) if motions is None else list(motions)
    names = {s: (list(IRRELEVANT_TEMPLATES) if s == "irrelevant" else ["-"] if s == "random"
                 else motions) for s in sources}
    # identity by identity, so that a study stopped early is a complete smaller study
    return [Task(s, m, i, targets=t, **params).validate()
            for i in range(identities) for s in sources for m in names[s]
            for t in (targets if s in ANCHOR_SOURCES else [x for x in targets
                                                            if x == "generated"])]


# --------------------------------------------------------------------------- provenance
def commit() -> str:
    """The repository's commit (with ``+dirty`` when files differ from it), or 'unknown'."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "helpers"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# --------------------------------------------------------------------------- one task
_WORLDS: dict = {}


def _world(name: str = "synthfaces", device: str = "cpu"):
    """One loaded world per process (an engine's worker keeps it between tasks)."""
    if (name, device) not in _WORLDS:
        from . import worlds
        _WORLDS[name, device] = worlds.load(name, device=device)
    return _WORLDS[name, device]


def start_code(world, task: Task):
    """Identity ``task.identity``'s start code: row i of ``sample_wplus(n, seed)`` for any n > i."""
    return world.sample_wplus(task.identity + 1, seed=task.seed, truncation=world.truncation)[-1:]


def make_anchors(world, task: Task, nudge=None):
    """The task's anchor matrix [rows, num_ws, d]; ``nudge`` (a tensor shaped like the start
    code) is added to the start code first (see :func:`rounding_rows`)."""
    from . import anchors, subspaces
    from .vocabulary import IRRELEVANT_TEMPLATES, TEMPLATES
    if task.source == "random":
        return world.sample_wplus(12, seed=10_000 + task.identity)
    if task.source == "clips":
        return _clip_anchors(world, task)
    start = start_code(world, task)
    if nudge is not None:
        start = start + nudge.to(start)
    if task.source == "oracle":
        return anchors.oracle_anchors(world, start, task.motion, steps=task.steps, progress=False)[0]
    template = (IRRELEVANT_TEMPLATES if task.source == "irrelevant" else TEMPLATES)[task.motion]
    a = anchors.text_anchors(world, start, template, steps=task.steps, progress=False)[0]
    if task.source == "matched":
        return subspaces.matched_random_anchors(a, seed=task.identity).reshape(a.shape).float()
    return a


def rounding_rows(world, task: Task, nudges: int = 4, scale: float = 1e-6,
                  methods=None) -> list[dict]:
    """The task's row remade from start codes nudged by ``scale`` (nudge k drawn with
    ``RandomState(k)``), scoring ``methods`` (default: the released pipeline only): how far
    float rounding alone moves a row. Forty Adam steps amplify it, and another thread count or
    CPU moves a text row about as much, so a committed row recomputes within this spread, not
    bit for bit. Random rows use no start code and come out exact."""
    if task.source == "clips":
        raise ValueError("clips rows start from rendered frames, not a start code: "
                         "their rounding spread is not measured by nudging one")
    import torch
    shape = start_code(world, task).shape
    noise = [torch.from_numpy(np.random.RandomState(k).randn(*shape).astype(np.float32))
             for k in range(1, nudges + 1)]
    return [compute(task, world, METHODS[:1] if methods is None else methods,
                    nudge=scale * n)[0] for n in noise]


def rounding_report(key: str, out=TABLE, nudges: int = 8, world=None) -> list[str]:
    """Lines comparing a committed row with its recompute here and with ``nudges`` remakes from
    start codes nudged by 1e-6: what to expect when a row is remade on another machine."""
    if nudges < 1:
        raise ValueError(f"--nudges must be at least 1, got {nudges}")
    rows = {r["key"]: r for r in read_rows(out)}
    if key not in rows:
        raise ValueError(f"no row {key!r} in {Path(out) / 'rows.csv'}: a key is a row's first "
                         f"column (e.g. {next(iter(rows), 'text.smile.0.<hash>')})")
    committed = rows[key]
    task = Task.of_row(committed)
    if task.targets != "generated":
        raise ValueError(f"{key} scores styled targets; remake its generated row instead")
    world = _world() if world is None else world
    here = compute(task, world, METHODS[:1])[0]
    nudged = [] if task.source == "random" else rounding_rows(world, task, nudges)
    lines = [f"{key} (world {committed.get('world_version', '?')}; "
             f"{nudges if nudged else 0} remakes from start codes nudged by 1e-6)"]
    for column in ("energy", "monotonic_rpca_released"):
        if column not in here:
            continue
        values = [r[column] for r in nudged]
        spread = f", nudged {min(values):.4g}–{max(values):.4g}" if values else " (exact)"
        lines.append(f"  {column}: committed {committed[column]:.4g}, here "
                     f"{here[column]:.4g}{spread}")
    return lines


def _clip_anchors(world, task: Task, n_frames: int = 7):
    """A rendered clip of person ``identity`` (chapter 4's people: ``sample_factors(·, seed+100)``)
    sweeping the micromotion, inverted frame by frame."""
    from .anchors import video_anchors
    from .worlds.synthfaces import renderer
    people = renderer.sample_factors(task.identity + 1, seed=task.seed + 100, neutral=True)
    frames = renderer.sweep(people[-1:], task.motion, n_frames, size=world.resolution,
                            seed=task.seed)[0]
    return video_anchors(world, frames, steps=task.clip_steps, progress=False)


def target_codes(world, task: Task):
    """The task's held-out faces: ``n_targets`` generated codes (``target_seed``), or as many
    neutral people rendered in the style of ``task.targets`` and inverted (encoder + 50 steps,
    as chapter 8 inverts its styles), cached beside the anchors: every task shares them."""
    if task.targets == "generated":
        return world.sample_wplus(task.n_targets, seed=task.target_seed)
    from . import anchors, photos
    key = anchors.cache_key(kind="targets", world=world.version,
                            style=task.targets, n=task.n_targets, seed=task.target_seed,
                            refine_steps=INVERT_STEPS)

    def invert():
        faces = photos.faces(world, task.n_targets, task.targets, seed=task.target_seed)
        return {"codes": world.invert(faces.images, refine_steps=INVERT_STEPS,
                                      progress=False).cpu()}
    return anchors.cached("targets", key, invert)["codes"].to(world.device)


INVERT_STEPS = 50


def compute(task: Task, world=None, methods=METHODS,
            nudge=None) -> tuple[dict, np.ndarray | None]:
    """Run one task → (its row, its rank-``rank`` subspace [rank, features] or None for nulls
    and styled targets, whose subspace is the generated task's); ``methods``: the
    (decomposition, rule) pairs to score (a test remakes fewer; styled targets score the
    paper's released pipeline only); ``nudge``: added to the start code (:func:`rounding_rows`)."""
    import torch
    from . import decomposition, evaluation, subspaces
    world = _world() if world is None else world
    t0 = time.time()
    a = make_anchors(world, task, nudge)
    _maybe_fail(task)
    D = subspaces.flat_rows(a)
    L, _, _ = decomposition.robust_pca(D)
    row = {"energy": subspaces.energy_curve(D, [task.rank])[0],
           "energy_rpca": subspaces.energy_curve(L, [task.rank])[0]}
    basis = None
    if task.source in ANCHOR_SOURCES:
        if task.targets == "generated":
            basis = subspaces.basis(D, task.rank).astype(np.float16)
        else:
            methods = methods[:1]
        targets = target_codes(world, task)
        for method, rule in methods:
            d = decomposition.direction_from_anchors(a, method=method, rank=task.rank, rule=rule)
            s = evaluation.judged_score(world, targets, d.to(torch.float32), task.motion)
            name = f"{method}_{'released' if rule == 'last_minus_first' else rule}"
            row |= {f"monotonic_{name}": round(s.monotonic * s.n), f"slope_{name}": s.slope,
                    f"drift_{name}": s.identity_drift, f"effect_{name}": s.effect}
    row["seconds"] = time.time() - t0
    return row, basis


def _maybe_fail(task: Task) -> None:
    """Fault injection for the engine's tests: die once, mid-task, as a killed worker would."""
    spec = os.environ.get(FAULT, "")
    key, _, marker = spec.partition(":")
    if key and key == task.key and marker and not os.path.exists(marker):
        Path(marker).write_text("killed once\n")
        os._exit(3)


# --------------------------------------------------------------------------- the table
PROVENANCE = ("key", *[f.name for f in fields(Task)], "commit", "world_version", "world_files",
              "protocol")
MEASURES = ("energy", "energy_rpca", "seconds",
            *[f"{k}_{m}_{'released' if r == 'last_minus_first' else r}"
              for m, r in METHODS for k in ("monotonic", "slope", "drift", "effect")])
COLUMNS = PROVENANCE + MEASURES


def finished(out) -> set[str]:
    """Keys of the rows already in ``out/rows.csv`` (a line cut short by a kill is ignored)."""
    return {r["key"] for r in read_rows(out)}


def read_rows(out) -> list[dict]:
    """The table's complete rows, numbers as floats (empty for nulls' transfer columns)."""
    path = Path(out) / "rows.csv"
    if not path.is_file():
        return []
    rows = []
    for r in csv.DictReader(io.StringIO(path.read_text())):
        if r.get("targets", "") is None:
            continue
        r.setdefault("targets", "generated")           # a table from before styled targets
        if None in r or any(r.get(c) is None for c in COLUMNS):
            continue                                   # a truncated last line: not finished
        rows.append({k: (float(v) if k in MEASURES and v != "" else v) for k, v in r.items()})
    return rows


def append_row(out, task: Task, row: dict, basis, provenance: dict) -> None:
    """Write the task's subspace, then its row (flushed and synced): a row never points at a
    subspace that is not there, and a row cut short by a kill is not read back."""
    from .files import atomic_write
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if basis is not None:
        atomic_write(out / "bases" / f"{task.key}.npy", lambda f: np.save(f, basis))
    path = out / "rows.csv"
    new = not path.is_file() or path.stat().st_size == 0
    if not new:
        _upgrade(path)
    if not new and path.read_bytes()[-1:] != b"\n":
        with open(path, "ab") as f:                    # end a line a kill cut short
            f.write(b"\n")
    values = {"key": task.key, **asdict(task), **provenance, **row}
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="raise")
        if new:
            w.writeheader()
        w.writerow({c: _fmt(values.get(c, "")) for c in COLUMNS})
        f.flush()
        os.fsync(f.fileno())


def _upgrade(path: Path) -> None:
    """Give a table from before styled targets its ``targets`` column (all "generated"), so
    that new rows line up with the header; any other difference is refused."""
    with open(path, newline="") as f:                  # the header line only
        header = next(csv.reader(f), [])
    if header == list(COLUMNS):
        return
    if set(COLUMNS) - set(header) != {"targets"} or set(header) - set(COLUMNS):
        raise ValueError(f"{path} has other columns than this version writes: pass a new --out")
    from .files import atomic_write
    rows = read_rows(path.parent)

    def write(f):
        text = io.StringIO()
        w = csv.DictWriter(text, COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({c: _fmt(r[c]) for c in COLUMNS})
        f.write(text.getvalue().encode())
    atomic_write(path, write)


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def load_basis(out, key: str) -> np.ndarray:
    return np.load(Path(out) / "bases" / f"{key}.npy").astype(np.float64)


def check_out(out) -> Path:
    """The output folder, refusing a link someone could have planted there."""
    out = Path(out)
    for p in (out, out / "rows.csv", out / "bases"):
        if p.is_symlink():
            raise ValueError(f"{p} is a symbolic link: the study writes only to a real folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder: pass another --out")
    return out


# --------------------------------------------------------------------------- running a study
def run(tasks: list[Task], out=TABLE, engine: str = "local", workers: int | None = None,
        address: str | None = None, progress: bool = True, world=None) -> dict:
    """Run the ``tasks`` not yet in ``out``; → {"done": n, "skipped": n, "failed": [keys]}.

    ``engine="local"`` runs them one after another in this process (what chapters do);
    ``engine="ray"`` hands them to Ray: a local cluster of ``workers`` processes, or the running
    cluster at ``address``. Only this process writes the table, one row per finished task.
    """
    from .evaluation import PROTOCOL
    from .progress import bar
    out = check_out(out)
    done = finished(out)
    todo = [t.validate() for t in tasks if t.key not in done]
    files = world_files()
    if frozen_version() != world_version(files):     # a study runs on one frozen world version
        raise ValueError("the frozen world version does not match the shipped models")
    provenance = {"commit": commit(), "world_version": world_version(files),
                  "world_files": json.dumps(files, sort_keys=True), "protocol": PROTOCOL.describe()}
    old = {r["world_version"] for r in read_rows(out)} - {provenance["world_version"]}
    if old:
        raise ValueError(f"{out} holds rows of another world version ({', '.join(sorted(old))}): "
                         f"pass a new --out, or remove the old table to remake it")
    report = {"done": 0, "skipped": len(tasks) - len(todo), "failed": []}
    if not todo:
        return report
    out.mkdir(parents=True, exist_ok=True)
    pbar = bar(total=len(todo), desc="study tasks", enabled=progress)
    if engine == "local":
        for t in todo:
            row, basis = compute(t, world)
            append_row(out, t, row, basis, provenance)
            report["done"] += 1
            pbar.update(1)
    elif engine == "ray":
        _run_ray(todo, out, provenance, workers, address, report, pbar)
    else:
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    pbar.close()
    return report


def _remote_compute(task_fields: dict):
    import torch
    torch.set_num_threads(1)
    task = Task(**task_fields)
    return compute(task, _world(device="auto"))   # the worker's GPU where Ray gave it one


def _run_ray(todo, out, provenance, workers, address, report, pbar) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("the ray engine needs Ray: pip install 'ray>=2.9' (or use --engine local)")
    root = str(Path(__file__).resolve().parents[1])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    for name in ("MICROMOTION_CACHE", FAULT):
        if os.environ.get(name):
            env[name] = os.environ[name]
    kw = {"address": address} if address else {"num_cpus": workers or os.cpu_count()}
    t0 = time.perf_counter()
    ray.init(**kw, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": env})
    report["engine_start_s"] = time.perf_counter() - t0
    try:
        gpu = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpu, max_retries=3)(_remote_compute)
        pending = {remote.remote(asdict(t)): t for t in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    row, basis = ray.get(ref)
                except Exception as e:                     # retries spent: report, keep going
                    report["failed"].append(f"{task.key}: {type(e).__name__}")
                    continue
                append_row(out, task, row, basis, provenance)
                report["done"] += 1
                pbar.update(1)
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m helpers.study",
                                description="The paper's claims over many identities.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run (or resume) a study")
    r.add_argument("--identities", type=int, default=20)
    r.add_argument("--motions", default=None, help="comma-separated (default: all five)")
    r.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated of {SOURCES}")
    r.add_argument("--n-targets", type=int, default=100)
    r.add_argument("--steps", type=int, default=40)
    r.add_argument("--targets", default="generated",
                   help=f"comma-separated of {TARGETS}: where directions are scored")
    r.add_argument("--engine", choices=("ray", "local"), default="ray")
    r.add_argument("--workers", type=int, default=None, help="local Ray workers (default: cores)")
    r.add_argument("--address", default=None, help="join a running Ray cluster")
    r.add_argument("--out", default=str(TABLE))
    s = sub.add_parser("summary", help="print the claims' statistics from a table")
    s.add_argument("--out", default=str(TABLE))
    c = sub.add_parser("rounding", help="remake one row here, beside remakes from nudged "
                                        "start codes: how far rounding moves it")
    c.add_argument("key", help="a row's key (the first column of rows.csv)")
    c.add_argument("--nudges", type=int, default=8)
    c.add_argument("--out", default=str(TABLE))
    args = p.parse_args(argv)
    try:
        if args.command == "rounding":
            print("\n".join(rounding_report(args.key, args.out, args.nudges)))
            return 0
        if args.command == "summary":
            from .study_stats import summary_lines
            print("\n".join(summary_lines(args.out)))
            return 0
        motions = args.motions.split(",") if args.motions else None
        tasks = grid(args.identities, motions, [s for s in args.sources.split(",") if s],
                     [t for t in args.targets.split(",") if t], n_targets=args.n_targets,
                     steps=args.steps)
        t0 = time.time()
        report = run(tasks, args.out, args.engine, args.workers, args.address)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{report['done']} tasks done, {report['skipped']} already in {args.out}, "
          f"{len(report['failed'])} failed, in {time.time() - t0:.0f} s")
    for f in report["failed"]:
        print(f"  failed: {f}", file=sys.stderr)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
