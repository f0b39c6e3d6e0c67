"""The command line: make direction files from text or clips, apply them to images, see what is installed.

    micromotion edit face.png --micromotion smile --out edits/       # a smile video, one command
    micromotion direction --template "A person with {} smile" --out smile.pt
    micromotion direction --frames clip.mp4 --out turn.pt            # video-anchored direction
    micromotion edit photos/ --direction turn.pt --out edits/         # MP4 + GIF + PNG strip per image
    micromotion worlds
    micromotion info

(``python -m helpers …`` works the same.) Every user mistake ends with one line saying what is
wrong and what to do, exit code 2, and no half-written output. Long work shows progress bars (on
stderr); every output file is written to a temporary name and renamed into place when complete.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import warnings
from pathlib import Path

from .vocabulary import MICROMOTIONS

EXIT_USAGE = 2
# α multiplies the direction: the built-in synthfaces directions edit clearly at |α| of 1-3; at 10
# the face distorts and beyond 20 it dissolves into colour (a smile strip at -10, 0, 10, 20 shows it).
ALPHA_LIMIT = 20.0
# argparse reads "-1e3" as an option unless told that such strings are numbers.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


EDIT_HELP = f"""\
Edit each image along a micromotion: invert it into the world's W+ space, then render
w + α·direction for α evenly spaced over --alpha, and write a video (MP4), a looping GIF and a
PNG strip of 8 frames per image into --out.

The direction is a direction file (--direction, made by `micromotion direction`) or the world's
built-in micromotion (--micromotion {'|'.join(MICROMOTIONS)}). On synthfaces that is made from
rendered clips of the micromotion on 8 held-out faces, inverted just like your image, and ships
with the weights; on ffhq from text anchors of the paper's template for it (computed on first use,
then cached under MICROMOTION_CACHE). Either way: robust PCA, then the first principal direction.

--layers keeps the edit on some W+ entries (coarse, middle, fine, or entries like 0-3,8): on synthfaces a head
turn lives in the coarse layers, eye closure in the fine ones (measured in the book's chapter 9).

examples:
  micromotion edit face.png --micromotion smile --out edits/
  micromotion edit face.png --micromotion yaw --layers coarse --out edits/
  micromotion edit photos/ --micromotion age --world ffhq --align --out edits/   # GPU machine
"""

DIRECTION_HELP = """\
Make a direction file: the W+ direction of one micromotion (a .pt) and a .json beside it that says
how it was made (world, template or frames, degrees, identities, seed, steps, rank, rule, the
generator's sha256, versions).

From text (--template): each start code (--identities N, drawn with --seed) is optimised toward
every prompt of the template (StyleCLIP, --steps), robust PCA keeps a rank --rank subspace of its
anchors and --rule reads the direction off it. With several identities each one's anchors are
decomposed on their own and the directions are averaged.

From a clip (--frames): its frames are inverted (--steps of optimisation after the encoder), and
the same decomposition runs on those anchors. A long video is decoded as a stream and 64 frames
spread over it are kept.

The metadata stored inside the .pt is what counts when the direction is used; the .json is a
copy for people to read (`edit` warns when the two disagree).

examples:
  micromotion direction --template smile --out smile.pt
  micromotion direction --template "A person with {} smile" --degrees "no,slight,big" --identities 3 --out smile.pt
  micromotion direction --frames head_turn.mp4 --out turn.pt
"""


class UserError(Exception):
    """A mistake in the input: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    known = ", ".join(MICROMOTIONS)
    p = argparse.ArgumentParser(prog="micromotion", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("worlds", help="list the worlds and what each needs")
    sub.add_parser("info", help="which weights are cached, and where the cache is")

    d = sub.add_parser("direction", help="make a direction file from a prompt template or a clip",
                       description=DIRECTION_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    d._negative_number_matcher = NEGATIVE_NUMBER
    d.add_argument("--template", metavar="TEXT|MICROMOTION",
                   help=f"a prompt template with {{}} for the degree word, or a micromotion ({known})")
    d.add_argument("--frames", metavar="VIDEO|FOLDER",
                   help="a video file or a folder of frames, in motion order")
    d.add_argument("--out", required=True, help="the direction file to write (.pt; a .json goes beside it)")
    d.add_argument("--world", default="synthfaces", help="synthfaces (offline, the default) or ffhq (GPU, downloads)")
    d.add_argument("--degrees", default=None,
                   help="text: 'percent' (the released code's no, 10%%, …, 100%%; default), 'adjectives' "
                        "(no, a slight, …, large) or comma-separated words 'no,slight,big'")
    d.add_argument("--identities", type=int, default=None,
                   help="text: how many start codes (identities) to average over (default 1)")
    d.add_argument("--seed", type=int, default=None, help="text: seed of the start codes (default 1)")
    d.add_argument("--rank", type=int, default=None,
                   help="rank of the robust subspace (default 4, at most the anchors − 1)")
    d.add_argument("--rule", default="last_minus_first", choices=["last_minus_first", "principal"],
                   help="how the direction is read off the subspace (default last_minus_first)")
    d.add_argument("--steps", type=int, default=None,
                   help="optimisation steps: per text anchor (default 40) or per frame batch (default 200)")
    d.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda…")

    e = sub.add_parser("edit", help="apply a direction to an image or a folder of images",
                       description=EDIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    e._negative_number_matcher = NEGATIVE_NUMBER
    e.add_argument("images", help="an image file or a folder of images")
    e.add_argument("--direction", help="a direction file made by `micromotion direction`")
    e.add_argument("--micromotion", help=f"or the world's built-in direction: {known}")
    e.add_argument("--out", required=True, help="output folder (created)")
    e.add_argument("--world", default="synthfaces", help="synthfaces (offline, the default) or ffhq (GPU, downloads)")
    e.add_argument("--alpha", type=float, nargs=2, default=(-1.0, 1.0), metavar=("FROM", "TO"),
                   help=f"range of the edit strength α (default -1 1; finite, |α| ≤ {ALPHA_LIMIT:g})")
    e.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    e.add_argument("--format", nargs="+", default=["mp4", "gif", "png"], choices=["mp4", "gif", "png"],
                   help="what to write per image (default: mp4 gif png)")
    e.add_argument("--layers", default=None, metavar="GROUPS|ENTRIES",
                   help="edit through these W+ entries only: coarse, middle, fine, or entries/ranges such as "
                        "0-3,8, comma-separated (default: all; chapter 9 measures which layers carry each motion)")
    e.add_argument("--align", action="store_true", help="FFHQ-align real photos first (needs dlib-bin)")
    e.add_argument("--steps", type=int, default=None,
                   help="inversion steps after the encoder's guess (0: the encoder alone; default "
                        "200 on synthfaces, 0 on ffhq: ReStyle's output alone, as the paper)")
    e.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda…")
    return p


def shown(text) -> str:
    """``text`` safe for a terminal: control characters (escape codes, newlines in file names)
    written as ``\\x1b``-style escapes instead of being sent raw."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in str(text))


def _output_folder(path, created: list) -> Path:
    from .files import output_folder
    try:
        return output_folder(path, created)
    except ValueError as err:
        raise UserError(f"{err}; choose another --out") from None


def _check_cache() -> None:
    from .weights import check_cache_dir
    try:
        check_cache_dir()
    except ValueError as err:
        raise UserError(str(err)) from None


def _check_device(device) -> None:
    from .device import pick_device
    try:
        pick_device(device)
    except ValueError as err:
        raise UserError(f"--device: {err}") from None


def _image_files(source) -> list[Path]:
    from .images import list_images
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path}: no such image or folder")
    return list_images(path) if path.is_dir() else [path]


def _check_alpha(alpha) -> None:
    lo, hi = alpha
    if not all(math.isfinite(a) and abs(a) <= ALPHA_LIMIT for a in alpha):
        raise UserError(f"--alpha {lo:g} {hi:g} is outside the usable range: give two finite numbers "
                        f"between -{ALPHA_LIMIT:g} and {ALPHA_LIMIT:g}. α multiplies the direction: the "
                        "built-in directions edit clearly at |α| of 1-3, faces distort by 10, and beyond "
                        "20 the code is so far from what the generator learned that frames dissolve")


def cmd_worlds(args) -> int:
    from .worlds import WORLDS
    notes = {"synthfaces": "offline, CPU; weights ship in data/ (the default)",
             "ffhq": "the paper's StyleGAN2-FFHQ 1024 px; GPU recommended; downloads on first use"}
    for name in WORLDS:
        print(f"{name:12s} {notes[name]}")
    return 0


def cmd_info(args) -> int:
    from . import shipped, weights
    from .worlds.ffhq import catalogue  # noqa: F401  (the ffhq world's weights, registered)
    cache = weights.cache_dir()
    print(f"cache: {cache}  (set MICROMOTION_CACHE to move it)")
    for row in weights.info():
        state = "cached" if row.get("cached") else "not cached"
        print(f"  {row['name']:20s} {state:11s} {row.get('path', '')}")
    anchors = sorted((cache / "anchors").glob("*/*.pt")) if (cache / "anchors").is_dir() else []
    size = sum(p.stat().st_size for p in anchors)
    print(f"  anchors: {len(anchors)} cached result(s), {size / 2**20:.1f} MB in {cache / 'anchors'}")
    print(f"synthfaces weights, shipped in {shipped.DATA} (hash-checked against MANIFEST.json):")
    for name, entry in shipped.manifest().items():
        path = shipped.DATA / name
        state = ("missing" if not path.exists() else
                 "ok" if shipped.sha256_file(path) == entry["sha256"] else "FAILS its hash check")
        size = f"{entry['size'] / 2**20:.1f} MB" if entry["size"] >= 2**20 else f"{entry['size'] / 2**10:.0f} kB"
        print(f"  {name:26s} {size:>8s}  {state}")
    return 0


def cmd_direction(args) -> int:
    from .directions import parse_degrees, resolve_template, save_direction
    if (args.template is None) == (args.frames is None):
        raise UserError("give exactly one of --template TEXT|MICROMOTION (a direction from text) or "
                        "--frames VIDEO|FOLDER (a direction from a clip)")
    out = Path(args.out)
    if out.suffix != ".pt":
        raise UserError(f"--out must end in .pt, got {shown(out.name)!r}")
    if args.rank is not None and args.rank < 1:
        raise UserError(f"--rank must be at least 1, got {args.rank}")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    if args.template is not None:
        # every check that needs no model comes before the world is loaded
        template = resolve_template(args.template)
        degrees = parse_degrees("percent" if args.degrees is None else args.degrees)
        identities = 1 if args.identities is None else args.identities
        if identities < 1:
            raise UserError(f"--identities must be at least 1, got {identities}")
        if args.rank is not None and args.rank > len(degrees):
            raise UserError(f"--rank {args.rank} does not fit {len(degrees) + 1} anchors (start code + "
                            f"{len(degrees)} degrees): use 1 … {len(degrees)}")
    else:
        given = [f"--{name}" for name in ("degrees", "identities", "seed")
                 if getattr(args, name) is not None]
        if given:
            raise UserError(f"{', '.join(given)} apply to --template only: a clip's anchors are its frames")
    for target in (out, out.with_suffix(".json")):
        if target.is_dir() and not target.is_symlink():
            raise UserError(f"{shown(target)} is a folder; choose another --out file")
    _check_device(args.device)
    _check_cache()
    _output_folder(out.parent if str(out.parent) else Path("."), args.created_folders)

    from . import worlds
    world = worlds.load(args.world, device=args.device)
    if args.template is not None:
        from .directions import text_direction
        direction, how = text_direction(world, template, degrees, identities=identities,
                                        seed=1 if args.seed is None else args.seed,
                                        steps=args.steps or 40, rank=args.rank, rule=args.rule)
    else:
        from .directions import frames_direction
        try:
            direction, how = frames_direction(world, args.frames, rank=4 if args.rank is None else args.rank,
                                              rule=args.rule, steps=args.steps or 200)
        except ValueError as err:
            if str(err).startswith("rank "):          # the command line calls it --rank
                raise UserError(f"--{err}") from None
            raise
    save_direction(out, direction, world, **how)
    print(shown(f"wrote {out} (norm {float(direction.norm()):.3f}) and {out.with_suffix('.json')}"))
    return 0


def _load_images(files, world, align: bool) -> list:
    """Load (and align) every image before any output is written; report what loading changed."""
    from .alignment import MIN_SIDE, NoFaceError, align_face, load_image
    images = []
    for path in files:
        if align:
            try:
                image, info = align_face(path, output_size=world.resolution)
            except NoFaceError as err:        # its advice names a Python argument
                raise UserError(str(err).replace(", or pass landmarks=.", ".")) from None
            notes = info.notes
        else:
            image = load_image(path, max_side=max(1024, 4 * world.resolution), min_side=MIN_SIDE)
            notes = image.info.get("load_notes", [])
        for note in notes:
            print(shown(f"{path.name}: {note}"))
        images.append(image)
    return images


def _warn_unrepresentable(world, files, batch, codes) -> None:
    """Say so when an image is far from anything the world can draw (a real photo on synthfaces)."""
    from .inversion import unrepresentable
    bound = world.reconstruction_bound
    for k, error in unrepresentable(world, batch, codes):
        print(f"micromotion edit: warning: {shown(files[k].name)}: the {world.name} world cannot represent "
              f"this image (reconstruction error {error:.2f}; its own renders stay below "
              f"{bound['max']:.2f}, the most of {bound['n']}): the edit shows an unrelated "
              f"{world.name} face. Real photos need --world ffhq (a GPU machine).", file=sys.stderr)


def cmd_edit(args) -> int:
    import numpy as np
    import torch
    from . import media, worlds
    from .device import available_memory
    from .files import atomic_write
    from .latent_spaces import format_layers, parse_layers, restrict_to_layers
    from .transfer import render_edit
    if (args.direction is None) == (args.micromotion is None):
        raise UserError("give exactly one of --direction FILE (made by `micromotion direction`) or "
                        f"--micromotion NAME ({', '.join(MICROMOTIONS)})")
    if args.micromotion is not None and args.micromotion not in MICROMOTIONS:
        raise UserError(f"unknown micromotion {shown(args.micromotion)!r}; known: {', '.join(MICROMOTIONS)} "
                        "(or make a direction file with `micromotion direction --template`)")
    if args.frames < 2:
        raise UserError(f"--frames must be at least 2, got {args.frames}")
    if args.steps is not None and args.steps < 0:
        raise UserError(f"--steps must be 0 or more, got {args.steps}")
    _check_alpha(args.alpha)
    _check_device(args.device)
    _check_cache()
    files = _image_files(args.images)
    formats = list(dict.fromkeys(args.format))
    from .files import outputs_per_input
    plans = outputs_per_input(files, Path(args.out), formats)
    world = worlds.load(args.world, device=args.device)
    upscale = media.video_upscale(world.resolution)
    need = media.edit_bytes(len(files), args.frames, world.resolution, formats)
    have = available_memory()
    if have is not None and need > 0.8 * have:
        raise UserError(f"{args.frames} frames × {len(files)} image(s) at {world.resolution} px need about "
                        f"{need / 2**30:.1f} GB of memory, and {have / 2**30:.1f} GB are free: use fewer "
                        "--frames (16-64 make a smooth video) or fewer images at once")
    layers = None if args.layers is None else parse_layers(args.layers, world.num_ws, world.resolution)
    if args.direction is not None:
        from .directions import load_direction
        direction, _ = load_direction(args.direction, world)
    out = _output_folder(args.out, args.created_folders)
    images = _load_images(files, world, args.align)
    if args.micromotion is not None:
        from .directions import builtin_direction
        direction, how = builtin_direction(world, args.micromotion)
        if how["source"] == "text":
            made = f"text anchors of {how['template']!r}"
        else:
            made = f"rendered clips of {how['identities']} held-out faces, inverted"
        print(f"built-in {args.micromotion!r} direction of the {world.name} world: {made}, rank {how['rank']}, "
              f"{how['rule']} rule" + (f" ({how['shipped']})" if "shipped" in how else ""))
    if layers is not None:
        direction = restrict_to_layers(direction, layers)
        print(f"editing through W+ entries {format_layers(layers)} of 0-{world.num_ws - 1} only")
    alphas = np.linspace(args.alpha[0], args.alpha[1], args.frames)
    # the encoder's guess (where the world has one), then optimisation refinement
    batch = world.preprocess(images)
    steps = args.steps if args.steps is not None else (
        200 if world.refine_steps is None else world.refine_steps)
    codes = world.invert(batch, refine_steps=steps)
    _warn_unrepresentable(world, files, batch, codes)
    frames = render_edit(world, codes, direction, alphas)
    for path, clip in zip(files, frames):
        for target in plans[path]:
            if target.suffix == ".mp4":
                media.save_mp4(clip, target, fps=min(30, args.frames), upscale=upscale)
            elif target.suffix == ".gif":
                media.save_gif(torch.cat([clip, clip.flip(0)]), target, fps=12)
            else:
                from PIL import Image
                pick = np.linspace(0, len(clip) - 1, min(8, len(clip))).round().astype(int)
                strip = Image.fromarray(media.grid(clip[pick], nrow=min(8, len(clip))))
                atomic_write(target, lambda f: strip.save(f, format="PNG"))
        print(shown(f"{path.name}: wrote {', '.join(str(t) for t in plans[path])}"))
    return 0


COMMANDS = {"worlds": cmd_worlds, "info": cmd_info, "direction": cmd_direction, "edit": cmd_edit}


def _one_line(text: str) -> str:
    """A multi-line message (a failed download lists every mirror) as one line."""
    parts = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not parts:
        return str(text)
    line = parts[0]
    for part in parts[1:]:
        flowing = line.endswith((".", ":", ";", ",")) or part.startswith("→") or part[:1].islower()
        line += (" " if flowing else "; ") + part
    return line


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"micromotion: warning: {shown(_one_line(message))}\n"


def _weights_line(err) -> str:
    """A failed download as one line: a plain first sentence, then only what the user can act on."""
    text = str(err)
    if text.startswith("no network connection"):
        head = text.splitlines()[0]
        hand = text[text.index("To place the file by hand"):] if "To place the file by hand" in text else ""
        text = head + ("\n" + hand if hand else "")
    message = _one_line(text)
    return re.sub(r"Then call fetch\([^)]*\) again\.", "Then run this command again.", message)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    args.created_folders = []                # folders this run made: removed again if it fails
    from .alignment import AlignmentDependencyError
    from .weights import WeightsError
    # Warnings print as one line, without the source line Python adds; the way they are shown (or,
    # under pytest, recorded) is left alone.
    format_warning, warnings.formatwarning = warnings.formatwarning, _warning_line
    succeeded = False

    def error(message: str) -> int:
        print(f"micromotion {args.command}: error: {shown(message)}", file=sys.stderr)
        return EXIT_USAGE

    try:
        code = COMMANDS[args.command](args)
        succeeded = code == 0
        return code
    except (UserError, ValueError, OSError, WeightsError, AlignmentDependencyError) as err:
        return error(_weights_line(err) if isinstance(err, WeightsError) else _one_line(err))
    except ImportError as err:
        return error(f"a package is missing ({_one_line(err)})")
    except (MemoryError, RuntimeError) as err:
        from .device import is_out_of_memory
        if not is_out_of_memory(err):
            raise
        return error("out of memory; use smaller or fewer images, fewer --frames (or --device cpu when "
                     "a GPU is full)")
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = format_warning
        if not succeeded:
            from .files import remove_new_folders
            remove_new_folders(args.created_folders)


if __name__ == "__main__":
    sys.exit(main())
