"""How long the quality report takes per image, and how large it gets, against reading the images.

    python benchmarks/report_speed.py [--images 12] [--size 256]

Builds a results folder of synthetic photos (input, restored output and clean reference per image)
with sidecars as long as a `paper` run writes them (3000-point loss and stopping curves, a spectral
trajectory of 8 bands × 60 samples), then times `write_report` inline and with --beside. The
baseline, timed in the same run, is reading the three images of every entry, which any report must
do. Prints a Markdown table; --append adds it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_line
from PIL import Image

from dipbatch.io.images import read_image
from dipbatch.io.sidecar import FORMAT as SIDECAR_FORMAT
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.report.build import write_report
from dipbatch.report.collect import Locations
from dipbatch.workflow.summary import Row, write_summary

ITERATIONS = 3000


def save(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.moveaxis(data, 0, -1) * 255).astype(np.uint8)).save(path)


def sidecar(image: Path, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    steps = np.arange(1, ITERATIONS + 1)
    loss = 0.01 + 0.05 / np.sqrt(steps) + rng.normal(0, 1e-4, ITERATIONS)
    samples = np.arange(50, ITERATIONS + 1, 50)
    energy = 1 - np.exp(-np.outer(samples, 1 / np.linspace(100, 3000, 8)))
    return {
        "format": SIDECAR_FORMAT,
        "input": str(image), "iterations": ITERATIONS, "stop_iteration": 1800, "stop_reason": "auto",
        "wall_time_s": 60.0, "device": "cuda", "dipbatch_version": "bench", "sigma_input": 0.1,
        "sigma_output": 0.02, "loss_curve": np.stack([steps, loss], 1).tolist(),
        "stop_curve": np.stack([steps[99:], np.abs(loss[99:] - 0.01)], 1).tolist(),
        "stop_curve_name": "windowed variance", "cutoff_frequency": 0.2,
        "spectral": {"band_edges": np.linspace(0, 0.5, 9).tolist(), "iterations": samples.tolist(),
                     "energy": energy.tolist()},
    }


def make_results(root: Path, images: int, size: int) -> Locations:
    results = root / "results" / "bench"
    rows = []
    for k in range(images):
        name = f"img_{k:03d}.png"
        clean = scene(size, size, 3, seed=k)
        save(root / "in" / name, add_gaussian_noise(clean, 0.1, seed=1000 + k))
        save(root / "ref" / name, clean)
        save(results / name, np.clip(clean + 0.01, 0, 1))
        (results / f"{name}.json").write_text(json.dumps(sidecar(root / "in" / name, k)))
        rows.append(Row(image=name, status="ok", output=str(results / name)))
    write_summary(results / "summary.tsv", rows)
    return Locations(results=results, inputs=root / "in", reference=root / "ref")


def timed(action) -> tuple[float, float]:
    """Wall and CPU seconds of `action` (the CPU time is steadier on a machine shared with others)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        locations = make_results(root, args.images, args.size)
        names = sorted(p.name for p in (root / "in").iterdir())
        folders = (root / "in", locations.results, root / "ref")
        baseline = timed(lambda: [read_image(f / n) for n in names for f in folders])
        inline = timed(lambda: write_report(locations, root / "inline.html"))
        beside = timed(lambda: write_report(locations, root / "beside.html", beside=True))
        inline_bytes = (root / "inline.html").stat().st_size
        beside_bytes = (root / "beside.html").stat().st_size + folder_bytes(root / "beside_files")
    n = args.images

    def row(what: str, seconds: tuple[float, float], size: str = "") -> str:
        return (f"| {what} | {seconds[0] / n:.3f} | {seconds[1] / n:.3f} "
                f"| {seconds[1] / baseline[1]:.0f} | {size} |")

    lines = [
        f"{n} images of {args.size}×{args.size} px, sidecars with {ITERATIONS}-point curves; "
        f"{machine_line()}.",
        "",
        "| what | wall s per image | CPU s per image | CPU × reading the images | KB per image |",
        "| --- | --- | --- | --- | --- |",
        row("baseline: read input, output, reference", baseline),
        row("report, pictures inline", inline, f"{inline_bytes / n / 1024:.0f}"),
        row("report, pictures beside (`--beside`)", beside, f"{beside_bytes / n / 1024:.0f}"),
    ]
    text = "\n".join(lines)
    print(text)
    if args.append:
        results_md = Path(__file__).with_name("RESULTS.md")
        heading = "\n## Quality reports: time and size per image (benchmarks/report_speed.py)\n\n"
        machine = ("Machine: 2 CPU cores, no GPU, shared with other jobs (wall times vary; CPU times are "
                   "steadier); 2026-11-22. Reduced: a dozen synthetic 256-px photos with made-up "
                   "sidecars of a paper-length run, not a real archive; the time grows with the number "
                   "of images, the size per image with their size up to the 360-px views.\n\n")
        with open(results_md, "a", encoding="utf-8") as fh:
            fh.write(heading + machine + text + "\n")


if __name__ == "__main__":
    main()
