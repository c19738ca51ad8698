"""The quality-per-second frontier on a CPU and on CUDA: PSNR reached against the seconds a fit costs.

The PSNR comes from recorded trajectories (`frontier_cache.npz`: per iteration, the PSNR of the
estimate the fit returns, for the three presets at 128 and 256 px on 8 cases, recorded to 3000
iterations on an H100). The seconds are the iterations a point runs times the cost of one
iteration: on the CPU a step of that preset and size measured here in the same run (one thread,
CPU seconds: steady on a shared machine), on CUDA the wall time per iteration of a whole fit as
`restore` runs it (`cuda_steps.json`). Points: every preset stopped after a fixed count (the curve),
the automatic stop at the preset's cap and at 3000, and seed ensembles (`ensemble_gains.json`: the
measured gain of K members and how much longer the last member runs; on the CPU members cost K
steps, on CUDA the measured K-member step). A default is the least-time point within 0.3 dB of the
best one.

    python benchmarks/frontier.py record --device cuda             # the trajectories not yet cached
    python benchmarks/frontier.py steps --device cuda              # cuda_steps.json
    python benchmarks/ensembles.py --device cuda --batched ensemble_gains.json ...  # (RESULTS.md)
    python benchmarks/frontier.py report --plot frontier.png       # CPU step costs, tables, plot
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from classical_report import bm3d_baseline
from machine import machine_record
from replay import evaluate, rules
from speed import fitter_step, interleaved, peak_mb
from trajectories import NOISES, Case, clean_image, load_cache, noisy_image, problem_for, record_cases

from dipbatch.fit.ensemble import member_seeds
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import PRESET_NAMES, get_preset
from dipbatch.fit.speed import SpeedOptions
from dipbatch.fit.stopping import StopOptions, make_stop_rule
from dipbatch.run.device import synchronize

HERE = Path(__file__).parent
CACHE = HERE / "frontier_cache.npz"  # the trajectories (recorded on an H100, 2026-11-24)
GAINS = HERE / "ensemble_gains.json"  # ensembles.py --batched on the H100
CUDA_STEPS = HERE / "cuda_steps.json"  # `frontier.py steps --device cuda` on the H100
SIZES = (128, 256)
CAP = 3000
CASES = [(s, n) for s in ("astronaut", "coffee") for n in NOISES]  # what each point averages
TOLERANCE_DB = 0.3


@dataclass(frozen=True)
class Point:
    label: str
    preset: str
    psnr: float
    iterations: float
    seconds: float
    kind: str  # "fixed" | "auto" | "ensemble"
    k: int = 1


@dataclass(frozen=True)
class Gain:
    """The measured effect of K members (ensemble_gains.json) on one preset and size."""
    db: float  # mean PSNR gain of the K-member mean over member 0
    stretch: float  # mean ratio of the last member's stop to member 0's (the fit runs to the last)
    source: str


def load_gains(path: Path) -> dict[tuple[str, int, int], Gain]:
    """(preset, size, K) -> the gain over every case measured with that preset, size and K."""
    rows = json.loads(path.read_text())
    single = {(r["scene"], r["noise"], r["size"], r["preset"]): r for r in rows if r["k"] == 1}
    grouped: dict[tuple[str, int, int], list[dict]] = {}
    for r in rows:
        if r["k"] > 1:
            grouped.setdefault((r["preset"], r["size"], r["k"]), []).append(r)
    gains = {}
    for key, group in grouped.items():
        firsts = [single[(r["scene"], r["noise"], r["size"], r["preset"])] for r in group]
        noises = sorted({r["noise"] for r in group})
        gains[key] = Gain(statistics.fmean(r["psnr"] - f["psnr"] for r, f in zip(group, firsts, strict=True)),
                          statistics.fmean(max(r["stops"]) / r["stops"][0] for r in group),
                          f"{len({r['scene'] for r in group})} scenes × {'/'.join(noises)}")
    return gains


def fit_seconds_per_iteration(preset: str, size: int, k: int, device: torch.device,
                              iterations: int) -> tuple[float, float]:
    """Wall seconds per iteration of one image's K-member fit as `restore` runs it (the automatic
    stop's signals in the loop; its cap beyond the run, so it never fires), after a warm-up fit of
    the same shape; and the peak memory in MB."""
    case = Case("astronaut", "gauss25", size, preset)
    problems = [problem_for(case, noisy_image(case, clean_image(case.scene, size)))] * k
    recipe = get_preset("denoise", preset)

    def fit(n: int) -> float:
        rule = make_stop_rule(StopOptions(), problems, recipe.fit.iterations, device)
        fitter = Fitter(problems, recipe, member_seeds(0, k), device, rule.stopper, iterations=n)
        synchronize(device)
        started = time.perf_counter()
        fitter.run()
        synchronize(device)
        return time.perf_counter() - started

    fit(20)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return fit(iterations) / iterations, peak_mb(device)


def time_fits(args: argparse.Namespace) -> None:
    """`steps`: seconds per iteration of each preset, size and K on `--device`, into a JSON file."""
    device = torch.device(args.device)
    rows = []
    for size in args.sizes:
        for preset in PRESET_NAMES:
            for k in args.ks:
                seconds, peak = fit_seconds_per_iteration(preset, size, k, device, args.iterations)
                rows.append({"preset": preset, "size": size, "k": k, "s_per_it": seconds, "peak_mb": peak})
                print(f"{size:4} px {preset:5} K={k}: {1000 * seconds:7.1f} ms/it, {peak:7.0f} MB",
                      flush=True)
                args.out.write_text(json.dumps({**machine_record(device), "rows": rows}, indent=1))


def records_for(size: int, preset: str, records: dict) -> list[tuple[Case, dict]]:
    """The records of CASES for one preset and size (all of them, or none)."""
    cases = [Case(scene, noise, size, preset, CAP) for scene, noise in CASES]
    keyed = {case: case.key("cuda", twins=False) for case in cases}
    if not all(key in records for key in keyed.values()):
        return []
    return [(case, records[key]) for case, key in keyed.items()]


def cpu_step_costs(repeats: int) -> dict[tuple[str, int], float]:
    """CPU seconds per fit step of each preset and size, one thread, timed in turns (medians)."""
    device = torch.device("cpu")
    costs = {}
    for size in SIZES:
        steps = [fitter_step(size, device, SpeedOptions(), 1, p) for p in PRESET_NAMES]
        _, cpu = interleaved(steps, repeats, device)
        costs.update({(p, size): c for p, c in zip(PRESET_NAMES, cpu, strict=True)})
    return costs


def auto_point(rows: list[tuple[Case, dict]], cap: int, step_s: float) -> Point:
    """The automatic stop replayed at `cap` on every case: mean PSNR returned, mean iterations run."""
    outs = [evaluate(replace(case, cap=cap), rec, rules(cap)["auto"]) for case, rec in rows]
    ran = statistics.fmean(o["ran"] for o in outs)
    preset = rows[0][0].preset
    return Point(f"{preset}, auto, cap {cap}", preset, statistics.fmean(o["psnr"] for o in outs), ran,
                 ran * step_s, "auto")


def points_for(rows: list[tuple[Case, dict]], step_s: float) -> list[Point]:
    """A preset's points at one size: fixed iteration counts, and auto at its own cap and at CAP."""
    preset = rows[0][0].preset
    curve = np.mean([rec["psnr"][:CAP] for _, rec in rows], axis=0)
    points = [Point(f"{preset}, {n} it.", preset, float(curve[n - 1]), n, n * step_s, "fixed")
              for n in (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 2500, 3000)]
    own = get_preset("denoise", preset).fit.iterations
    return points + [auto_point(rows, cap, step_s) for cap in sorted({own, CAP})]


def ensemble_points(single: Point, gains: dict[tuple[str, int, int], Gain], size: int,
                    seconds_per_it: Callable[[int], float]) -> list[Point]:
    """K members of `single` (an auto point at CAP): its PSNR plus the measured gain, run to the
    last member's stop, at `seconds_per_it(K)` per iteration."""
    points = []
    for (preset, gain_size, k), gain in sorted(gains.items()):
        if (preset, gain_size) == (single.preset, size):
            ran = single.iterations * gain.stretch
            points.append(Point(f"{single.label}, K={k} (gain: {gain.source})", preset, single.psnr + gain.db,
                                ran, ran * seconds_per_it(k), "ensemble", k))
    return points


def choose(points: list[Point], kinds: tuple[str, ...]) -> tuple[Point, Point]:
    """(best, chosen): the best PSNR among `kinds`, and the least-time point within the tolerance."""
    pool = [p for p in points if p.kind in kinds]
    best = max(pool, key=lambda p: p.psnr)
    chosen = min((p for p in pool if p.psnr >= best.psnr - TOLERANCE_DB), key=lambda p: p.seconds)
    return best, chosen


def plot(frontiers: dict[tuple[str, int], list[Point]], path: Path) -> None:
    """PSNR against seconds per image, one panel per device and size (matplotlib's Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    colors = {"paper": "tab:red", "fast": "tab:blue", "tiny": "tab:green"}
    axes = fig.subplots(2, len(SIZES), squeeze=False).ravel()
    for ax, ((device, size), points) in zip(axes, frontiers.items(), strict=True):
        for preset, color in colors.items():
            fixed = [p for p in points if p.preset == preset and p.kind == "fixed"]
            ax.plot([p.seconds for p in fixed], [p.psnr for p in fixed], "-", color=color, lw=1.2,
                    label=f"{preset}, fixed iterations")
            for p in points:
                if p.preset == preset and p.kind != "fixed":
                    star = p.kind == "ensemble"
                    ax.plot(p.seconds, p.psnr, "*" if star else "o", color=color, ms=9 if star else 5)
                    text = f"K={p.k}" if star else "cap " + p.label.split("cap ")[1]
                    ax.annotate(text, (p.seconds, p.psnr), fontsize=6, textcoords="offset points",
                                xytext=(2, 5 if star else -9))
        top = max(p.psnr for p in points)
        ax.set_ylim(top - 6, top + 0.7)
        ax.set_xscale("log")
        ax.set_xlim(min(p.seconds for p in points if p.psnr > top - 6) / 1.5,
                    max(p.seconds for p in points) * 1.5)
        ax.set_xlabel("CPU seconds per image (1 thread)" if device == "cpu"
                      else "wall seconds per image (H100)")
        ax.set_ylabel("PSNR, dB")
        ax.set_title(f"{device.upper()}, {size}×{size}: 8 cases (2 scenes × 4 noises)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].plot([], [], "ko", ms=5, label="automatic stop at a cap")
    axes[0].plot([], [], "k*", ms=9, label="automatic stop, K members")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.savefig(path)


def frontier(records: dict, gains: dict[tuple[str, int, int], Gain], size: int,
             seconds_per_it: Callable[[str, int], float], parallel_members: bool) -> list[Point]:
    """Every preset's points at one size, with `seconds_per_it(preset, K)`; members cost K steps
    each on a device that runs them one after another (the CPU), else the K-member step's time."""
    points: list[Point] = []
    for preset in PRESET_NAMES:
        rows = records_for(size, preset, records)
        if not rows:
            continue
        own = points_for(rows, seconds_per_it(preset, 1))
        single = next(p for p in own if p.label == f"{preset}, auto, cap {CAP}")
        per_k = (lambda k, p=preset: seconds_per_it(p, k)) if parallel_members \
            else (lambda k, p=preset: k * seconds_per_it(p, 1))
        points += own + ensemble_points(single, gains, size, per_k)
    return points


def print_table(device: str, size: int, points: list[Point]) -> None:
    best, chosen = choose(points, ("auto", "ensemble"))
    unit = "CPU s" if device == "cpu" else "wall s (H100)"
    print(f"\n### {device.upper()}, {size}×{size} ({len(CASES)} cases)\n")
    print(f"| point | PSNR dB | below the best | iterations | {unit} per image | × the chosen |")
    print("|---|---|---|---|---|---|")
    for p in sorted(points, key=lambda p: p.seconds):
        if p.kind == "fixed" and p.iterations not in (100, 300, 1000, 2000, 3000):
            continue
        print(f"| {p.label} | {p.psnr:.2f} | {best.psnr - p.psnr:.2f} | {p.iterations:.0f} | "
              f"{p.seconds:.1f} | {p.seconds / chosen.seconds:.2f} |")
    baselines = [b for b in (bm3d_baseline(Case(s, n, size)) for s, n in CASES) if b]
    if baselines:
        print(f"| CBM3D, the classical baseline (CPU) | {statistics.mean(b[0] for b in baselines):.2f} | "
              f"{best.psnr - statistics.mean(b[0] for b in baselines):.2f} | - | "
              f"{statistics.mean(b[1] for b in baselines):.1f} (CPU s) | - |")
    _, fixed_chosen = choose(points, ("auto", "ensemble", "fixed"))
    print(f"\nwith the automatic stop: best {best.label} ({best.psnr:.2f} dB, {best.seconds:.1f} s); "
          f"least time within {TOLERANCE_DB} dB: **{chosen.label}** ({chosen.psnr:.2f} dB, "
          f"{chosen.seconds:.1f} s)")
    print(f"counting fixed counts too: least time within {TOLERANCE_DB} dB: {fixed_chosen.label} "
          f"({fixed_chosen.psnr:.2f} dB, {fixed_chosen.seconds:.1f} s)")


def report(args: argparse.Namespace) -> None:
    records, gains = load_cache([args.cache]), load_gains(GAINS)
    cuda = json.loads(CUDA_STEPS.read_text())
    cuda_s = {(r["preset"], r["size"], r["k"]): r["s_per_it"] for r in cuda["rows"]}
    cpu_s = cpu_step_costs(args.steps)
    print("Seconds per iteration (CPU: this machine, 1 thread, CPU s, one member; "
          f"CUDA: {cuda['device']}, wall, K members of one image, {cuda['torch']}):\n")
    print("| preset | size | CPU | CUDA K=1 | K=2 | K=4 | K=8 |\n|---|---|---|---|---|---|---|")
    for size in SIZES:
        for p in PRESET_NAMES:
            ks = " | ".join(f"{1000 * cuda_s[(p, size, k)]:.1f} ms" for k in (1, 2, 4, 8))
            print(f"| {p} | {size} | {cpu_s[(p, size)]:.3f} s | {ks} |")
    frontiers = {}
    for device in ("cpu", "cuda"):
        for size in SIZES:
            def per_it(preset: str, k: int, device: str = device, size: int = size) -> float:
                return cpu_s[(preset, size)] if device == "cpu" else cuda_s[(preset, size, k)]
            frontiers[(device, size)] = frontier(records, gains, size, per_it, device == "cuda")
            print_table(device, size, frontiers[(device, size)])
    if args.plot:
        plot(frontiers, args.plot)
        print(f"\nplot: {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="fit the cases not yet cached (no SURE twins)")
    rec.add_argument("--device", default="cuda")
    rec.add_argument("--cache", type=Path, default=CACHE)
    rec.add_argument("--threads", type=int, default=1)
    rep = sub.add_parser("report", help="time the CPU's steps, replay the stop, print the tables, plot")
    rep.add_argument("--cache", type=Path, default=CACHE)
    rep.add_argument("--steps", type=int, default=3, help="timed CPU steps per preset and size")
    rep.add_argument("--plot", type=Path, help="write the frontier's plot here (PNG)")
    steps = sub.add_parser("steps", help="time whole fits' iterations per preset, size and K on a device")
    steps.add_argument("--device", default="cuda")
    steps.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    steps.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    steps.add_argument("--iterations", type=int, default=60)
    steps.add_argument("--threads", type=int, default=1)
    steps.add_argument("--out", type=Path, default=CUDA_STEPS, help="JSON file to write")
    args = parser.parse_args()
    torch.set_num_threads(1 if args.command == "report" else args.threads)
    if args.command == "steps":
        time_fits(args)
    elif args.command == "record":
        cases = [Case(s, n, size, p, CAP) for size in SIZES for p in PRESET_NAMES for s, n in CASES]
        record_cases(cases, args.cache, args.device, twins=False)
    else:
        report(args)


if __name__ == "__main__":
    main()
