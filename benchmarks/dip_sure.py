"""DIP-SURE (Jo, Chun and Choi, ICCV 2021), probed for issue 26: the noisy image as the generator's
input and Stein's unbiased risk estimate as the loss, recorded beside the classical benchmark's members.

    python benchmarks/dip_sure.py --iterations 1000 --noises gauss15 --seeds 0 1 --shard 0/2 &
    python benchmarks/dip_sure.py --iterations 1000 --noises gauss15 --seeds 0 1 --shard 1/2
    python benchmarks/classical.py report --recipe fast-sure1000   # the default's: --recipe fast

A probe, not dipbatch's code: it replaces `Fitter.step` in this process with one that needs a
single member and Gaussian noise. Each step draws b ~ N(0, I) and minimises
mean((f(y) − y)²) − σ̂² + 2σ̂²·mean(b·(f(y + τb) − f(y)))/τ, f the net with the observation y (its
input noise as the default's) as input, σ̂ the wavelet estimate, τ = 0.005: two forward and
backward passes a step. The noisy input with the MSE loss alone overfits within 100–250 steps
(RESULTS.md); SURE's divergence term is what stops the net from passing the noise through, so it
runs a fixed number of iterations with the default's EMA estimate (the automatic stop's data-fit
never reaches its floor under SURE). Everything else is the default CPU recipe (`fast`, one member).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from classical import probe_parser, record_probe

import dipbatch.run.restore as restore
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import Preset
from dipbatch.fit.problem import Problem
from dipbatch.physics.metrics import noise_sigma

TAU = 0.005  # the divergence's finite-difference step, on the [0,1] scale


def sure_step(self: Fitter) -> torch.Tensor:
    """One Adam step on the SURE loss (one member); logs the data-fit, as the loop's guard expects."""
    state = self.__dict__.setdefault("sure", {})  # σ̂² and the probes' generator, per fit
    if not state:
        state.update(sigma2=noise_sigma(self.observations[0].cpu().numpy()) ** 2,
                     probes=torch.Generator().manual_seed(1234))
    sigma2 = state["sigma2"]
    z = self.jittered_input()
    y = self.observations[0][None]
    b = torch.randn(y.shape, generator=state["probes"])
    (h, w), (top, left) = self.size, self.image_offset()
    probe = torch.zeros_like(z)
    probe[:, :, top:top + h, left:left + w] = b  # the image's part of the input; none in the margin
    self.opt.zero_grad(set_to_none=True)
    out = self._forward(z)
    moved = self._forward(z + TAU * probe)
    datafit = ((out - y) ** 2).mean()
    (datafit - sigma2 + 2 * sigma2 * (b * (moved - out)).mean() / TAU).backward()
    return self.advance(out.detach(), datafit.detach()[None])

def with_sure() -> None:
    """Make `restore_array` fit DIP-SURE (this benchmark's process only)."""
    build, recipe = restore.make_problem, restore.task_preset

    def make_problem(*args: Any, **kwargs: Any) -> Problem:
        problem = build(*args, **kwargs)
        return replace(problem, guide=problem.observation)

    def task_preset(*args: Any, **kwargs: Any) -> Preset:
        preset = recipe(*args, **kwargs)
        return replace(preset, fit=replace(preset.fit, input="guide"))

    restore.make_problem, restore.task_preset = make_problem, task_preset
    Fitter.step = sure_step


def main() -> None:
    parser = probe_parser(__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, required=True, help="a fixed number of steps")
    args = parser.parse_args()
    with_sure()
    record_probe(args, f"fast-sure{args.iterations}", stop="fixed", iterations=args.iterations)


if __name__ == "__main__":
    main()
