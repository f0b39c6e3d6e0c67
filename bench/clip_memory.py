"""Peak memory of `micromotion direction --frames` on a long 1080p clip (the CLI-safety issue's
goal: a one-minute 1080p clip under 1.5 GB), beside decoding the whole clip at once (the old path).

    .venv/bin/python bench/clip_memory.py --seconds 60

Makes the clip with ffmpeg's test source in a temporary folder, runs each side in a fresh
process and reads that process's peak resident memory (``ru_maxrss``). Memory, not time: it may
run beside other jobs.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DECODE_ALL = """
import sys, imageio.v3 as iio
frames = iio.imread(sys.argv[1], index=None)
print(len(frames))
"""


def peak_of(argv) -> tuple[float, float, str]:
    """Run ``argv`` in a fresh process → (peak resident MB, seconds, its last output line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise SystemExit("this process's children already peaked higher; run each side alone")
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return peak / 1024, seconds, lines[-1] if lines else ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--decode-all", action="store_true",
                   help="also decode the whole clip at once, the old path (needs ~11 GB for 60 s)")
    args = p.parse_args(argv)
    import imageio_ffmpeg
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={args.size}:rate=30", "-t", str(args.seconds), "-pix_fmt",
                        "yuv420p", str(clip)], check=True)
        print(f"clip: {args.seconds:g} s of {args.size} at 30 fps, {clip.stat().st_size / 2**20:.0f} MB")
        cli = [str(ROOT / ".venv" / "bin" / "micromotion"), "direction", "--frames", str(clip),
               "--out", str(Path(folder) / "d.pt"), "--steps", "1", "--device", "cpu"]
        mb, s, last = peak_of(cli)
        print(f"micromotion direction --frames (64 frames kept, --steps 1): peak {mb:,.0f} MB, "
              f"{s:.0f} s  [{last[:60]}]")
        if args.decode_all:
            mb_all, s_all, n = peak_of([sys.executable, "-c", DECODE_ALL, str(clip)])
            print(f"decoding all {n} frames at once (the old path):  peak {mb_all:,.0f} MB, {s_all:.0f} s")
            print(f"ratio of peaks: {mb_all / mb:.1f}x")
        print(f"goal: under 1,536 MB ({'met' if mb < 1536 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
