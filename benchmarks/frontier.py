"""The quality-per-second frontier on this CPU: PSNR reached against the seconds a fit costs.

The PSNR comes from recorded trajectories (per iteration, the PSNR of the estimate the fit returns):
`early_stopping_cache.npz` (an H100: `fast` and `paper` at 128 px, `fast` at 256 px) and
`frontier_cache.npz` (this CPU: `tiny`, and `paper` at 256 px for its first iterations). The
seconds are the iterations a point runs times the cost of one step of that preset and size,
measured here in the same run (one thread, CPU seconds: steady on a shared machine). Points: every
preset stopped after a fixed count (the curve), the automatic stop at the preset's cap and at the
record's, and seed ensembles (the measured gain of K members, at K times the time: members cost
1.00x per image on the CPU, RESULTS.md). The default is the least-time point within 0.3 dB of the
best one.

    python benchmarks/frontier.py record --set tiny128 --threads 1   # the CPU's own trajectories
    python benchmarks/frontier.py report --plot frontier.png         # step costs, table, plot
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from replay import evaluate, rules
from speed import fitter_step, interleaved
from trajectories import NOISES, Case, load_cache, record_cases

from dipbatch.presets import PRESET_NAMES
from dipbatch.speed import SpeedOptions

HERE = Path(__file__).parent
CACHE = HERE / "frontier_cache.npz"
GPU_CACHE = HERE / "early_stopping_cache.npz"
SCENES = ("astronaut", "coffee")  # the scenes every preset was recorded on
CASE_SETS = {  # reduced to what 2 shared CPU cores could record in the session (RESULTS.md)
    "tiny128": [Case(s, n, 128, "tiny", 1500) for s in SCENES for n in NOISES],
    "tiny256": [Case("astronaut", "gauss25", 256, "tiny", 2000)],
    "paper256": [Case("astronaut", "gauss25", 256, "paper", 150)],
}
# What each size's frontier is drawn on: the cases every preset has a record of.
COMPARED = {128: [(s, n) for s in SCENES for n in NOISES], 256: [("astronaut", "gauss25")]}
GPU_CAP = 2000  # the cap of the H100 records
# The caps the automatic stop is replayed at, per preset (a cap beyond a record ends with it):
# each preset's own, and fast's before this benchmark (1200).
AUTO_CAPS = {"paper": (3000,), "fast": (1200, 3000), "tiny": (300, 1500)}
# PSNR gain of the mean of K members over one seed, `fast` at 128 px, auto stop, σ=25
# (benchmarks/ensembles.py; RESULTS.md), and the cap of the single-seed point it is added to:
# on an H100, astronaut, cap 1200 (every member ran to it); on this CPU, chelsea, cap 2000
# (every member stopped by itself, at 750-775).
ENSEMBLE_GAINS = {("H100, astronaut", 1200): {2: 0.58, 4: 0.82},
                  ("CPU, chelsea", 3000): {2: 0.41, 4: 0.53}}
TOLERANCE_DB = 0.3


@dataclass(frozen=True)
class Point:
    label: str
    preset: str
    psnr: float
    iterations: float
    seconds: float
    kind: str  # "fixed" | "auto" | "ensemble"


def records_for(size: int, preset: str, gpu: dict, cpu: dict) -> list[tuple[Case, dict]]:
    """The compared cases' records of one preset and size: the H100's if it has them, else the CPU's."""
    found = []
    for scene, noise in COMPARED[size]:
        gpu_case = Case(scene, noise, size, preset, GPU_CAP)
        cpu_case = next((c for cases in CASE_SETS.values() for c in cases
                         if (c.scene, c.noise, c.size, c.preset) == (scene, noise, size, preset)), None)
        if gpu_case.key("cuda") in gpu:
            found.append((gpu_case, gpu[gpu_case.key("cuda")]))
        elif cpu_case is not None and cpu_case.key("cpu", twins=False) in cpu:
            found.append((cpu_case, cpu[cpu_case.key("cpu", twins=False)]))
    return found if len(found) == len(COMPARED[size]) else []


def step_costs(sizes: list[int], repeats: int) -> dict[tuple[str, int], float]:
    """CPU seconds per fit step of each preset and size, one thread, timed in turns (medians)."""
    device = torch.device("cpu")
    costs = {}
    for size in sizes:
        steps = [fitter_step(size, device, SpeedOptions(), 1, p) for p in PRESET_NAMES]
        _, cpu = interleaved(steps, repeats, device)
        costs.update({(p, size): c for p, c in zip(PRESET_NAMES, cpu, strict=True)})
    return costs


def auto_point(rows: list[tuple[Case, dict]], cap: int, label: str, step_s: float) -> Point:
    """The automatic stop replayed at `cap` on every case: mean PSNR returned, mean iterations run."""
    outs = [evaluate(replace(case, cap=cap), rec, rules(cap)["auto"]) for case, rec in rows]
    ran = statistics.fmean(o["ran"] for o in outs)
    return Point(label, rows[0][0].preset, statistics.fmean(o["psnr"] for o in outs), ran,
                 ran * step_s, "auto")


def points_for(rows: list[tuple[Case, dict]], step_s: float) -> list[Point]:
    """A preset's points at one size: fixed iteration counts, and auto at each of AUTO_CAPS."""
    preset = rows[0][0].preset
    length = min(len(rec["psnr"]) for _, rec in rows)
    curve = np.mean([rec["psnr"][:length] for _, rec in rows], axis=0)
    counts = sorted({n for n in (25, 50, 100, 200, 300, 500, 750, 1000, 1200, 1500, 2000) if n <= length}
                    | {length})
    points = [Point(f"{preset}, {n} it.", preset, float(curve[n - 1]), n, n * step_s, "fixed")
              for n in counts]
    if length < 300:  # too short for the stop to be replayed
        return points
    for cap in AUTO_CAPS[preset]:
        label = f"{preset}, auto, cap {cap}" + (f" (record ends at {length})" if cap > length else "")
        points.append(auto_point(rows, min(cap, length), label, step_s))
    return points


def ensemble_points(points: list[Point]) -> list[Point]:
    """K members on the CPU: the single fit's PSNR plus the measured gain, at K times its time."""
    out = []
    for (source, cap), gains in ENSEMBLE_GAINS.items():
        single = next(p for p in points if p.kind == "auto" and p.label.startswith(f"fast, auto, cap {cap}"))
        out += [Point(f"fast, auto, cap {cap}, K={k} (gain: {source})", "fast", single.psnr + gain,
                      single.iterations * k, single.seconds * k, "ensemble") for k, gain in gains.items()]
    return out


def choose(points: list[Point], kinds: tuple[str, ...]) -> tuple[Point, Point]:
    """(best, chosen): the best PSNR among `kinds`, and the least-time point within the tolerance."""
    pool = [p for p in points if p.kind in kinds]
    best = max(pool, key=lambda p: p.psnr)
    chosen = min((p for p in pool if p.psnr >= best.psnr - TOLERANCE_DB), key=lambda p: p.seconds)
    return best, chosen


def plot(frontiers: dict[int, list[Point]], path: Path) -> None:
    """PSNR against CPU seconds per image, one panel per size (matplotlib's Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    colors = {"paper": "tab:red", "fast": "tab:blue", "tiny": "tab:green"}
    axes = fig.subplots(1, len(frontiers), squeeze=False)[0]
    for ax, (size, points) in zip(axes, frontiers.items(), strict=True):
        for preset, color in colors.items():
            fixed = [p for p in points if p.preset == preset and p.kind == "fixed"]
            if fixed:
                ax.plot([p.seconds for p in fixed], [p.psnr for p in fixed], "-", color=color,
                        lw=1.2, label=f"{preset}, fixed iterations")
            for p in points:
                if p.preset == preset and p.kind != "fixed":
                    ensemble = p.kind == "ensemble"
                    ax.plot(p.seconds, p.psnr, "*" if ensemble else "o", color=color,
                            ms=9 if ensemble else 5, alpha=1 if "CPU" in p.label or not ensemble else 0.4)
                    text = p.label.split("K=")[1][0] if ensemble else p.label.split("cap ")[1][:4]
                    ax.annotate(("K=" if ensemble else "cap ") + text, (p.seconds, p.psnr), fontsize=6,
                                xytext=(2, 5 if ensemble else -9), textcoords="offset points")
        top = max(p.psnr for p in points)
        ends = [max((p for p in points if p.preset == preset and p.kind == "fixed"),
                    key=lambda p: p.iterations).psnr for preset in {p.preset for p in points}]
        ax.set_ylim(min(top - 7, min(ends) - 1), top + 0.7)  # every curve's end in sight
        ax.set_xscale("log")
        ax.set_xlabel("CPU seconds per image (1 thread)")
        ax.set_ylabel("PSNR, dB")
        ax.set_title(f"{size}×{size}: " + ("8 cases (2 scenes × 4 noises)" if size == 128
                                          else "astronaut, σ=25"), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].plot([], [], "ko", ms=5, label="automatic stop at a cap")
    axes[0].plot([], [], "k*", ms=9, label="auto, K members (pale: H100 gains at cap 1200)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.savefig(path)


def gpu_steps(gpu: dict) -> None:
    """The H100 records' own timing: seconds per step of each recorded batch, and per member."""
    batches = {(key.split("-")[2], key.split("-")[3], float(rec["seconds"]), int(rec["members"]))
               for key, rec in gpu.items()}
    print("\nThe H100 records (one batch per size and preset, images and SURE twins together):\n")
    print("| size | preset | members | ms per step | ms per member-step |\n|---|---|---|---|---|")
    for size, preset, seconds, members in sorted(batches):
        print(f"| {size} | {preset} | {members} | {1000 * seconds / GPU_CAP:.0f} | "
              f"{1000 * seconds / GPU_CAP / members:.1f} |")


def report(args: argparse.Namespace) -> None:
    gpu, cpu = load_cache([GPU_CACHE]), load_cache([args.cache])
    gpu_steps(gpu)
    costs = step_costs([128, 256], args.steps)
    base = costs[("paper", 128)]
    print("\nStep cost on this CPU (1 thread, CPU s, median of turns), × the paper net's at 128 px:\n")
    print("| preset | 128 px s/step | × | 256 px s/step | × |\n|---|---|---|---|---|")
    for p in PRESET_NAMES:
        print(f"| {p} | {costs[(p, 128)]:.3f} | {costs[(p, 128)] / base:.2f} | "
              f"{costs[(p, 256)]:.3f} | {costs[(p, 256)] / base:.2f} |")
    frontiers: dict[int, list[Point]] = {}
    for size in COMPARED:
        points: list[Point] = []
        for preset in PRESET_NAMES:
            rows = records_for(size, preset, gpu, cpu)
            if rows:
                points += points_for(rows, costs[(preset, size)])
        if size == 128:
            points += ensemble_points(points)
        frontiers[size] = points
        best, chosen = choose(points, ("auto", "fixed"))
        best_all, chosen_all = choose(points, ("auto", "fixed", "ensemble"))
        print(f"\n### {size} px ({len(COMPARED[size])} cases)\n")
        print("| point | PSNR dB | below the best | iterations | CPU s per image | × the chosen |")
        print("|---|---|---|---|---|---|")
        ends = {p.preset: p.iterations for p in points if p.kind == "fixed"}  # each record's last
        for p in sorted(points, key=lambda p: p.seconds):
            if p.kind == "fixed" and p.iterations not in (100, 300, 500, 1000, 2000, ends[p.preset]):
                continue
            print(f"| {p.label} | {p.psnr:.2f} | {best_all.psnr - p.psnr:.2f} | {p.iterations:.0f} | "
                  f"{p.seconds:.0f} | {p.seconds / chosen.seconds:.2f} |")
        print(f"\none seed: best {best.label} ({best.psnr:.2f} dB, {best.seconds:.0f} s); least time "
              f"within {TOLERANCE_DB} dB: {chosen.label} ({chosen.psnr:.2f} dB, {chosen.seconds:.0f} s)")
        print(f"with ensembles: best {best_all.label} ({best_all.psnr:.2f} dB); least time within "
              f"{TOLERANCE_DB} dB: {chosen_all.label} ({chosen_all.psnr:.2f} dB, {chosen_all.seconds:.0f} s)")
    if args.plot:
        plot(frontiers, args.plot)
        print(f"\nplot: {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="fit the CPU cases not yet cached (no SURE twins)")
    rec.add_argument("--set", choices=sorted(CASE_SETS), action="append", required=True)
    rec.add_argument("--cache", type=Path, default=CACHE)
    rec.add_argument("--threads", type=int, default=1)
    rep = sub.add_parser("report", help="time the steps, replay the stop, print the table, plot")
    rep.add_argument("--cache", type=Path, default=CACHE)
    rep.add_argument("--steps", type=int, default=3, help="timed steps per preset and size")
    rep.add_argument("--plot", type=Path, help="write the frontier's plot here (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(1 if args.command == "report" else args.threads)
    if args.command == "record":
        cases = [c for name in args.set for c in CASE_SETS[name]]
        record_cases(cases, args.cache, "cpu", twins=False)
    else:
        report(args)


if __name__ == "__main__":
    main()
