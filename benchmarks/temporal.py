"""Temporal consistency at real sizes: which pass to trust after per-frame restoration, and warm starts.

Seven synthetic sequences (scikit-image photos, rendered frame by frame; nothing downloaded), each
restored frame by frame by the real fit (the `fast` preset, or --preset; the automatic stop; the
same seed and z for every frame). That per-frame restoration is the baseline, measured in the same
run; every temporal method runs over its frames, and each is reported as
- PSNR against the clean frames and its difference to the baseline's;
- warping error (DIS flow on the input frames, Lai's occlusion check) and flicker index (temporal
  deviation over static pixels), as ratios to the baseline's;
- the wall time the pass took.
Warm start: the same frames fitted in chains of WARM_CHUNK, frame t from frame t−1's final weights,
with the same automatic stop; PSNR against the clean frame is logged every CURVE_EVERY iterations
for cold and warm fits, so the table says how many iterations a warm frame needs to reach its cold
fit's PSNR.

The per-frame and warm results are cached (--cache-out, uint16 npz) so that the methods can be
compared again without refitting (--cache-in).

    python benchmarks/temporal.py --frames 24 --size 128 --device cuda --out results/
    python benchmarks/temporal.py --frames 12 --size 64 --preset tiny --cap 300   # the small sequences
    python benchmarks/temporal.py --frames 6 --size 48 --cap 200 --sequences pan,stars   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from machine import machine_record
from skimage import data
from skimage.color import rgb2gray
from skimage.transform import AffineTransform, resize, warp

from dipbatch.fit.loop import Fitter, StatelessObserver
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.stopping import StopOptions, make_stop_rule
from dipbatch.nets.build import load_member, member_state
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise
from dipbatch.temporal.dvp import DVPOptions, deep_video_prior
from dipbatch.temporal.fidelity import blend, guarded_strength
from dipbatch.temporal.flowfilter import flow_filter
from dipbatch.temporal.metrics import measure, sequence_flows, static_mask
from dipbatch.temporal.run import DEFAULT_METHOD

SIGMA = 25 / 255
WARM_CHUNK = 8
CURVE_EVERY = 10
SEED = 0


# ---- sequences ------------------------------------------------------------------------------------


def _photo(load: Callable[[], np.ndarray], size: int, gray: bool = False) -> np.ndarray:
    image = load().astype(np.float32) / 255
    if gray and image.ndim == 3:
        image = rgb2gray(image).astype(np.float32)
    return resize(image, (size, size), anti_aliasing=True).astype(np.float32)


def _view(source: np.ndarray, size: int, angle: float = 0.0, scale: float = 1.0,
          shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A size×size view of `source` (H×W[×C]) about its centre: rotated (degrees), zoomed, shifted."""
    centre = np.array(source.shape[1::-1], np.float64) / 2
    out_centre = np.array([size, size], np.float64) / 2
    to_origin = AffineTransform(translation=-out_centre)
    turn = AffineTransform(rotation=math.radians(angle), scale=1 / scale)
    back = AffineTransform(translation=centre + np.asarray(shift))
    inverse = AffineTransform(matrix=back.params @ turn.params @ to_origin.params)
    return warp(source, inverse, output_shape=(size, size), order=3, mode="reflect").astype(np.float32)


def _paste(frame: np.ndarray, patch: np.ndarray, top: float, left: float) -> np.ndarray:
    """The patch (with a soft round edge) over the frame at a sub-pixel position."""
    h, w = patch.shape[:2]
    yy, xx = np.mgrid[0:frame.shape[0], 0:frame.shape[1]].astype(np.float32)
    radius = min(h, w) / 2
    dist = np.hypot(yy - top - h / 2, xx - left - w / 2)
    alpha = np.clip(radius - dist, 0, 1)
    inverse = AffineTransform(translation=(-left, -top))
    moved = warp(patch, inverse.inverse, output_shape=frame.shape[:2], order=1, mode="edge")
    alpha = alpha[..., None] if frame.ndim == 3 else alpha
    return (frame * (1 - alpha) + moved.astype(np.float32) * alpha).astype(np.float32)


def _chw(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(f[None] if f.ndim == 2 else np.moveaxis(f, -1, 0), np.float32)
            for f in frames]


def rotate(frames: int, size: int) -> list[np.ndarray]:
    """astronaut (RGB), turning 1.5° per frame about the centre."""
    source = _photo(data.astronaut, 2 * size)
    return _chw([_view(source, size, angle=1.5 * t, scale=1.2) for t in range(frames)])


def zoom(frames: int, size: int) -> list[np.ndarray]:
    """camera (gray), zooming in from 1× to 1.4× (geometric steps)."""
    source = _photo(data.camera, 2 * size)
    return _chw([_view(source, size, scale=1.4 ** (t / max(frames - 1, 1))) for t in range(frames)])


def pan_turn(frames: int, size: int) -> list[np.ndarray]:
    """astronaut (RGB), panned 1.5 px per frame while turning 0.75° per frame (a pan with a slow turn)."""
    source = _photo(data.astronaut, 2 * size)
    return _chw([_view(source, size, angle=0.75 * t, scale=1.2, shift=(1.5 * t - frames, 0.5 * t))
                 for t in range(frames)])


def pan(frames: int, size: int) -> list[np.ndarray]:
    """camera (gray), panned 2 px per frame (the old benchmark's motion, for reference)."""
    source = _photo(data.camera, 2 * size)
    return _chw([_view(source, size, shift=(2.0 * t - frames, 0.0)) for t in range(frames)])


def moving_object(frames: int, size: int) -> list[np.ndarray]:
    """chelsea (RGB), still, with a round patch of coffee crossing it diagonally (occlusions)."""
    background = _photo(data.chelsea, size)
    patch = _photo(data.coffee, size // 3)
    span = size - size // 3
    return _chw([_paste(background, patch, span * 0.2 + 0.6 * span * t / max(frames - 1, 1),
                        span * t / max(frames - 1, 1)) for t in range(frames)])


def handheld(frames: int, size: int) -> list[np.ndarray]:
    """The 'real' clip: a slow hand-held zoom through coffee (RGB) with jitter, a coin rolling by."""
    source = _photo(data.coffee, 2 * size)
    coins = _photo(data.coins, size // 4)
    patch = np.repeat(coins[..., None], 3, axis=-1)
    rng = np.random.default_rng(7)
    jitter = np.cumsum(rng.normal(0, 0.8, (frames, 2)), axis=0)
    out = []
    for t in range(frames):
        frame = _view(source, size, angle=0.3 * math.sin(t / 3), scale=1.1 + 0.15 * t / max(frames - 1, 1),
                      shift=(jitter[t, 0] + 0.5 * t, jitter[t, 1]))
        out.append(_paste(frame, patch, size * 0.6, size * (0.05 + 0.7 * t / max(frames - 1, 1))))
    return _chw(out)


STAR_PEAK, STAR_SKY, STAR_FULL = 300.0, 15.0, 330.0  # expected photons; STAR_FULL maps to 1.0


def stars(frames: int, size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Synthetic star field drifting (0.6, 0.35) px per frame, stars twinkling ±30 %, Poisson noise."""
    rng = np.random.default_rng(3)
    count = max(8, size * size // 400)
    ys, xs = rng.uniform(0, size, count), rng.uniform(0, size, count)
    amps = STAR_PEAK * rng.uniform(0.1, 1.0, count) ** 2
    widths = rng.uniform(1.0, 2.2, count)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    clean, noisy = [], []
    for t in range(frames):
        twinkle = 1 + 0.3 * rng.standard_normal(count).clip(-2, 2)
        counts = np.full((size, size), STAR_SKY, np.float32)
        for y, x, a, w, k in zip(ys + 0.35 * t, xs + 0.6 * t, amps, widths, twinkle, strict=True):
            counts += a * k * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * w * w))
        clean.append(np.clip(counts / STAR_FULL, 0, 1)[None].astype(np.float32))
        noisy.append(np.clip(add_poisson_noise(counts[None], seed=200 + t) / STAR_FULL, 0, 1))
    return clean, noisy


GAUSSIAN = {"rotate": rotate, "zoom": zoom, "object": moving_object, "handheld": handheld, "pan": pan,
            "panturn": pan_turn}
SEQUENCES = (*GAUSSIAN, "stars")


@dataclass
class Sequence:
    name: str
    clean: list[np.ndarray]
    noisy: list[np.ndarray]
    per_frame: list[np.ndarray] = field(default_factory=list)
    warm: list[np.ndarray] = field(default_factory=list)
    fit_seconds: float = 0.0
    warm_seconds: float = 0.0
    cold_runs: list[dict] = field(default_factory=list)  # per frame: iterations, stop, curve
    warm_runs: list[dict] = field(default_factory=list)  # per warm-started frame

    @property
    def channels(self) -> int:
        return self.clean[0].shape[0]


def make_sequence(name: str, frames: int, size: int) -> Sequence:
    if name == "stars":
        return Sequence(name, *stars(frames, size))
    clean = GAUSSIAN[name](frames, size)
    return Sequence(name, clean, [add_gaussian_noise(c, SIGMA, seed=100 + t) for t, c in enumerate(clean)])


# ---- fits -------------------------------------------------------------------------------------------


class PsnrCurve(StatelessObserver):
    """An observer: every CURVE_EVERY iterations, each member's PSNR (EMA output) against its clean frame."""

    def __init__(self, clean: list[np.ndarray], device: torch.device) -> None:
        self.clean = torch.from_numpy(np.stack(clean)).to(device)
        self.curve: list[tuple[int, list[float]]] = []

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        if iteration % CURVE_EVERY == 0:
            mse = ((smoothed.clamp(0, 1) - self.clean) ** 2).flatten(1).mean(1)
            self.curve.append((iteration, (-10 * torch.log10(mse)).tolist()))

    def member(self, k: int) -> list[tuple[int, float]]:
        return [(i, round(v[k], 3)) for i, v in self.curve]


PRESET = "fast"  # the per-frame fits' recipe (--preset)


def fit(noisy: list[np.ndarray], clean: list[np.ndarray], cap: int, device: torch.device,
        states: list[dict] | None = None) -> tuple[Fitter, list[dict]]:
    """Fit the frames as one batch (one member each) with the automatic stop (`--stop auto`, as
    dipbatch restore), from `states` if given."""
    preset = get_preset("denoise", PRESET, iterations=cap)
    problems = [Problem(torch.from_numpy(n)) for n in noisy]
    stopper = make_stop_rule(StopOptions(), problems, cap, device, seed=SEED).stopper
    curve = PsnrCurve(clean, device)
    fitter = Fitter(problems, preset, [SEED] * len(noisy), device, stopper, cap, observers=[curve])
    if states is not None:
        for k, state in enumerate(states):
            load_member(fitter.net, k, len(states), state)
    results = fitter.run()
    runs = [{"iterations": r.iterations, "stop": r.stop_iteration,
             "psnr": round(psnr(c, r.estimate), 3), "curve": curve.member(k)}
            for k, (r, c) in enumerate(zip(results, clean, strict=True))]
    for k, r in enumerate(results):
        runs[k]["estimate"] = r.estimate
    return fitter, runs


def fit_cold(seq: Sequence, cap: int, device: torch.device) -> None:
    """The per-frame baseline: every frame fitted alone (one batch), with its PSNR curve."""
    started = time.perf_counter()
    _, runs = fit(seq.noisy, seq.clean, cap, device)
    seq.fit_seconds = time.perf_counter() - started
    seq.per_frame = [r.pop("estimate") for r in runs]
    seq.cold_runs = runs


def fit_warm(group: list[Sequence], cap: int, device: torch.device, limit: int) -> None:
    """Warm chains for sequences of one channel count, the sequences side by side in one batch.

    Frame t < `limit` starts from frame t−1's final weights unless it is first in its chunk of
    WARM_CHUNK; a chain's first frame is fitted from scratch (as its cold fit, the same seed and z).
    Each step fits frame t of every sequence of the group together.
    """
    frames = min(len(group[0].noisy), limit)
    previous: list[dict] | None = None
    for s in group:
        s.warm = []
    for t in range(frames):
        start = t % WARM_CHUNK == 0
        started = time.perf_counter()
        fitter, runs = fit([s.noisy[t] for s in group], [s.clean[t] for s in group], cap, device,
                           None if start else previous)
        seconds = time.perf_counter() - started
        previous = [member_state(fitter.net, k, len(group)) for k in range(len(group))]
        for s, run in zip(group, runs, strict=True):
            s.warm.append(run.pop("estimate"))
            s.warm_seconds += seconds / len(group)
            if not start:
                s.warm_runs.append({**run, "frame": t, "cold": s.cold_runs[t]["psnr"],
                                    "cold_iterations": s.cold_runs[t]["iterations"]})


def reached(curve: list[tuple[int, float]], target: float) -> int | None:
    """The first logged iteration whose PSNR reaches `target`; None if none does."""
    return next((i for i, v in curve if v >= target), None)


def warm_summary(seq: Sequence) -> dict:
    """How many iterations the warm frames ran and needed, against their cold fits."""
    runs = seq.warm_runs
    if not runs:
        return {}
    needs = [reached(r["curve"], r["cold"]) for r in runs]
    cold_its = float(np.mean([r["cold_iterations"] for r in runs]))
    found = [n for n in needs if n is not None]
    return {
        "frames": len(runs),
        "cold_iterations": cold_its,
        "warm_iterations": float(np.mean([r["iterations"] for r in runs])),
        "warm_psnr_gain": float(np.mean([r["psnr"] - r["cold"] for r in runs])),
        "reached": len(found),
        "needed_median": float(np.median(found)) if found else math.nan,
        "needed_fraction": (float(np.median(found)) / cold_its) if found else math.nan,
        "at_half": float(np.mean([_at(r["curve"], r["cold_iterations"] / 2) - r["cold"] for r in runs])),
    }


def _at(curve: list[tuple[int, float]], iteration: float) -> float:
    """The logged PSNR at the last logged iteration not after `iteration`."""
    before = [v for i, v in curve if i <= iteration]
    return before[-1] if before else math.nan


# ---- temporal methods ----------------------------------------------------------------------------


def methods(device: torch.device) -> dict[str, Callable[[Sequence], list[np.ndarray]]]:
    """Every candidate pass, by label (no commas: --methods splits on them): each maps a sequence (its
    input, its per-frame results) to frames."""

    def dvp(**kw) -> Callable[[Sequence], list[np.ndarray]]:
        return lambda s: deep_video_prior(s.noisy, s.per_frame, DVPOptions(**kw), device)

    def flow(radius: int, tolerance: float = 0.1) -> Callable[[Sequence], list[np.ndarray]]:
        return lambda s: flow_filter(s.per_frame, radius, tolerance)

    def guarded(method: Callable[[Sequence], list[np.ndarray]], tolerance: float
                ) -> Callable[[Sequence], list[np.ndarray]]:
        def run(s: Sequence) -> list[np.ndarray]:
            consistent = method(s)
            check = guarded_strength(s.noisy, s.per_frame, consistent, tolerance)
            return consistent if check is None else blend(s.per_frame, consistent, check.strength)
        return run

    return {
        "none": lambda s: [f.copy() for f in s.per_frame],
        "flow r2 guarded 0": guarded(flow(2), 0.0),
        "flow r2 guarded 0.05": guarded(flow(2), 0.05),
        "flow r2 guarded 0.1": guarded(flow(2), 0.1),
        "flow r2 guarded 0.2": guarded(flow(2), 0.2),
        "flow r1": flow(1),
        "flow r2": flow(2),
        "flow r3": flow(3),
        "flow r2 tol 0.05": flow(2, 0.05),
        "flow r2 tol 0.2": flow(2, 0.2),
        "dvp": dvp(),  # the defaults: lr 3e-3, about 120 steps
        "dvp lr 1e-3 25 epochs": dvp(lr=1e-3, epochs=25),
        "dvp lr 3e-3 15 epochs": dvp(epochs=15),
        "dvp lr 3e-3 3 epochs": dvp(epochs=3),
        "dvp irt": dvp(irt=True),
        "dvp + flow r2": lambda s: flow_filter(dvp()(s), 2),
    }


def row(label: str, seq: Sequence, frames: list[np.ndarray], flows, static, seconds: float,
        base: dict | None) -> dict:
    m = measure(frames, flows, static)
    values = {"method": label, "psnr": float(np.mean([psnr(c, f) for c, f in zip(seq.clean, frames,
                                                                                    strict=True)])),
              "warp": m.mean_warp_error, "flicker": m.flicker_index, "seconds": round(seconds, 2)}
    base = base or values
    values["d_psnr"] = values["psnr"] - base["psnr"]
    values["warp_ratio"] = values["warp"] / base["warp"]
    values["flicker_ratio"] = values["flicker"] / base["flicker"]
    return values


def evaluate(seq: Sequence, device: torch.device, only: list[str] | None) -> list[dict]:
    flows, static = sequence_flows(seq.noisy), static_mask(seq.noisy)
    base = row("per-frame", seq, seq.per_frame, flows, static, seq.fit_seconds, None)
    rows = [row("input (noisy)", seq, seq.noisy, flows, static, 0.0, base), base]
    if len(seq.warm) == len(seq.noisy):
        rows.append(row(f"warm start (chains of {WARM_CHUNK})", seq, seq.warm, flows, static,
                        seq.warm_seconds, base))
    for label, method in methods(device).items():
        if only and label not in only:
            continue
        started = time.perf_counter()
        frames = method(seq)
        rows.append(row(label, seq, frames, flows, static, time.perf_counter() - started, base))
    return rows


# ---- output -----------------------------------------------------------------------------------------


def meets_goal(r: dict) -> bool:
    """The default's goal: warping error ≤ 0.5×, flicker not higher, PSNR ≥ per-frame − 0.1 dB."""
    return r["warp_ratio"] <= 0.5 and r["flicker_ratio"] <= 1.0 and r["d_psnr"] >= -0.1


def table(results: dict[str, list[dict]]) -> str:
    """One row per method: its figures on every sequence (PSNR gain / warp ratio / flicker ratio)."""
    names = list(results)
    labels = [r["method"] for r in results[names[0]]]
    head = " | ".join(["| method", *names, "worst Δ PSNR", "worst warp ×", "worst flicker ×", "mean s",
                       "goal |"])
    lines = [head, "| --- " * (len(names) + 6) + "|"]
    for label in labels:
        rows = [next(r for r in results[n] if r["method"] == label) for n in names]
        cells = [f"{r['d_psnr']:+.2f} / {r['warp_ratio']:.2f} / {r['flicker_ratio']:.2f}" for r in rows]
        ok = all(meets_goal(r) for r in rows)
        worst = [f"{min(r['d_psnr'] for r in rows):+.2f}", f"{max(r['warp_ratio'] for r in rows):.2f}",
                 f"{max(r['flicker_ratio'] for r in rows):.2f}",
                 f"{np.mean([r['seconds'] for r in rows]):.1f}"]
        lines.append(" | ".join([f"| {label}", *cells, *worst, "yes |" if ok else "no |"]))
    baseline = [next(r for r in results[n] if r["method"] == "per-frame") for n in names]
    psnrs = [f"{r['psnr']:.2f}" for r in baseline]
    lines.append(" | ".join(["| per-frame PSNR dB", *psnrs, "", "", "", "", " |"]))
    return "\n".join(lines)


def warm_table(summaries: dict[str, dict]) -> str:
    lines = ["| sequence | warm frames | cold it. (auto stop) | warm it. (auto stop) | warm − cold PSNR"
             " at stop | reached cold PSNR | median it. to reach | ÷ cold it. |"
             " warm − cold PSNR at ½ cold it. |",
             "| --- " * 9 + "|"]
    for name, s in summaries.items():
        if s:
            cells = [name, s["frames"], f"{s['cold_iterations']:.0f}", f"{s['warm_iterations']:.0f}",
                     f"{s['warm_psnr_gain']:+.2f}", f"{s['reached']}/{s['frames']}",
                     f"{s['needed_median']:.0f}",
                     f"{s['needed_fraction']:.2f}", f"{s['at_half']:+.2f}"]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def _u16(frames: list[np.ndarray]) -> np.ndarray:
    return np.round(np.clip(np.stack(frames), 0, 1) * 65535).astype(np.uint16)


def save_cache(path: Path, seqs: list[Sequence]) -> None:
    arrays = {f"{s.name}/per_frame": _u16(s.per_frame) for s in seqs}
    arrays |= {f"{s.name}/warm": _u16(s.warm) for s in seqs if s.warm}
    meta = {s.name: {"fit_seconds": s.fit_seconds, "warm_seconds": s.warm_seconds,
                     "cold_runs": s.cold_runs, "warm_runs": s.warm_runs} for s in seqs}
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def load_cache(path: Path, seqs: list[Sequence]) -> None:
    cache = np.load(path)
    meta = json.loads(str(cache["meta"]))
    for s in seqs:
        s.per_frame = list(cache[f"{s.name}/per_frame"].astype(np.float32) / 65535)
        if f"{s.name}/warm" in cache:
            s.warm = list(cache[f"{s.name}/warm"].astype(np.float32) / 65535)
        for key, value in meta[s.name].items():
            setattr(s, key, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cap", type=int, default=1200, help="iteration cap of every fit")
    parser.add_argument("--preset", default="fast", help="the per-frame fits' preset (tiny: the small case)")
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--methods", default="", help="comma-separated labels (default: all)")
    parser.add_argument("--warm-frames", type=int, default=10**6,
                        help="warm chains over the first N frames (0: none)")
    parser.add_argument("--fits-only", action="store_true", help="fit and cache; compare no methods")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-in", type=Path, help="per-frame (and warm) results of an earlier run")
    parser.add_argument("--cache-out", type=Path)
    parser.add_argument("--out", type=Path, help="folder for results.json and table.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global PRESET
    PRESET = args.preset
    device = torch.device(args.device)
    seqs = [make_sequence(n, args.frames, args.size) for n in args.sequences.split(",")]
    only = [m.strip() for m in args.methods.split(",") if m.strip()] or None
    unknown = sorted(set(only or ()) - set(methods(device)))
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(methods(device))}")
    if args.cache_in:
        load_cache(args.cache_in, seqs)
    else:
        for s in seqs:
            fit_cold(s, args.cap, device)
            print(f"{s.name}: per-frame fits {s.fit_seconds:.1f} s, iterations "
                  f"{np.mean([r['iterations'] for r in s.cold_runs]):.0f}", flush=True)
    if args.warm_frames and not any(s.warm for s in seqs):
        for channels in sorted({s.channels for s in seqs}):
            fit_warm([s for s in seqs if s.channels == channels], args.cap, device, args.warm_frames)
            print(f"warm chains of {channels}-channel sequences done", flush=True)
    if args.cache_out:
        save_cache(args.cache_out, seqs)
    if not args.fits_only:
        results = {s.name: evaluate(s, device, only) for s in seqs}
        report(args, device, results, seqs)

def report(args: argparse.Namespace, device: torch.device, results: dict[str, list[dict]],
           seqs: list[Sequence]) -> None:
    """Print the tables; with --out, write table.md and results.json."""
    warm = {s.name: warm_summary(s) for s in seqs}
    text = (f"{args.frames} frames of {args.size}×{args.size} per sequence; cells: Δ PSNR dB vs per-frame / "
            f"warping error × per-frame / flicker × per-frame; default method: {DEFAULT_METHOD}\n\n"
            + table(results) + "\n\nWarm start (chains of " + str(WARM_CHUNK) + "):\n\n" + warm_table(warm))
    print(text, flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
        machine = {**machine_record(device), "args": {k: str(v) for k, v in vars(args).items()}}
        curves = {s.name: {"cold": s.cold_runs, "warm": s.warm_runs} for s in seqs}
        (args.out / "results.json").write_text(json.dumps({"machine": machine, "results": results,
                                                           "warm": warm, "runs": curves}), encoding="utf-8")

if __name__ == "__main__":
    main()
