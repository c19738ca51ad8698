"""DIP-SURE alone (Jo, Chun and Choi, ICCV 2021), for issue 26: every member a DIP-SURE member
(fit/dipsure.py: the observation as the generator's input, Stein's unbiased risk estimate as the
loss) for a fixed number of iterations, recorded beside the classical benchmark's members.

    python benchmarks/dip_sure.py --iterations 1000 --noises gauss15 --seeds 0 1 --shard 0/2 &
    python benchmarks/dip_sure.py --iterations 1000 --noises gauss15 --seeds 0 1 --shard 1/2
    python benchmarks/classical.py report --recipe fast-sureloop1000   # the default's: --recipe fast

dipbatch itself makes only every second member of an ensemble a DIP-SURE member, and only at low
noise (`classical.py record --ensemble 2` records that); this measures the member alone, at any σ.
The figures of RESULTS.md's "DIP-SURE: the noisy image as the input and a SURE loss" (recipes
fast-sure1000, fast-sure500, fast-sure250) came from the probe this file held before the loss
joined the fit loop (git show 055c032:benchmarks/dip_sure.py): its generator's input had the
image's channels only, where the fit loop's pads them with zero channels to the net's input depth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from classical import probe_parser, record_probe

import dipbatch.run.restore as restore
from dipbatch.fit.problem import Problem
from dipbatch.physics.metrics import noise_sigma


def with_sure() -> None:
    """Make every member that `restore_array` fits a DIP-SURE member (this benchmark's process only)."""
    build = restore.make_problem

    def make_problem(*args: Any, **kwargs: Any) -> Problem:
        problem = build(*args, **kwargs)
        return replace(problem, sure_sigma=noise_sigma(problem.observation.numpy()))

    restore.make_problem = make_problem


def main() -> None:
    parser = probe_parser(__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, required=True, help="a fixed number of steps")
    args = parser.parse_args()
    with_sure()
    record_probe(args, f"fast-sureloop{args.iterations}", stop="fixed", iterations=args.iterations,
                 dip_sure="off")


if __name__ == "__main__":
    main()
