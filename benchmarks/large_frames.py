"""Peak memory and time of restoring large frames tile by tile, against fitting them whole.

Each restore (read a float32 FITS star field, asinh stretch, fit, blend, write FITS + sidecar) runs in
its own process, so its peak RSS is its own; the time excludes Python's imports. Tiled restores of
1k², 2k² and 4k² frames should need about the same memory beyond the frame's own arrays (about
6 × H×W×4 bytes), while a whole-frame fit grows with the frame.

    python benchmarks/large_frames.py [--sizes 1024 2048 4096] [--whole 1024 2048] [--iterations 3]
                                      [--tile 512] [--batch 4] [--append]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_line

RESULTS = Path(__file__).with_name("RESULTS.md")


def star_frame(size: int, seed: int = 0) -> np.ndarray:
    """A size² float32 frame: sky of 100 counts, a star per 4000 pixels, Poisson noise."""
    rng = np.random.default_rng(seed)
    expected = np.full((size, size), 100.0, np.float32)
    yy, xx = np.mgrid[-7:8, -7:8]
    for _ in range(size * size // 4000):
        y, x = rng.integers(7, size - 7, 2)
        width, peak = rng.uniform(1.0, 2.5), rng.uniform(50, 5000)
        expected[y - 7:y + 8, x - 7:x + 8] += peak * np.exp(-(yy ** 2 + xx ** 2) / (2 * width ** 2))
    return rng.poisson(expected).astype(np.float32)


def child(path: str, tile: int, batch: int, iterations: int) -> None:
    """One restore in this process; print its seconds and peak RSS as JSON."""
    import torch

    from dipbatch.astro import AstroOptions
    from dipbatch.fit.stopping import StopOptions
    from dipbatch.fit.tiling import TilingOptions
    from dipbatch.run.restore import RestoreOptions, restore_files

    torch.set_num_threads(1)
    options = RestoreOptions(preset="tiny", iterations=iterations, device="cpu", checkpoint_every=0,
                             stop=StopOptions(rule="fixed"), astro=AstroOptions(stretch="asinh"),
                             tiling=TilingOptions(tile=tile, tile_overlap=64, tile_batch=batch),
                             show_progress=False, overwrite=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    outcome, = restore_files([(Path(path), Path(path).with_name("out.fits"))], options)
    seconds = time.perf_counter() - start
    if outcome.error:
        raise SystemExit(outcome.error)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "imports_mb": before}))


def measure(frame: np.ndarray, folder: Path, tile: int, batch: int, iterations: int) -> dict:
    from astropy.io import fits

    path = folder / f"frame{frame.shape[0]}.fits"
    if not path.exists():
        fits.PrimaryHDU(frame).writeto(path)
    done = subprocess.run([sys.executable, __file__, "--child", str(path), str(tile), str(batch),
                           str(iterations)], capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--whole", type=int, nargs="*", default=[1024, 2048],
                        help="sizes also fitted whole, as the baseline")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--append", action="store_true", help=f"append the table to {RESULTS.name}")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, tile, batch, iterations = args.child
        child(path, int(tile), int(batch), int(iterations))
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(set(args.sizes) | set(args.whole)):
            frame = star_frame(size)
            frame_mb = frame.nbytes / 2**20
            runs = [("tiled", args.tile)] * (size in args.sizes) + [("whole", 0)] * (size in args.whole)
            for how, tile in runs:
                result = measure(frame, Path(tmp), tile, args.batch, args.iterations)
                rows.append({"size": size, "how": how, "frame_mb": frame_mb, **result})
                print(rows[-1], flush=True)
    table = _table(rows, args)
    print(table)
    if args.append:
        with RESULTS.open("a") as fh:
            fh.write(table)


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    tiled = {r["size"]: r for r in rows if r["how"] == "tiled" and "error" not in r}
    lines = [
        "\n## Large frames: peak memory and time, tiled against whole (benchmarks/large_frames.py)\n",
        f"\nMachine: {machine_line()}; shared with other jobs; one torch thread.",
        f" Reduced: `tiny` net, {args.iterations} iteration(s) per tile (a real run has hundreds, so its "
        f"time is about that many times longer; its memory is the same), tiles of {args.tile}² with "
        f"64 px overlap, {args.batch} tiles per batch, asinh stretch, float32 FITS star fields.\n\n",
        "| frame | fit | peak RSS MB | of which imports | frame float32 MB | seconds | RSS ÷ tiled 1k² |\n",
        "| --- | --- | --- | --- | --- | --- | --- |\n",
    ]
    smallest = tiled[min(tiled)]["peak_mb"] if tiled else None
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']}² | {r['how']} | failed: {r['error']} | | | | |\n")
            continue
        ratio = f"{r['peak_mb'] / smallest:.2f}" if smallest else ""
        lines.append(f"| {r['size']}² | {r['how']} | {r['peak_mb']:.0f} | {r['imports_mb']:.0f} | "
                     f"{r['frame_mb']:.0f} | {r['seconds']:.1f} | {ratio} |\n")
    return "".join(lines)


if __name__ == "__main__":
    main()
