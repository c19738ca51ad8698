"""The stopping benchmark: record each case's whole trajectory once, then replay stop rules on it.

    python benchmarks/early_stopping.py record --set main --device cuda   # fits; cached
    python benchmarks/early_stopping.py report                            # replays; seconds

Cases: every scene (scikit-image photos and the synthetic star field) × Gaussian σ 15/25/50 (/255)
and Poisson noise of 30 photons at the peak, as 128×128 crops fitted by the `fast` net; subsets at
256×256 and with the `paper` net. Rules are tuned on TUNE_SCENES and reported on the others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trajectories import NOISES, SCENES, Case, load_cache, record_cases

HERE = Path(__file__).parent
CACHE = HERE / "early_stopping_cache.npz"
TUNE_SCENES = ("astronaut", "chelsea", "camera", "rocket")
SUBSET_SCENES = ("astronaut", "camera", "coffee", "stars")  # two tuned, two held out
CASE_SETS = {
    "main": [Case(s, n, 128, "fast", 2000) for s in SCENES for n in NOISES],
    "size256": [Case(s, n, 256, "fast", 2000) for s in SUBSET_SCENES for n in NOISES],
    "paper": [Case(s, n, 128, "paper", 2000) for s in SUBSET_SCENES for n in NOISES],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="fit the cases not yet cached")
    rec.add_argument("--set", choices=sorted(CASE_SETS), action="append", required=True)
    rec.add_argument("--device", default="cpu")
    rec.add_argument("--cache", type=Path, default=CACHE)
    rec.add_argument("--budget", type=float, help="start no new batch after this many seconds")
    rep = sub.add_parser("report", help="replay the rules on the cached trajectories")
    rep.add_argument("--cache", type=Path, action="append")
    rep.add_argument("--device", default="cuda", help="the device kind the records were made on")
    args = parser.parse_args()
    if args.command == "record":
        cases = [c for name in args.set for c in CASE_SETS[name]]
        record_cases(cases, args.cache, args.device, budget_s=args.budget)
    else:
        from replay import report
        report(load_cache(args.cache or [CACHE]), CASE_SETS, TUNE_SCENES, args.device)


if __name__ == "__main__":
    main()
