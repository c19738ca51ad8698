"""What durable writes cost: 1,000 small images with their sidecars, with and without fsync.

    python benchmarks/durable_writes.py [--images 1000] [--size 64] [--folder /scratch/x]

Every output dipbatch writes is flushed to the disk before it is renamed into place, and its folder
after (`dipbatch.io.atomic.atomic_paths`). This writes `--images` PNGs of `--size`² with their sidecars
through `write_image`, as a restore job does, twice in the same run: durably (the default) and with
the flushes turned off (the baseline, atomic only), and prints the ratio. `--folder` measures another
filesystem (a network one is where the cost shows); the default is a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_line

from dipbatch.io import atomic
from dipbatch.io.images import Source, write_image
from dipbatch.io.sidecar import sidecar_bytes, sidecar_path


def write_all(folder: Path, images: int, size: int) -> float:
    """Seconds to write `images` image+sidecar pairs into `folder`."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    source = Source(path="bench.png", format="png", dtype="uint8", value_range=(0.0, 255.0), layout="rgb")
    data = rng.random((images, 3, size, size), dtype=np.float32)
    record = {"input": "bench.png", "loss_curve": [[i, 0.01] for i in range(0, 3000, 15)]}
    started = time.perf_counter()
    for k in range(images):
        out = folder / f"img_{k:04d}.png"
        write_image(out, data[k], source, companions={sidecar_path(out): sidecar_bytes(record)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        durable = write_all(Path(tmp) / "durable", args.images, args.size)
        flush = atomic.fsync_path
        atomic.fsync_path = lambda path: None  # the baseline: atomic renames, no flushes
        try:
            baseline = write_all(Path(tmp) / "atomic", args.images, args.size)
        finally:
            atomic.fsync_path = flush
        where = Path(tmp).resolve()
    n = args.images
    print(f"{n} PNGs of {args.size}² with sidecars in {where.parent}; {machine_line()}")
    print("| writes | ms per image+sidecar | × atomic only |")
    print("| --- | --- | --- |")
    print(f"| atomic only (no fsync), the baseline | {1000 * baseline / n:.2f} | 1.00 |")
    print(f"| durable (fsync file, then folder after each rename) | {1000 * durable / n:.2f} "
          f"| {durable / baseline:.2f} |")


if __name__ == "__main__":
    main()
