"""Seed ensembles: the PSNR gain of the mean of K members over one seed, and its cost.

Per case (a scene and a noise of the stopping benchmark) and K, fit K members with the auto stop
as one batch, exactly as `dipbatch restore --ensemble K` does, and report the PSNR of the mean,
of member 0 (the single-seed fit) and of the average member, the wall time and the peak memory,
each against the K=1 run of the same case measured in the same session. Every fit runs in a
fresh process, so that its peak memory (RSS on the CPU, allocated memory on CUDA) is its own.

    python benchmarks/ensembles.py --size 64 --preset tiny --scenes astronaut camera --ks 2 4 8

`--batched FILE` measures the gains only (no cost), for many cases at once: every case's K_max
members are fitted together in one batch per channel count (as `restore --batch` fits several
images), and K = 1, 2, 4, … are the prefixes of those members (member_seeds(seed, K) is a prefix
of member_seeds(seed, K_max)). Per case and K it writes the PSNR of the mean and the iterations the
K-member fit runs (its last member's stop) to FILE as JSON.

    python benchmarks/ensembles.py --device cuda --batched gains.json --noises gauss25 --ks 2 4 8
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from trajectories import NOISES, SCENES, Case, clean_image, noisy_image, problem_for

from dipbatch.fit.ensemble import combine, member_seeds
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.stopping import StopOptions, make_stop_rule
from dipbatch.physics.metrics import psnr
from dipbatch.run.device import synchronize


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
            "capped": sum(m.stop_kind == "cap" for m in members),
            "spread": mean.record.get("ensemble", {}).get("spread", 0.0) * 255,
            "seconds": seconds, "peak_mb": peak / 2 ** 20}


def batched_gains(cases: list[Case], ks: list[int], device: str, out: Path) -> list[dict]:
    """The cases' max(ks) members fitted in one batch per channel count; K results from prefixes."""
    dev, kmax = torch.device(device), max(ks)
    groups: dict[int, list[Case]] = {}
    for case in cases:
        groups.setdefault(clean_image(case.scene, 8).shape[0], []).append(case)
    rows: list[dict] = []
    for group in groups.values():
        cleans = [clean_image(c.scene, c.size) for c in group]
        problems = [problem_for(c, noisy_image(c, x)) for c, x in zip(group, cleans, strict=True)
                    for _ in range(kmax)]
        seeds = [s for c in group for s in member_seeds(c.seed, kmax)]
        preset = get_preset("denoise", group[0].preset, iterations=group[0].cap)
        started = time.perf_counter()
        rule = make_stop_rule(StopOptions(), problems, group[0].cap, dev, seed=group[0].seed)
        members = Fitter(problems, preset, seeds, dev, rule.stopper).run()
        seconds = time.perf_counter() - started
        for i, (case, clean) in enumerate(zip(group, cleans, strict=True)):
            own = members[i * kmax:(i + 1) * kmax]
            for k in sorted({1, *ks}):
                mean = combine(own[:k], member_seeds(case.seed, k))
                rows.append({"scene": case.scene, "noise": case.noise, "size": case.size,
                             "preset": case.preset, "cap": case.cap, "k": k,
                             "psnr": psnr(clean, mean.estimate), "member0": psnr(clean, own[0].estimate),
                             "stops": [m.stop_iteration for m in own[:k]],
                             "reasons": [m.stop_reason for m in own[:k]],
                             "batch_seconds": seconds, "batch_members": len(problems), "device": device})
        out.write_text(json.dumps(rows, indent=1))
        print(f"{len(group)} cases × {kmax} members in {seconds:.0f} s", flush=True)
    return rows


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
    parser.add_argument("--batched", type=Path, metavar="FILE",
                        help="gains only, all cases in batches; write them to FILE (JSON)")
    args = parser.parse_args()
    cap = args.cap or get_preset("denoise", args.preset).fit.iterations
    if args.batched:
        cases = [Case(s, n, args.size, args.preset, cap) for n in args.noises for s in args.scenes]
        rows = batched_gains(cases, args.ks, args.device, args.batched)
        for n in args.noises:
            base = {r["scene"]: r["psnr"] for r in rows if r["noise"] == n and r["k"] == 1}
            for k in args.ks:
                gains = [r["psnr"] - base[r["scene"]] for r in rows if r["noise"] == n and r["k"] == k]
                print(f"{n:10} K={k}: mean gain {np.mean(gains):+.2f} dB (min {np.min(gains):+.2f}, "
                      f"{len(gains)} scenes)")
        return
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
