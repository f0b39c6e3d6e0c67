"""The command line: make direction files from clips, apply them to images, see what is installed.

    micromotion worlds
    micromotion info
    micromotion direction --frames clip.mp4 --out turn.pt            # video-anchored direction
    micromotion edit face.png --direction turn.pt --out edits/        # MP4 + GIF + PNG strip

(``python -m helpers …`` works the same.) Every user mistake ends with one line saying what is
wrong and what to do, exit code 2, and no half-written output.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake in the input: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="micromotion", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("worlds", help="list the worlds and what each needs")
    sub.add_parser("info", help="which weights are cached, and where the cache is")

    d = sub.add_parser("direction", help="make a direction file from the frames of a clip")
    d.add_argument("--frames", required=True, help="a video file or a folder of frames, in motion order")
    d.add_argument("--out", required=True, help="the direction file to write (.pt; a .json goes beside it)")
    d.add_argument("--world", default="synthfaces", help="synthfaces (offline) or ffhq (GPU, downloads)")
    d.add_argument("--rank", type=int, default=4, help="rank of the robust subspace (default 4)")
    d.add_argument("--rule", default="last_minus_first", choices=["last_minus_first", "principal"])
    d.add_argument("--steps", type=int, default=200, help="inversion steps per frame batch")
    d.add_argument("--device", default="auto")

    e = sub.add_parser("edit", help="apply a direction to an image or a folder of images")
    e.add_argument("images", help="an image file or a folder of images")
    e.add_argument("--direction", required=True, help="a direction file made by `micromotion direction`")
    e.add_argument("--out", required=True, help="output folder (created)")
    e.add_argument("--world", default="synthfaces")
    e.add_argument("--alpha", type=float, nargs=2, default=(-1.0, 1.0), metavar=("FROM", "TO"),
                   help="range of the edit strength α (default -1 1)")
    e.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    e.add_argument("--format", nargs="+", default=["mp4", "gif", "png"], choices=["mp4", "gif", "png"])
    e.add_argument("--align", action="store_true", help="FFHQ-align real photos first (needs dlib-bin)")
    e.add_argument("--steps", type=int, default=200,
                   help="inversion steps, after the encoder's guess (0: the encoder alone)")
    e.add_argument("--device", default="auto")
    return p


def _writable_folder(path) -> Path:
    """Create ``path`` and prove it writable now, before any long computation."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".micromotion-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write to {path}: {err.strerror or err}; choose another --out") from None
    return path


def _image_files(source) -> list[Path]:
    from .anchors import IMAGE_SUFFIXES
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path}: no such image or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    return [path]


def cmd_worlds(args) -> int:
    from .worlds import WORLDS
    notes = {"synthfaces": "offline, CPU; weights ship in data/ (the default)",
             "ffhq": "the paper's StyleGAN2-FFHQ 1024 px; GPU recommended; downloads on first use"}
    for name in WORLDS:
        print(f"{name:12s} {notes[name]}")
    return 0


def cmd_info(args) -> int:
    from . import weights
    print(f"cache: {weights.cache_dir()}  (set MICROMOTION_CACHE to move it)")
    for row in weights.info():
        state = "cached" if row.get("cached") else "not cached"
        print(f"  {row['name']:20s} {state:11s} {row.get('path', '')}")
    return 0


def cmd_direction(args) -> int:
    import numpy as np
    from . import anchors, decomposition, worlds
    from .directions import save_direction
    out = Path(args.out)
    if out.suffix != ".pt":
        raise UserError(f"--out must end in .pt, got {out.name!r}")
    _writable_folder(out.parent if str(out.parent) else Path("."))
    world = worlds.load(args.world, device=args.device)
    frames = anchors.to_tensor(anchors.read_frames(args.frames), world.resolution)
    if args.rank < 1 or args.rank > len(frames) - 1:
        raise UserError(f"--rank {args.rank} does not fit {len(frames)} frames: use 1 … {len(frames) - 1}")
    codes = anchors.video_anchors(world, frames, steps=args.steps)
    low, infos = decomposition.decompose_anchors(codes, "rpca", "per_layer", rank=args.rank)
    direction = decomposition.edit_direction(low, args.rule, first=0, last=-1)
    save_direction(out, direction, world, source="frames", frames=str(args.frames), n_frames=len(frames),
                   rank=args.rank, rule=args.rule, inversion_steps=args.steps,
                   rpca_iterations=int(np.mean([i.iterations for i in infos])))
    print(f"wrote {out} (norm {float(direction.norm()):.3f}) and {out.with_suffix('.json')}")
    return 0


def cmd_edit(args) -> int:
    import numpy as np
    import torch
    from . import media, worlds
    from .alignment import align_face, load_image
    from .directions import load_direction
    from .files import atomic_write
    from .transfer import render_edit
    if args.frames < 2:
        raise UserError(f"--frames must be at least 2, got {args.frames}")
    files = _image_files(args.images)
    out = _writable_folder(args.out)
    world = worlds.load(args.world, device=args.device)
    direction, meta = load_direction(args.direction, world)
    alphas = np.linspace(args.alpha[0], args.alpha[1], args.frames)
    images = []
    for path in files:
        image = align_face(path, output_size=world.resolution)[0] if args.align else load_image(path)
        images.append(image)
    # the encoder's guess (where the world has one), then optimisation refinement
    codes = world.invert(world.preprocess(images), refine_steps=args.steps)
    frames = render_edit(world, codes, direction, alphas)
    for path, clip in zip(files, frames):
        stem = out / path.stem
        if "mp4" in args.format:
            media.save_mp4(clip, stem.with_suffix(".mp4"), fps=min(30, args.frames), upscale=4)
        if "gif" in args.format:
            media.save_gif(torch.cat([clip, clip.flip(0)]), stem.with_suffix(".gif"), fps=12)
        if "png" in args.format:
            from PIL import Image
            strip = Image.fromarray(media.grid(clip[np.linspace(0, len(clip) - 1, min(8, len(clip))).round()
                                                    .astype(int)], nrow=min(8, len(clip))))
            atomic_write(stem.with_suffix(".png"), lambda f: strip.save(f, format="PNG"))
        print(f"{path.name}: wrote {', '.join(str(stem.with_suffix('.' + f)) for f in args.format)}")
    return 0


COMMANDS = {"worlds": cmd_worlds, "info": cmd_info, "direction": cmd_direction, "edit": cmd_edit}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .weights import WeightsError
    try:
        return COMMANDS[args.command](args)
    except (UserError, ValueError, FileNotFoundError, WeightsError) as err:
        print(f"micromotion {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
