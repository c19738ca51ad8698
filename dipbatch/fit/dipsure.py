"""DIP-SURE members (Jo, Chun and Choi, ICCV 2021): half of a denoising ensemble fitted with the
observation as the generator's input and Stein's unbiased risk estimate as the loss.

With the noisy image as its input the net could pass the noise straight through; SURE's divergence
term (one Monte-Carlo probe b a step: the change of the output when the input moves by τ·b) charges
for exactly that, so such a member needs no early stop and runs a fixed budget instead. Its loss is
mean((x − y)²) − σ² + 2σ²·mean(b·(x(y + τb) − x(y)))/τ for an estimate x of the observation y.

A DIP-SURE member errs differently from a DIP member (its input is the image, not noise), so the
two average better than two of either (`benchmarks/classical.py`, RESULTS.md "DIP-SURE members"):
at σ 15/255 an ensemble of one of each, fused as denoising fuses, beat CBM3D on the held-out
photos and astronomy fields, where two DIP members did not. At σ 25 and above, and on flat star
fields, DIP-SURE loses, so `auto` uses it only where it was measured to pay: Gaussian denoising
with the `fast` net, an estimated σ up to MAX_SIGMA, and two or more members (the odd ones).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from dipbatch.errors import FieldError
from dipbatch.fit.presets import Preset
from dipbatch.fit.problem import Problem
from dipbatch.io.sidecar import DipSureRecord
from dipbatch.physics import losses
from dipbatch.physics.metrics import noise_sigma

DIP_SURE_MODES = ("auto", "off")
TAU = 0.005  # the divergence's finite-difference step, on the [0,1] scale
ITERATIONS = 1000  # a DIP-SURE member's budget (measured at 128 px: 500 at σ 25 was no better)
# measured to pay at σ 15 and to lose at σ 25, whose estimates (the wavelet σ̂ on clipped noise) were
# 12.4–15.1 and 18.0–24.5 (/255) on the benchmark's scenes: dark astronomy frames read lowest
MAX_SIGMA = 16 / 255
PRESETS = ("fast",)  # the nets it was measured with


def check_mode(mode: str) -> None:
    if mode not in DIP_SURE_MODES:
        raise FieldError(f"`dip_sure` {mode}", f"choose one of {', '.join(DIP_SURE_MODES)}")


def applies(mode: str, preset: Preset, problem: Problem, members: int, stop_rule: str) -> bool:
    """Whether an image's ensemble may have DIP-SURE members, its noise level aside: `auto`,
    Gaussian denoising of every pixel with the measured net, the automatic stop for the DIP members,
    and at least two members."""
    return (mode == "auto" and members >= 2 and stop_rule == "auto" and preset.name in PRESETS
            and preset.net.kind == "skip"
            and preset.fit.input == "noise" and problem.datafit is losses.gaussian
            and problem.weight is None and problem.guide is None and problem.scale == 1.0
            and problem.prior is None)


def member_sigma(mode: str, preset: Preset, problem: Problem, members: int, stop_rule: str,
                 given: float | None = None) -> float | None:
    """The σ (on [0,1]) of an image's DIP-SURE members: `given`, else estimated from the
    observation; None where the image gets none (`applies`, and a σ up to MAX_SIGMA)."""
    if not applies(mode, preset, problem, members, stop_rule):
        return None
    sigma = given if given is not None else noise_sigma(problem.observation.numpy())
    return sigma if sigma is not None and 0 < sigma <= MAX_SIGMA else None


def ensemble_problems(problem: Problem, members: int, sure_sigma: float | None) -> list[Problem]:
    """One image's members' problems: `members` copies, the odd ones DIP-SURE members fitted with
    `sure_sigma` (None: none)."""
    return [replace(problem, sure_sigma=sure_sigma) if m % 2 and sure_sigma is not None else problem
            for m in range(members)]


def budget(cap: int) -> int:
    """A DIP-SURE member's iterations under the fit's cap."""
    return min(ITERATIONS, cap)


def record(members: int, sure_sigma: float, cap: int) -> DipSureRecord:
    """What the sidecar says of an image's DIP-SURE members."""
    return {"members": list(range(1, members, 2)), "sigma": sure_sigma, "iterations": budget(cap),
            "tau": TAU, "input": "the observation", "loss": "SURE (one Monte-Carlo probe a step)"}


def input_of(observation: torch.Tensor, depth: int) -> torch.Tensor:
    """A DIP-SURE member's generator input: the observation in the first channels, zeros after."""
    channels = observation.shape[0]
    if depth < channels:
        raise ValueError(f"a DIP-SURE input needs a depth of at least {channels}, not {depth}")
    return torch.cat([observation, observation.new_zeros(depth - channels, *observation.shape[1:])])


def divergence_penalty(sigma: float, probe: torch.Tensor, moved: torch.Tensor,
                       estimate: torch.Tensor) -> torch.Tensor:
    """SURE's divergence term 2σ²·mean(b·(x(y + τb) − x(y)))/τ, b the probe and `moved` x(y + τb)."""
    return 2 * sigma ** 2 * (probe * (moved - estimate)).mean() / TAU
