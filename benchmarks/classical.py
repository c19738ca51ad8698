"""dipbatch beside the classical denoisers (CBM3D, NL-means, wavelets), and fused with them.

    python benchmarks/classical.py record --shard 0/2 &   # fits the DIP members not yet cached
    python benchmarks/classical.py record --shard 1/2      # (two processes, one thread each)
    python benchmarks/classical.py report                  # baselines, fusion levers, tables

Cases: six of the stopping benchmark's scenes (scikit-image photos and the synthetic star field;
two for tuning, four held out: a 2-core CPU affords 48 fits of about two minutes) × Gaussian σ
15/25/50 (/255) and Poisson noise of 30 photons at the peak, as 128×128 crops (`--size 256`: two
held-out scenes, `--noises` to choose; the weights are the 128 px ones). `record` runs dipbatch's
default CPU recipe (`fast`, automatic stop) one seed at a time with its fusion off and caches each
member's estimate with its CPU seconds; `report` then runs the classical denoisers (CBM3D needs the
`bench` extra: `pip install -e ".[bench]"`), replays every lever on the cached members, tunes the
fusion's weights on TUNE_SCENES and reports on the held-out scenes. `record --seeds 2 3` and
`report --members 4` measure the default recipe with four members instead of two; `report --recipe`
replays the same levers on the members of a lever's probe (`dip_tv.py`, `dip_sure.py`).
`record --ensemble 2 --seeds 0` caches the default CPU recipe's whole ensemble as one estimate
(recipe fast-k2: with a DIP-SURE member at low noise), and `report --members 1 --recipe fast-k2`
reports it; "the default's fusion" row is dipbatch's fusion at its own share for each case, then
its declipping (`dipbatch.fit.declip`; "bm3d declipped" is CBM3D with the same last step).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from trajectories import NOISES, Case, clean_image, noisy_image

from dipbatch.run.restore import restore_array

HERE = Path(__file__).parent
CACHE = HERE / "classical_cache"
TUNE_SCENES = ("astronaut", "camera")  # the fusion's weights are chosen on these
HELD_OUT = ("coffee", "cat", "hubble_deep_field", "stars")  # and reported on these
SUBSET_SCENES = ("coffee", "stars")  # at 256 px, held out (the weights come from 128 px)
SEEDS = (0, 1)  # the default CPU recipe's two members
GAUSSIAN = tuple(n for n in NOISES if n.startswith("gauss"))


def cases(size: int, recipe: str = "fast") -> list[Case]:
    """The cases at `size`; `recipe` names the members' cache files (the probes record others)."""
    scenes = TUNE_SCENES + HELD_OUT if size == 128 else SUBSET_SCENES
    return [Case(s, n, size, recipe) for s in scenes for n in NOISES]


def member_path(case: Case, seed: int) -> Path:
    return CACHE / f"{case.scene}-{case.noise}-{case.size}-{case.preset}-s{seed}.npz"


def record_members(todo: list[tuple[Case, int]], shard: str, ensemble: int = 1, **options: Any) -> None:
    """Fit this process's share (`shard`, "i/n") of the members not yet cached, one thread each, as
    the default CPU recipe's single member (`ensemble` 2: the recipe's whole ensemble) with its
    fusion and declipping off (`options`: more of `restore_array`'s arguments), and cache each
    estimate with its CPU seconds and stop."""
    torch.set_num_threads(1)
    index, count = (int(v) for v in shard.split("/"))
    CACHE.mkdir(exist_ok=True)
    for case, seed in [(c, s) for c, s in todo if not member_path(c, s).exists()][index::count]:
        noisy = noisy_image(case, clean_image(case.scene, case.size))
        noise = {"noise": "gaussian"} if case.gaussian else \
            {"noise": "poisson", "gain": float(case.noise[7:])}
        started = time.process_time()
        result = restore_array(noisy, preset="fast", ensemble=ensemble, seed=seed, device="cpu", fusion="off",
                               declip="off", **noise, **options)  # both are replayed by `report`
        seconds = time.process_time() - started
        stop = result.stop_iteration or result.iterations
        np.savez_compressed(member_path(case, seed), estimate=result.estimate.astype(np.float32),
                            cpu_s=np.float64(seconds), stop=np.int64(stop))
        print(f"{case.scene:22s} {case.noise:10s} s{seed} {seconds:6.1f} CPU s stop {stop}", flush=True)


def probe_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a lever's probe that records members beside the default's (dip_tv, dip_sure):
    Gaussian noise only."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenes", nargs="+", default=[*TUNE_SCENES, *HELD_OUT])
    parser.add_argument("--noises", nargs="+", default=list(GAUSSIAN), choices=GAUSSIAN)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shard", default="0/1", help="i/n: this process's share of the cases")
    return parser


def record_probe(args: argparse.Namespace, recipe: str, **options: Any) -> None:
    """Record a probe's members (`probe_parser`'s arguments) under the name `recipe`."""
    record_members([(Case(s, n, 128, recipe), seed) for s in args.scenes for n in args.noises
                    for seed in args.seeds], args.shard, **options)


def record(args: argparse.Namespace) -> None:
    recipe = "fast" if args.ensemble == 1 else f"fast-k{args.ensemble}"
    record_members([(c, s) for c in cases(args.size, recipe) for s in args.seeds if c.noise in args.noises],
                   args.shard, ensemble=args.ensemble)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="fit the DIP members not yet cached")
    rec.add_argument("--shard", default="0/1", help="i/n: this process's share of the cases")
    rec.add_argument("--size", type=int, default=128, choices=(128, 256))
    rec.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    rec.add_argument("--noises", nargs="+", default=list(NOISES), choices=NOISES)
    rec.add_argument("--ensemble", type=int, default=1,
                     help="members per cached estimate: 2 records the default CPU recipe's whole "
                          "ensemble (DIP-SURE members included where it has them) as recipe fast-k2")
    rep = sub.add_parser("report", help="baselines, levers and tables from the cached members")
    rep.add_argument("--size", type=int, default=128, choices=(128, 256))
    rep.add_argument("--members", type=int, default=len(SEEDS),
                     help="the fit is the mean of this many members (seeds 0, 1, …; record them first)")
    rep.add_argument("--recipe", default="fast",
                     help="whose members: fast (the default recipe) or a probe's (dip_tv.py, dip_sure.py)")
    args = parser.parse_args()
    if args.command == "record":
        record(args)
    else:
        from classical_report import report
        report(args.size, args.members, args.recipe)


if __name__ == "__main__":
    main()
