"""The temporal pass guards its own fidelity, without ground truth: its frames must stay as close to
the noisy observations as the per-frame results are, or as the noise allows.

A per-frame result that stopped at the noise floor has a data-fit (mean squared difference to its
observation) near the noise variance σ²; the truth would have σ². A pass that smooths across frames
removes flicker, but where its flow is wrong it also moves the frames away from what was observed,
and the data-fit then climbs above the floor: fidelity is lost. So the pass is applied with the
largest strength α (the consistent frames blended as f + α·(c − f)) whose data-fit stays within
`tolerance` × σ² of the larger of the per-frame data-fit and σ². The data-fit is quadratic in α, so
α is solved for exactly; below MIN_STRENGTH the per-frame frames are kept. σ is estimated from each
observation (wavelet MAD). Only where the results have the observations' size (denoising, deblocking):
elsewhere the data are not comparable pixel for pixel, and the pass is left as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dipbatch.physics.metrics import noise_sigma

#: How far above max(per-frame data-fit, noise floor) a pass may take the data-fit, in units of σ²
#: (benchmarks/RESULTS.md, "The temporal pass's fidelity guard": tuned on 64² and 128² sequences).
FIDELITY_TOLERANCE = 0.05
#: A pass weaker than this is no pass: the per-frame frames are kept.
MIN_STRENGTH = 0.1


@dataclass(frozen=True)
class FidelityCheck:
    """What the guard found, as data-fit over the noise floor, and the strength it applied."""

    strength: float  # 1: the whole pass; 0: the per-frame frames
    floor: float  # the noise variance σ², mean over frames (on the [0,1] scale)
    frames: float  # the per-frame results' data-fit ÷ floor
    full: float  # the whole pass's data-fit ÷ floor
    kept: float  # the delivered frames' data-fit ÷ floor

    def record(self) -> dict[str, float]:
        return {"strength": round(self.strength, 4), "noise_floor": self.floor,
                "datafit_frames": self.frames, "datafit_pass": self.full, "datafit_kept": self.kept}


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else math.nan


def guarded_strength(observations: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                     consistent: Sequence[np.ndarray], tolerance: float = FIDELITY_TOLERANCE
                     ) -> FidelityCheck | None:
    """The strength at which the pass keeps its fidelity (see the module); None where it cannot be
    checked (results of another size than the observations, or no noise estimate)."""
    if any(o.shape != f.shape for o, f in zip(observations, frames, strict=True)):
        return None
    sigmas = [noise_sigma(o) for o in observations]
    if any(s is None for s in sigmas):
        return None
    floor = float(np.mean([s * s for s in sigmas]))  # type: ignore[operator]
    if not floor > 0:
        return None
    y, f, c = (np.stack([np.asarray(v, np.float64) for v in vs]) for vs in (observations, frames, consistent))
    residual, step = f - y, c - f
    base, cross, curvature = _mean(residual ** 2), 2 * _mean(residual * step), _mean(step ** 2)
    allowed = max(base, floor) + tolerance * floor
    full = base + cross + curvature
    if full <= allowed or not curvature > 0:
        strength = 1.0
    else:  # the largest α in [0, 1] with base + α·cross + α²·curvature <= allowed
        discriminant = max(cross * cross - 4 * curvature * (base - allowed), 0.0)
        root = (-cross + math.sqrt(discriminant)) / (2 * curvature)
        strength = min(max(root, 0.0), 1.0)
        strength = strength if strength >= MIN_STRENGTH else 0.0
    kept = base + strength * cross + strength ** 2 * curvature
    return FidelityCheck(strength, floor, base / floor, full / floor, kept / floor)


def blend(frames: Sequence[np.ndarray], consistent: Sequence[np.ndarray],
          strength: float) -> list[np.ndarray]:
    """The frames moved `strength` of the way to the consistent ones (f + α·(c − f))."""
    if strength >= 1.0:
        return [np.asarray(c) for c in consistent]
    alpha = np.float32(strength)
    return [(np.asarray(f, np.float32) + alpha * (np.asarray(c, np.float32) - f)).astype(np.float32)
            for f, c in zip(frames, consistent, strict=True)]
