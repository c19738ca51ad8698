"""Early stopping against the oracle: for each crop and noise, one long fixed fit records the PSNR
against the ground truth at every step (only this benchmark sees the ground truth), while the `auto`
(ES-WMV) and `sure` rules watch the same trajectory and say where they would stop.

Reports the oracle peak, the PSNR at the auto and sure stops, the iterations they used, and the PSNR
of the fixed run at its end; then the mean and worst gap to the oracle.

    python benchmarks/early_stopping.py --size 64 --preset fast --cap 3000
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from photos import PHOTOS, photo_crop, star_crop

from dipbatch.fit import Fitter, Problem
from dipbatch.metrics import noise_sigma, psnr
from dipbatch.presets import get_preset
from dipbatch.stopping import MonteCarloSure, StopOptions, WindowedVariance, make_stop_rule
from dipbatch.synthetic import add_gaussian_noise, add_poisson_noise

CPU = torch.device("cpu")


class Watch:
    """Feeds both rules and the oracle PSNR from the fit's own outputs (member 0: y; member 1: y + εb)."""

    def __init__(self, clean: np.ndarray, wmv: WindowedVariance, sure: MonteCarloSure) -> None:
        self.clean, self.wmv, self.sure, self.psnr = clean, wmv, sure, []

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        self.wmv.observe(iteration, output[:1], smoothed[:1])
        self.sure.observe(iteration, output, smoothed)
        self.psnr.append(psnr(self.clean, smoothed[0].numpy()))
        if iteration % 50 == 0:
            self.wmv.poll(iteration)
            self.sure.poll(iteration)

    def record(self, k: int, stop_iteration: int) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def noisy_versions(clean: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    versions = {f"gauss{s}": add_gaussian_noise(clean, s / 255, seed=seed) for s in (15, 25, 50)}
    peak = 30.0  # photons at the brightest pixel: photon-limited
    versions["poisson"] = np.clip(add_poisson_noise(clean * peak, seed=seed) / peak, 0, 1)
    return versions


def chosen(rule, curve: list[float], cap: int) -> tuple[int, float]:
    """The iteration a rule returns (its snapshot), and the PSNR there."""
    at = rule.stop_iteration[0] if rule.stopped[0] else int(rule.best_iteration[0]) or cap
    return at, curve[at - 1]


def run_case(clean: np.ndarray, noisy: np.ndarray, preset_name: str, cap: int) -> dict:
    preset = get_preset("denoise", preset_name, iterations=cap)
    patience = StopOptions().resolved(cap)[1]
    y = torch.from_numpy(noisy)
    wmv = make_stop_rule(StopOptions(rule="auto"), y[None], cap, CPU).stopper
    sigma = noise_sigma(noisy) or 1e-3
    sure_rule = make_stop_rule(StopOptions(rule="sure"), y[None], cap, CPU, sigmas=[sigma])
    sure = sure_rule.stopper
    watch = Watch(clean, wmv, sure)
    problems = [Problem(y), Problem(sure_rule.twins[0])]
    Fitter(problems, preset, [0, 0], CPU, iterations=cap, observers=[watch]).run()
    curve = watch.psnr
    peak = int(np.argmax(curve)) + 1
    auto_at, auto_psnr = chosen(wmv, curve, cap)
    sure_at, sure_psnr = chosen(sure, curve, cap)
    stopped_at = {"auto": wmv.stop_iteration[0] + patience if wmv.stopped[0] else cap,
                  "sure": sure.stop_iteration[0] + patience if sure.stopped[0] else cap}
    return {"noisy": psnr(clean, noisy), "oracle": curve[peak - 1], "oracle_at": peak,
            "auto": auto_psnr, "auto_at": auto_at, "auto_ran": min(cap, stopped_at["auto"]),
            "sure": sure_psnr, "sure_at": sure_at, "sure_ran": min(cap, stopped_at["sure"]),
            "fixed": curve[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--cap", type=int, default=3000)
    parser.add_argument("--photos", type=int, default=7, help="how many photos (plus the star field)")
    parser.add_argument("--one-noise-per-crop", action="store_true",
                        help="cycle the noises over the crops instead of every noise on every crop")
    args = parser.parse_args()
    crops = {name: photo_crop(name, args.size) for name in PHOTOS[: args.photos]}
    crops["stars"] = star_crop(args.size)
    rows = []
    print("| crop | noise | noisy | oracle (it) | auto (it returned / ran) | sure (it returned / ran) | "
          f"fixed {args.cap} |\n|---|---|---|---|---|---|---|")
    for i, (name, clean) in enumerate(crops.items()):
        versions = list(noisy_versions(clean, seed=i).items())
        if args.one_noise_per_crop:
            versions = [versions[i % len(versions)]]
        for noise, noisy in versions:
            r = run_case(clean, noisy, args.preset, args.cap)
            rows.append(r)
            print(f"| {name} | {noise} | {r['noisy']:.2f} | {r['oracle']:.2f} ({r['oracle_at']}) | "
                  f"{r['auto']:.2f} ({r['auto_at']} / {r['auto_ran']}) | "
                  f"{r['sure']:.2f} ({r['sure_at']} / {r['sure_ran']}) | {r['fixed']:.2f} |", flush=True)
    for rule in ("auto", "sure", "fixed"):
        gaps = [r["oracle"] - r[rule] for r in rows]
        ran = [r.get(f"{rule}_ran", args.cap) for r in rows]
        print(f"{rule}: mean gap {statistics.mean(gaps):.2f} dB, worst {max(gaps):.2f} dB, "
              f"mean iterations run {statistics.mean(ran):.0f} of {args.cap}")


if __name__ == "__main__":
    main()
