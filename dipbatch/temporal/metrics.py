"""Temporal-consistency metrics of a frame sequence (pure functions on C×H×W float frames in [0,1]).

- Warping error (Lai et al., ECCV 2018): the mean squared difference between frame t and frame
  t−1 warped onto it, over the pixels whose flow passes the occlusion check. The flow is computed
  once, on the input frames, so every version of a sequence is measured against the same motion.
  DIS flow replaces Lai's FlowNet2, so the values are not comparable with published ones.
- Flicker index (flow-free): the temporal standard deviation over static regions, i.e. the pixels
  whose blurred input hardly changes over the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dipbatch.physics.metrics import noise_sigma
from dipbatch.temporal.flow import PairFlow, pair_flows, warp

STATIC_BLUR = 2.0  # Gaussian sigma (px) of the blur before the test for motion
STATIC_WINDOW = 7  # side (px) of the window of the test for texture
STILL_FACTOR = 2.5  # blurred temporal std may reach this many times the blurred noise
FLAT_FACTOR = 1.2  # local std may reach this many times the noise
STATIC_TOLERANCE = 0.005  # added to both thresholds, so noise-free frames have static pixels too
_BLUR_NOISE_GAIN = 1.0 / (2.0 * math.sqrt(math.pi) * STATIC_BLUR)  # white noise std after the blur


@dataclass(frozen=True)
class VersionMetrics:
    """Per-frame curves of one version of a sequence (input, per-frame result or consistent result)."""

    warp_error: np.ndarray  # T values; frame 0 has no predecessor (NaN)
    flicker: np.ndarray  # T values: RMS deviation from the temporal mean over static pixels

    @property
    def mean_warp_error(self) -> float:
        """E_warp: the mean over the T−1 frame pairs (NaN pairs, with no valid pixel, left out)."""
        return _nanmean(self.warp_error[1:])

    @property
    def flicker_index(self) -> float:
        """The RMS temporal standard deviation over static pixels."""
        return math.sqrt(_nanmean(self.flicker ** 2)) if len(self.flicker) else math.nan


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def sequence_flows(inputs: Sequence[np.ndarray]) -> list[PairFlow]:
    """Flow from each frame t ≥ 1 to frame t−1, with its validity, from the input frames."""
    pairs = [(t, t - 1) for t in range(1, len(inputs))]
    flows = pair_flows(inputs, pairs)
    return [flows[p] for p in pairs]


def warping_errors(frames: Sequence[np.ndarray], flows: Sequence[PairFlow]) -> np.ndarray:
    """Per frame t: mean over valid pixels and channels of (O_t − warp(O_{t−1}))²; NaN for t = 0."""
    errors = [math.nan]
    for t, pf in enumerate(flows, start=1):
        if not pf.valid.any():
            errors.append(math.nan)
            continue
        diff = np.nan_to_num(frames[t]) - warp(np.nan_to_num(frames[t - 1]), pf.flow)
        errors.append(float((diff ** 2).mean(axis=0)[pf.valid].mean()))
    return np.asarray(errors, np.float64)


def _luma(frame: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(frame, np.float32)).mean(axis=0)


def _local_std(image: np.ndarray) -> np.ndarray:
    size = (STATIC_WINDOW, STATIC_WINDOW)
    mean = cv2.blur(image, size)
    return np.sqrt(np.maximum(cv2.blur(image * image, size) - mean * mean, 0.0))


def static_mask(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """H×W bool: pixels that neither move nor hold texture, judged from the noisy input.

    Still: the temporal std of the blurred luma is within what its noise explains. Flat: the local
    std of the luma, averaged over frames, is within what its noise explains. Moving texture finer
    than the blur would pass the first test alone; the second keeps it out.
    """
    lumas = [_luma(f) for f in inputs]
    sigmas = [s for s in (noise_sigma(f) for f in inputs) if s is not None]
    channels = int(np.asarray(inputs[0]).shape[0])
    noise = float(np.median(sigmas)) / math.sqrt(channels) if sigmas else 0.0
    blurred = np.stack([cv2.GaussianBlur(luma, (0, 0), STATIC_BLUR) for luma in lumas])
    still = blurred.std(axis=0) <= STILL_FACTOR * noise * _BLUR_NOISE_GAIN + STATIC_TOLERANCE
    flat = np.mean([_local_std(luma) for luma in lumas], axis=0) <= FLAT_FACTOR * noise + STATIC_TOLERANCE
    return still & flat


def flicker(frames: Sequence[np.ndarray], static: np.ndarray) -> np.ndarray:
    """Per frame: RMS over static pixels and channels of the frame's deviation from the temporal mean."""
    if not static.any():
        return np.full(len(frames), math.nan)
    stack = np.nan_to_num(np.stack([np.asarray(f, np.float64) for f in frames]))
    deviation = stack - stack.mean(axis=0, keepdims=True)
    return np.sqrt((deviation ** 2).mean(axis=1)[:, static].mean(axis=1))


def measure(frames: Sequence[np.ndarray], flows: Sequence[PairFlow], static: np.ndarray) -> VersionMetrics:
    """Both metrics of one version of a sequence, against the input's flows and static pixels."""
    return VersionMetrics(warping_errors(frames, flows), flicker(frames, static))
