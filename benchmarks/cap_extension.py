"""Does extending the cap ever cost quality? Star fields and 16-bit plates, with and without it.

    python benchmarks/cap_extension.py [--presets tiny fast] [--cap 600] [--append]

`--stop auto` extends a fit's cap (by half the cap at a time, up to 4×) while the data-fit is still
far above the noise floor and falling (`dipbatch.fit.signals.extends`). This fits each case twice in
the same run, with the cap fixed (the baseline, the behaviour before the extension) and extendable,
and prints PSNR against the truth in the stored 16-bit units, the iterations run and the data-fit
over the floor at the returned estimate. Cases, all 64², 16-bit, Poisson noise (Gaussian data-fit,
the CLI's default for a TIFF): the issue's star frame (sky 1000 ADU, stars to 40,000), plates with a
dark sky (300 ADU, stars to 20,000), and the stopping benchmark's star field scaled to 16 bits.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from machine import machine_line

from dipbatch.fit.loop import Fitter
from dipbatch.fit.stopping import StopOptions, make_stop_rule
from dipbatch.physics.synthetic import add_poisson_noise, star_field
from dipbatch.tasks import TaskOptions
from dipbatch.tasks.problems import make_problem, task_preset

FULL = 65535.0


@dataclass(frozen=True)
class Case:
    name: str
    background: float
    peak: float
    seed: int


CASES = (
    Case("issue's frame (sky 1000, stars to 40000)", 1000, 40000, 3),
    Case("bright frame (sky 1000, stars to 40000)", 1000, 40000, 11),
    Case("plate (sky 300, stars to 20000)", 300, 20000, 5),
    Case("plate (sky 300, stars to 20000)", 300, 20000, 9),
    Case("stopping benchmark's field ×100 (sky 2000)", 2000, 40000, 7),
)


def fit(observed: np.ndarray, preset: str, extend: bool,
        cap: int | None) -> tuple[np.ndarray, int, float | None]:
    """(estimate in stored units, iterations run, data-fit ratio at the estimate)."""
    options = TaskOptions()
    recipe = task_preset(options, preset, cap)
    problem = make_problem((observed / FULL).astype(np.float32), options)
    rule = make_stop_rule(StopOptions(), [problem], recipe.fit.iterations, torch.device("cpu"))
    limit = rule.limit if extend else recipe.fit.iterations
    result = Fitter([problem], recipe, [0], "cpu", rule.stopper, limit=limit).run()[0]
    return result.estimate[0] * FULL, result.iterations, result.record.get("datafit_ratio")


def psnr(truth: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(FULL ** 2 / np.mean((np.clip(estimate, 0, FULL) - truth) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "fast"])
    parser.add_argument("--cap", type=int, help="the presets' cap instead of their own (a cap too short)")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.manual_seed(0)
    lines = ["| case | preset | PSNR, cap fixed | PSNR, extendable | Δ dB | iterations | data-fit ÷ floor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    deltas = []
    for case in CASES:
        truth = star_field(64, 64, stars=10, background=case.background, peak=case.peak, seed=case.seed)[0]
        observed = np.clip(add_poisson_noise(truth, seed=case.seed + 100), 0, FULL)
        for preset in args.presets:
            fixed, ran_fixed, ratio_fixed = fit(observed, preset, False, args.cap)
            grown, ran_grown, ratio_grown = fit(observed, preset, True, args.cap)
            delta = psnr(truth, grown) - psnr(truth, fixed)
            deltas.append(delta)
            shown = " → ".join(f"{r:.3g}" if r is not None else "-" for r in (ratio_fixed, ratio_grown))
            lines.append(f"| {case.name}, seed {case.seed} | {preset} | {psnr(truth, fixed):.2f} "
                         f"| {psnr(truth, grown):.2f} | {delta:+.2f} | {ran_fixed} → {ran_grown} | {shown} |")
            print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"Worst Δ {min(deltas):+.2f} dB, mean {np.mean(deltas):+.2f} dB over {len(deltas)} fits; "
                 f"{machine_line()}.")
    text = "\n".join(lines)
    print(text)
    if args.append:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as fh:
            fh.write("\n## Extending the cap far above the noise floor (benchmarks/cap_extension.py, "
                     "issue 24)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
