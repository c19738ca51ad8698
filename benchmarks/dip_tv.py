"""DIP-TV (issue 26's "a classical prior inside the fit"): the default recipe's members with a total
variation penalty added to the fit's loss, recorded beside the classical benchmark's members.

    python benchmarks/dip_tv.py --weight 3 --scenes astronaut camera --seeds 0 --shard 0/2 &
    python benchmarks/dip_tv.py --weight 3 --scenes astronaut camera --seeds 0 --shard 1/2
    python benchmarks/classical.py report --members 1 --recipe fast-tv3   # and --recipe fast

The loss of each step is the data-fit plus weight × σ̂² × TV(x), TV the mean absolute difference of
neighbouring pixels and σ̂² the noise floor that the automatic stop uses: in units of the noise, so
one weight serves every σ (a MAP estimate under a Laplacian prior on the gradients would take
weight = twice its rate). The penalty is `Problem.prior`: the automatic stop still watches the
data-fit alone. Everything else is `restore_array`'s default CPU recipe (`fast`, one member, the
fusion off), so a member here and the classical benchmark's member of the same seed differ by the
penalty only. Gaussian noise only (the Poisson deviance has no σ² scale).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from classical import probe_parser, record_probe

import dipbatch.run.restore as restore
from dipbatch.fit.problem import Problem
from dipbatch.fit.stopping import problem_floor
from dipbatch.physics.losses import total_variation


def with_tv(weight: float) -> None:
    """Make `restore_array` build its problems with the TV penalty (this benchmark's process only)."""
    build = restore.make_problem

    def make_problem(*args: Any, **kwargs: Any) -> Problem:
        problem = build(*args, **kwargs)
        strength = weight * (problem_floor(problem) or 0.0)
        return replace(problem, prior=lambda x: strength * total_variation(x))

    restore.make_problem = make_problem


def main() -> None:
    parser = probe_parser(__doc__.splitlines()[0])
    parser.add_argument("--weight", type=float, required=True, help="the penalty in units of σ̂²")
    args = parser.parse_args()
    with_tv(args.weight)
    record_probe(args, f"fast-tv{args.weight:g}")


if __name__ == "__main__":
    main()
