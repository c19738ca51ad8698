"""The fit loop: a real gain, determinism, batching, the blow-up guard and resumable state."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.speed import SpeedOptions
from dipbatch.fit.stopping import FixedStop
from dipbatch.physics.losses import total_variation
from dipbatch.physics.metrics import psnr


def _fit(noisy: np.ndarray, seed: int = 0, iterations: int = 300):
    preset = get_preset("denoise", "tiny", iterations=iterations)
    return Fitter([Problem(torch.from_numpy(noisy))], preset, [seed]).run()[0]


def test_denoising_raises_psnr_by_4_db(clean_rgb: np.ndarray, noisy_rgb: np.ndarray) -> None:
    result = _fit(noisy_rgb)
    gain = psnr(clean_rgb, result.estimate) - psnr(clean_rgb, noisy_rgb)
    assert gain >= 4.0, f"PSNR gain {gain:.2f} dB"
    assert result.iterations == 300 and result.stop_reason.startswith("fixed")


def test_a_prior_joins_the_loss_and_smooths_the_estimate(noisy_rgb: np.ndarray) -> None:
    """`Problem.prior` (DIP-TV's penalty) is minimised with the data-fit: the same fit with a TV
    penalty returns a smoother estimate, and its recorded loss holds the penalty."""
    preset = get_preset("denoise", "tiny", iterations=200)
    y = torch.from_numpy(noisy_rgb)
    plain = Fitter([Problem(y)], preset, [0]).run()[0]
    penalised = Fitter([Problem(y, prior=lambda x: 0.5 * total_variation(x))], preset, [0]).run()[0]
    smoothness = [float(total_variation(torch.from_numpy(r.estimate))) for r in (plain, penalised)]
    assert smoothness[1] < 0.8 * smoothness[0], smoothness
    assert penalised.final_loss > float(((torch.from_numpy(penalised.estimate) - y) ** 2).mean())


def test_same_seed_same_output_other_seed_other_output(noisy_rgb: np.ndarray) -> None:
    a, b, c = (_fit(noisy_rgb, seed, 60).estimate for seed in (5, 5, 6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("layout", ["grouped", "separate"])
def test_batched_fit_matches_one_at_a_time(noisy_rgb: np.ndarray, layout: str) -> None:
    """Images fitted together give what each gives alone. The stated tolerance: float reordering in
    grouped convolutions differs by ~1e-6 after one step, and the fit amplifies it slowly, so after
    60 steps the two estimates must still agree to better than 45 dB PSNR. Separate members (the
    CPU's layout) do a single fit's arithmetic: bit-identical."""
    other = np.ascontiguousarray(noisy_rgb[:, ::-1])
    problems = [Problem(torch.from_numpy(x)) for x in (noisy_rgb, other)]
    for iterations, bound in ((1, 1e-5), (60, None)):
        preset = get_preset("denoise", "tiny", iterations=iterations)
        together = Fitter(problems, preset, [0, 0], speed=SpeedOptions(layout=layout)).run()
        for problem, joint in zip(problems, together, strict=True):
            alone = Fitter([problem], preset, [0]).run()[0]
            if layout == "separate":
                assert np.array_equal(alone.estimate, joint.estimate)
            elif bound is not None:
                assert np.abs(alone.estimate - joint.estimate).max() < bound
            else:
                assert psnr(alone.estimate, joint.estimate) > 45.0


class StopsMemberOneAt(FixedStop):
    """Member 1 stops (its estimate frozen) at a check point; the others run to the cap."""

    def __init__(self, members: int, at: int) -> None:
        super().__init__(members)
        self.at = at

    def poll(self, iteration: int) -> None:
        if iteration == self.at:
            self.stopped[1], self.stop_iteration[1] = True, iteration


def test_a_stopped_members_pass_is_skipped_and_the_others_are_unchanged(noisy_rgb: np.ndarray) -> None:
    """On the CPU (one pass per member) a member that has stopped costs no more steps; the running
    member's fit is bit-identical to the one beside a member that never stops."""
    preset = get_preset("denoise", "tiny", iterations=40)
    problems = [Problem(torch.from_numpy(noisy_rgb))] * 2
    speed = SpeedOptions(layout="separate")
    reference = Fitter(problems, preset, [0, 1], speed=speed, check_every=10).run()
    fitter = Fitter(problems, preset, [0, 1], stopper=StopsMemberOneAt(2, 10), speed=speed, check_every=10)
    calls = [0, 0]
    for k, (net, members, backward) in enumerate(list(fitter.passes)):
        def counted(z: torch.Tensor, net=net, k=k) -> torch.Tensor:
            calls[k] += 1
            return net(z)
        fitter.passes[k] = (counted, members, backward)
    results = fitter.run()
    assert calls == [40, 10]
    np.testing.assert_array_equal(results[0].estimate, reference[0].estimate)


def test_guard_rolls_back_a_blown_up_member(noisy_rgb: np.ndarray) -> None:
    preset = get_preset("denoise", "tiny", iterations=150)
    problems = [Problem(torch.from_numpy(noisy_rgb)) for _ in range(2)]
    fitter = Fitter(problems, preset, [0, 1], check_every=50)
    for _ in range(100):
        fitter.step()
        if fitter.iteration % 50 == 0:
            fitter._guard()
    good = [p.detach().clone() for p in fitter.net.parameters()]
    with torch.no_grad():  # wreck member 1 only: its loss jumps far above its recent level
        for p in fitter.net.parameters():
            p.view(2, -1)[1].add_(torch.randn_like(p.view(2, -1)[1]) * 5)
    for _ in range(50):
        fitter.step()
    fitter._guard()
    assert fitter.restores == [0, 1]
    for p, before in zip(fitter.net.parameters(), good, strict=True):
        assert torch.equal(p.view(2, -1)[1], before.view(2, -1)[1])


@pytest.mark.parametrize("members", [1, 2])
def test_resumed_fit_equals_uninterrupted(noisy_rgb: np.ndarray, members: int) -> None:
    preset = get_preset("denoise", "tiny", iterations=120)
    problems = [Problem(torch.from_numpy(noisy_rgb))] * members
    seeds = list(range(members))
    whole = Fitter(problems, preset, seeds).run()
    saved: list[dict] = []
    first = Fitter(problems, preset, seeds)
    first.run(checkpoint=lambda state: saved.append(copy.deepcopy(state)), checkpoint_every=50)
    resumed = Fitter(problems, preset, seeds)
    resumed.load_state_dict(saved[0])
    assert resumed.iteration == 50
    for got, want in zip(resumed.run(), whole, strict=True):
        assert np.array_equal(got.estimate, want.estimate)
