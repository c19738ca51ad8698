"""How long a dry run of the workflow takes over a large dataset, against Snakemake's own floor.

    python benchmarks/dry_run.py [--images 10000] [--append]

Writes N tiny PNGs into a temporary folder (in 10 subfolders), a config.yaml with one `tiny`
denoising dataset, and times two dry runs of workflow/Snakefile there: `snakemake -n -q` (prints
the job counts) and a plain `snakemake -n` (prints every job: rule, files, resources, reason,
shell command). The baseline, timed in the same run over the same files, is a one-rule Snakefile
that copies each image: Snakemake's own cost per job, which no workflow goes below. The goal
(issue 4) is under 30 s for 10,000 images.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_line
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

FLOOR = """
IMAGES = glob_wildcards("imgs/{path}.png").path

rule all:
    input: expand("out/{path}.png", path=IMAGES)

rule copy:
    input: "imgs/{path}.png"
    output: "out/{path}.png"
    shell: "cp {input:q} {output:q}"
"""

CONFIG = """output: results
logs: logs
device: cpu
threads: 1
datasets:
  big: {input: imgs, task: denoise, preset: tiny}
"""


def make_images(root: Path, count: int) -> None:
    pixels = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    first = root / "imgs" / "first.png"
    first.parent.mkdir(parents=True)
    Image.fromarray(pixels).save(first)
    for k in range(count):
        path = root / "imgs" / f"part{k % 10}" / f"img_{k:05d}.png"
        path.parent.mkdir(exist_ok=True)
        shutil.copyfile(first, path)
    first.unlink()


def timed_dry_run(root: Path, snakefile: Path, quiet: bool) -> tuple[float, float]:
    """(wall s, CPU s) of one dry run, its output thrown away."""
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--cores", "2", "-n"]
    before = os.times()
    start = time.perf_counter()
    subprocess.run(command + (["-q"] if quiet else []), cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--append", action="store_true", help="add the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_images(root, args.images)
        (root / "config.yaml").write_text(CONFIG)
        floor = root / "Floor.smk"
        floor.write_text(FLOOR)
        lines = [f"{args.images} images; {machine_line()}.", "",
                 "| dry run | floor: one-rule Snakefile, wall s | dipbatch workflow, wall s (CPU s) "
                 "| × floor |", "| --- | --- | --- | --- |"]
        for quiet in (True, False):
            base, _ = timed_dry_run(root, floor, quiet)
            wall, cpu = timed_dry_run(root, REPO / "workflow" / "Snakefile", quiet)
            name = "`snakemake -n -q`" if quiet else "`snakemake -n`"
            lines.append(f"| {name} | {base:.1f} | {wall:.1f} ({cpu:.1f}) | {wall / base:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.append:
        with open(REPO / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n## Dry-run speed over a large dataset (benchmarks/dry_run.py)\n\n" + table + "\n")


if __name__ == "__main__":
    main()
