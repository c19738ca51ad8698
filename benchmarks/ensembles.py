"""Seed ensembles: the PSNR gain of the mean of K members over one seed, and its cost.

Per case (a scene and a noise of the stopping benchmark) and K, fit K members with the auto stop
as one batch, exactly as `dipbatch restore --ensemble K` does, and report the PSNR of the mean,
of member 0 (the single-seed fit) and of the average member, the wall time and the peak memory,
each against the K=1 run of the same case measured in the same session. Every fit runs in a
fresh process, so that its peak memory (RSS on the CPU, allocated memory on CUDA) is its own.

    python benchmarks/ensembles.py --size 64 --preset tiny --scenes astronaut camera --ks 2 4 8
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import resource
import statistics
import time

import numpy as np
import torch
from trajectories import NOISES, SCENES, Case, clean_image, noisy_image, problem_for

from dipbatch.device import synchronize
from dipbatch.ensemble import combine, member_seeds
from dipbatch.fit import Fitter
from dipbatch.metrics import psnr
from dipbatch.presets import get_preset
from dipbatch.stopping import StopOptions, make_stop_rule


def fit(case: Case, k: int, device: str, threads: int) -> dict[str, float]:
    """One ensemble fit of `case` with K members (in its own process): PSNRs, time, peak memory."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    clean = clean_image(case.scene, case.size)
    problem = problem_for(case, noisy_image(case, clean))
    preset = get_preset("denoise", case.preset, iterations=case.cap)
    seeds = member_seeds(case.seed, k)
    problems = [problem] * k
    started = time.perf_counter()
    rule = make_stop_rule(StopOptions(), problems, case.cap, dev, seed=case.seed)
    members = Fitter(problems, preset, seeds, dev, rule.stopper).run()
    synchronize(dev)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" \
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    mean = combine(members, seeds)
    return {"mean": psnr(clean, mean.estimate), "member0": psnr(clean, members[0].estimate),
            "average_member": statistics.fmean(psnr(clean, m.estimate) for m in members),
            "stops": statistics.fmean(m.stop_iteration for m in members),
            "capped": sum(m.stop_reason.startswith("cap") for m in members),
            "spread": mean.record.get("ensemble", {}).get("spread", 0.0) * 255,
            "seconds": seconds, "peak_mb": peak / 2 ** 20}


def run_isolated(case: Case, k: int, device: str, threads: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fit, case, k, device, threads).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--preset", default="fast", choices=("paper", "fast", "tiny"))
    parser.add_argument("--cap", type=int, help="iteration cap (default: the preset's)")
    parser.add_argument("--scenes", nargs="+", default=["astronaut", "camera", "coffee", "stars"],
                        choices=SCENES)
    parser.add_argument("--noises", nargs="+", default=["gauss25"], choices=NOISES)
    parser.add_argument("--ks", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    cap = args.cap or get_preset("denoise", args.preset).fit.iterations
    print(f"{args.size} px, preset {args.preset}, cap {cap}, device {args.device}, "
          f"{args.threads} threads; PSNR in dB, time and memory as a ratio of K=1")
    print(f"{'case':22} {'K':>2} {'mean':>6} {'memb0':>6} {'avgmem':>6} {'gain':>5} {'stop':>5} "
          f"{'capped':>6} {'spread':>6} {'s':>7} {'×t':>5} {'MB':>7} {'×mem':>5}")
    gains: dict[tuple[str, int], list[float]] = {}
    for noise in args.noises:
        for scene in args.scenes:
            case = Case(scene, noise, args.size, args.preset, cap)
            base = None
            for k in [1, *args.ks]:
                r = run_isolated(case, k, args.device, args.threads)
                base = base or r
                gain = r["mean"] - base["member0"]
                gains.setdefault((noise, k), []).append(gain)
                print(f"{scene + '/' + noise:22} {k:>2} {r['mean']:6.2f} {r['member0']:6.2f} "
                      f"{r['average_member']:6.2f} {gain:+5.2f} {r['stops']:5.0f} {r['capped']:>6} "
                      f"{r['spread']:6.2f} {r['seconds']:7.1f} {r['seconds'] / base['seconds']:5.2f} "
                      f"{r['peak_mb']:7.0f} {r['peak_mb'] / base['peak_mb']:5.2f}", flush=True)
    print("\nmean gain of the K-member mean over one seed (the K=1 run), dB:")
    for (noise, k), values in sorted(gains.items()):
        if k > 1:
            print(f"  {noise:10} K={k}: {np.mean(values):+.2f} (min {np.min(values):+.2f})")


if __name__ == "__main__":
    main()
