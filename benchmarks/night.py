"""A night at scale, on a small machine: 200 small images with 5 % corrupt, packed and unpacked.

    python benchmarks/night.py [--images 200] [--batch 16] [--cores 2]

Builds a folder of `--images` noisy 24×24 PNGs of which one in twenty is corrupt (truncated,
empty, a text file with an image suffix, in turns), copies the workflow next to it, and runs the
real `snakemake --cores N --keep-going` twice: one job per image (batch: 1), and packed
(batch: `--batch`). After each run it checks what a user checks the next morning, and says so:
- every good image is restored (`ok` in summary.tsv, its file and sidecar on disk);
- every corrupt one is `failed` with its own error line (naming its own file);
- every input is byte-identical to before, and nothing was added to the input folder.
The wall time of each run is printed; the fits are tiny (the `tiny` preset, 10 iterations), so the
time is the workflow's and the jobs' start-up, not the fitting.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dipbatch.io.results import read_table

REPO = Path(__file__).resolve().parents[1]
CORRUPTIONS = ("truncated", "empty", "not an image")


def make_inputs(folder: Path, images: int) -> dict[str, str]:
    """The images, every twentieth corrupt; returns the corrupt ones with the word their error names."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    corrupt = {}
    for k in range(images):
        name = f"img_{k:04d}.png"
        path = folder / name
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
        if k % 20 == 7:
            kind = CORRUPTIONS[len(corrupt) % len(CORRUPTIONS)]
            if kind == "truncated":
                path.write_bytes(path.read_bytes()[:60])
            elif kind == "empty":
                path.write_bytes(b"")
            else:
                path.write_text("not an image at all\n")
            corrupt[name] = kind
    return corrupt


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def night(root: Path, images: int, batch: int, cores: int) -> list[str]:
    """One run; returns the problems found (none: the morning is fine)."""
    work = root / f"batch{batch}"
    shutil.copytree(REPO / "workflow", work / "workflow",
                    ignore=shutil.ignore_patterns("demo", "__pycache__"))
    corrupt = make_inputs(work / "archive", images)
    before = digest(work / "archive")
    (work / "config.yaml").write_text(f"threads: 1\ndevice: cpu\ndatasets:\n  night:\n    input: archive\n"
                                      f"    preset: tiny\n    iterations: 10\n    batch: {batch}\n")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--keep-going"],
                          cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    problems = []
    rows = {r["image"]: r for r in read_table(work / "results" / "night" / "summary.tsv")}
    for name in sorted(before):
        row, output = rows.get(name, {}), work / "results" / "night" / name
        if name in corrupt:
            if row.get("status") != "failed" or name not in row.get("error", ""):
                problems.append(f"{name} ({corrupt[name]}): {row.get('status')} {row.get('error')!r}")
        elif row.get("status") != "ok" or not output.is_file() or not Path(f"{output}.json").is_file():
            problems.append(f"{name}: {row.get('status')} {row.get('error')!r}")
    if digest(work / "archive") != before:
        problems.append("the input folder changed")
    good = len(before) - len(corrupt)
    restored = sum(r.get("status") == "ok" for r in rows.values())
    print(f"batch {batch}: {restored}/{good} good images restored, {len(corrupt)} corrupt failed alone; "
          f"inputs {'unchanged' if digest(work / 'archive') == before else 'CHANGED'}; snakemake exit "
          f"{proc.returncode} (the corrupt ones), {seconds:.0f} s wall", flush=True)
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        problems = [p for batch in (1, args.batch) for p in night(Path(tmp), args.images, batch, args.cores)]
    for problem in problems:
        print(f"problem: {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
