"""The temporal pass's fidelity guard: without ground truth, a pass that moves the frames away from the
observations further than the noise explains is weakened, or the per-frame frames are kept."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.temporal.fidelity import FIDELITY_TOLERANCE, blend, guarded_strength
from dipbatch.temporal.figures import CHECK_FELL_BACK, CHECK_OK, CHECK_WEAKENED, TemporalReport
from dipbatch.temporal.run import note_guard

SIGMA = 0.1


@pytest.fixture(scope="module")
def sequence() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Clean frames, their noisy observations, and per-frame results that kept a fifth of the noise
    (as a fit stopped a little late does: their data-fit is below the floor)."""
    clean = [scene(48, 48, 3, seed=k) for k in range(4)]
    noisy = [add_gaussian_noise(c, SIGMA, seed=10 + k, clip=False) for k, c in enumerate(clean)]
    frames = [(c + 0.2 * (n - c)).astype(np.float32) for c, n in zip(clean, noisy, strict=True)]
    return clean, noisy, frames


def mean_psnr(clean: list[np.ndarray], frames: list[np.ndarray]) -> float:
    return float(np.mean([psnr(c, f) for c, f in zip(clean, frames, strict=True)]))


def test_a_pass_that_keeps_to_the_data_is_applied_whole(sequence) -> None:
    clean, noisy, frames = sequence
    halfway = [(f + c) / 2 for f, c in zip(frames, clean, strict=True)]  # half the noise left out
    check = guarded_strength(noisy, frames, halfway)
    assert check is not None and check.strength == 1.0
    assert check.frames < check.full < 1.0  # closer to the noise floor, not above it
    assert mean_psnr(clean, blend(frames, halfway, check.strength)) > mean_psnr(clean, frames)


def test_a_pass_that_blurs_the_frames_is_weakened_and_that_pays(sequence) -> None:
    clean, noisy, frames = sequence
    blurred = [uniform_filter(f, size=(1, 5, 5)) for f in frames]  # smooth, far from the data
    check = guarded_strength(noisy, frames, blurred)
    assert check is not None and 0 < check.strength < 1
    assert check.full > 1 + FIDELITY_TOLERANCE  # the whole pass: well above the floor
    assert check.kept == pytest.approx(max(check.frames, 1.0) + FIDELITY_TOLERANCE, rel=1e-6)
    kept = blend(frames, blurred, check.strength)
    assert mean_psnr(clean, kept) > mean_psnr(clean, blurred) + 1  # the guard bought back fidelity


def test_a_pass_far_from_the_data_keeps_the_per_frame_frames(sequence) -> None:
    _, noisy, frames = sequence
    black = [np.full_like(f, -1.0) for f in frames]  # nowhere near the data
    check = guarded_strength(noisy, frames, black)
    assert check is not None and check.strength == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(blend(frames, black, 0.0), frames, strict=True))


def test_results_of_another_size_are_not_checked(sequence) -> None:
    _, noisy, frames = sequence
    larger = [np.repeat(np.repeat(f, 2, axis=1), 2, axis=2) for f in frames]  # super-resolution
    assert guarded_strength(noisy, larger, larger) is None


@pytest.mark.parametrize(("strength", "check"), [(1.0, CHECK_OK), (0.5, CHECK_WEAKENED),
                                                 (0.0, CHECK_FELL_BACK)])
def test_the_report_flags_what_the_guard_did(sequence, strength: float, check: str) -> None:
    from dipbatch.temporal.fidelity import FidelityCheck

    report = TemporalReport("clip", "flow", ["a.png"], {}, np.zeros(1))
    note_guard(report, FidelityCheck(strength, 0.01, 0.97, 1.4, 1.02), "flow")
    assert report.check == check and report.strength == strength
    assert report.guard["datafit_pass"] == 1.4
    assert bool(report.warnings) == (strength < 1)
    if strength < 1:
        assert report.warnings[0].startswith("the flow pass took the frames' data-fit to 1.4× the noise "
                                             "floor (per-frame 0.97×)")
