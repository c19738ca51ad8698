"""Stop signals as pure functions of a fit's curves, and the noise floor its data-fit should reach.

The fit records the curves on the device; at each check point the stop rule hands their prefix to
`decide`, and the stopping benchmark replays the same function on recorded trajectories, so what it
measures is what the fit does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import median_filter, uniform_filter

WINDOW = 100  # the variance window at the usual caps (cap/10, at most 100)
#: How a fit ended, as data (`stop_kind`; `stop_reason` is the same in words): a stop signal fired, the
#: cap was reached with none, or the rule was to run the whole budget.
SIGNAL, CAP, FIXED = "signal", "cap", "fixed"
STOP_KINDS = (SIGNAL, CAP, FIXED)
#: The signals that end an `auto` fit (`stop_signal`).
DISCREPANCY, PLATEAU = "discrepancy", "variance plateau"
#: Where the discrepancy signal fires for denoising: the data-fit at this fraction of the noise floor.
DISCREPANCY_RATIO = 0.97
#: A data-fit that ends above this many times the noise floor has not reached the noise: the fit
#: stopped far from the data (a warning on the result; `AutoRule.far`).
FAR_ABOVE_FLOOR = 1.5


@lru_cache(maxsize=1)
def _deviance_table() -> tuple[np.ndarray, np.ndarray]:
    """E[rate − k + k·log(k/rate)] for k ~ Poisson(rate), on a log grid of rates."""
    from scipy.stats import poisson  # here: importing scipy.stats costs half a second per process

    rates = np.logspace(-3, 4, 281)
    k = np.arange(0, int(rates[-1] + 12 * math.sqrt(rates[-1]) + 20))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        klogk = np.where(k > 0, k * np.log(np.maximum(k, 1) / rates), 0.0)
    expected = (poisson.pmf(k, rates) * (rates - k + klogk)).sum(0)
    return rates, expected


def expected_deviance(rates: np.ndarray) -> np.ndarray:
    """The mean per-pixel Poisson deviance (as losses.poisson_deviance) of counts at these rates."""
    grid, table = _deviance_table()
    return np.interp(np.log(np.maximum(rates, grid[0])), np.log(grid), table, right=table[-1])


def noise_floor(observation: np.ndarray, noise: str, *, sigma: float | None = None,
                gain: float | None = None, weight: np.ndarray | None = None) -> float:
    """The data-fit an estimate equal to the truth would have: where the discrepancy principle stops.

    gaussian: σ² (on the [0,1] scale); poisson: the expected deviance per pixel, the rates taken as a
    3×3 local mean of the counts (`gain` electrons per unit); poisson-gaussian (Anscombe MSE): 1.
    Pixels of weight 0 count as the loss counts them (as zeros in the mean).
    """
    if noise == "gaussian":
        per_pixel: np.ndarray | float = (sigma or 0.0) ** 2
    elif noise == "poisson":
        counts = np.nan_to_num(np.asarray(observation, np.float64)) * (gain or 1.0)
        size = (1, 3, 3) if counts.ndim == 3 else 3
        per_pixel = expected_deviance(uniform_filter(np.maximum(counts, 0), size=size, mode="reflect"))
    else:
        per_pixel = 1.0
    values = np.broadcast_to(per_pixel, np.shape(observation))
    if weight is not None:
        values = values * np.broadcast_to(weight, values.shape)
    return float(np.mean(values))


def peak_contrast(observation: np.ndarray, noise: str, *, sigma: float | None = None,
                  weight: np.ndarray | None = None) -> float | None:
    """A frame's brightest structure over its noise: the brightest 3×3 local median (a hot pixel or
    a cosmic ray does not count) less the dimmest percent of them, over the noise's standard
    deviation at the brightest (gaussian: `sigma`; poisson: the observation in counts, √counts).
    None for another noise model or without σ; pixels of weight 0 take no part. A blurred star field
    at 300 photons reads 9–15, at 30 photons 3–5, a photo at σ 15/255 about 16
    (benchmarks/deconvolution.py)."""
    values = np.nan_to_num(np.asarray(observation, np.float64))
    local = median_filter(values, size=(1, 3, 3) if values.ndim == 3 else 3, mode="reflect")
    if weight is not None:
        local = local[np.broadcast_to(weight, local.shape) > 0]
    if local.size == 0:
        return None
    brightest, dimmest = float(local.max()), float(np.percentile(local, 1))
    if noise == "gaussian" and sigma:
        spread = sigma
    elif noise == "poisson":
        spread = math.sqrt(max(brightest, 1.0))
    else:
        return None
    return (brightest - dimmest) / spread


@dataclass(frozen=True)
class ContrastThreshold:
    """A discrepancy threshold that follows the frame's `peak_contrast`: `bright` from `cut` up,
    `faint` below it or where the contrast is unknown (the earlier, safer stop)."""

    bright: float
    faint: float
    cut: float

    def at(self, contrast: float | None) -> float:
        return self.bright if contrast is not None and contrast >= self.cut else self.faint


#: A task's discrepancy threshold: a fixed ratio, or one chosen by the frame's contrast.
Threshold = float | ContrastThreshold


@dataclass(frozen=True)
class AutoRule:
    """The `auto` rule's settings: the discrepancy principle first, the variance plateau as backup.

    discrepancy: stop once the smoothed estimate's data-fit is down to this fraction of the noise
    floor (benchmarks/RESULTS.md, "The stopping benchmark": tuned on its first half).
    guard: a variance candidate counts only while the data-fit is under this multiple of the floor.
    tolerance, patience, min_start: the variance plateau (its end, within `tolerance` of the minimum).
    """

    patience: int
    min_start: int
    discrepancy: float | None = DISCREPANCY_RATIO
    contrast: float | None = None  # the frame's peak contrast, where it chose `discrepancy` (a record)
    guard: float = 1.1
    tolerance: float = 0.3
    extend_limit: int = 4  # a cap may grow to this many times itself (`extends`), never further
    far: float = FAR_ABOVE_FLOOR  # an estimate whose data-fit ends above this × the floor is doubtful
    falling: float = 0.95  # extend only while the data-fit fell below this × its level a quarter cap ago


@dataclass(frozen=True)
class Decision:
    snapshot: bool  # keep the smoothed estimate of this check point as the candidate
    stop: bool
    reason: str = ""
    signal: str = ""  # DISCREPANCY or PLATEAU, when it stops


def decide(t: int, variance: np.ndarray, fit: np.ndarray, floor: float | None, rule: AutoRule,
           candidates: list[int]) -> Decision:
    """The `auto` decision at check point t from the curves' prefixes (entry i is iteration i + 1).

    `fit` is the data-fit of the smoothed estimate (NaN where not computed), `floor` what it would be
    at the truth (None: unknown, no discrepancy and no guard); `candidates` are the check points
    snapshotted so far. Pure: the stopping benchmark replays it on recorded curves.
    """
    ratio = fit[t - 1] / floor if floor else math.nan
    if rule.discrepancy is not None and ratio <= rule.discrepancy:
        return Decision(True, True, f"discrepancy: the data-fit reached {ratio:.2f}× the noise floor "
                                    f"at iteration {t}", DISCREPANCY)
    value = variance[t - 1]
    seen = variance[rule.min_start - 1:t] if rule.min_start >= 1 else variance[:t]
    lowest = np.nanmin(seen) if np.isfinite(seen).any() else math.nan
    guarded = not floor or ratio <= rule.guard
    eligible = t >= rule.min_start and guarded and value <= (1 + rule.tolerance) * lowest
    last = t if eligible else (candidates[-1] if candidates else 0)
    if last and t - last >= rule.patience:
        return Decision(eligible, True, f"variance plateau: the windowed variance within "
                                        f"{rule.tolerance:.0%} of its minimum until iteration {last}, "
                                        f"above it for the next {rule.patience}", PLATEAU)
    return Decision(eligible, False)


def replay(variance: np.ndarray, fit: np.ndarray, floor: float | None, rule: AutoRule, cap: int,
           every: int) -> tuple[int, int, str]:
    """Run `decide` as the fit does, every `every` iterations up to `cap`: (returned, ran, reason)."""
    candidates: list[int] = []
    for t in range(every, cap + every, every):
        t = min(t, cap)
        decision = decide(t, variance, fit, floor, rule, candidates)
        if decision.snapshot:
            candidates.append(t)
        if decision.stop:
            return (t if decision.signal == DISCREPANCY else candidates[-1]), t, decision.reason
        if t == cap:
            break
    return cap, cap, f"cap: reached {cap} iterations with no stop signal"


def extends(fit: np.ndarray, floor: float | None, rule: AutoRule, lookback: int) -> bool:
    """Whether a fit at its cap is worth more iterations: its data-fit (`fit`, the prefix up to the
    cap, NaN where not measured) is still above `rule.far` × the floor and still falling (below
    `rule.falling` × its level `lookback` iterations earlier). Pure, like `decide`."""
    if not floor:
        return False
    measured = np.flatnonzero(np.isfinite(fit))
    if len(measured) < 2 or fit[measured[-1]] <= rule.far * floor:
        return False
    earlier = measured[measured <= measured[-1] - lookback]
    return bool(len(earlier)) and bool(fit[measured[-1]] < rule.falling * fit[earlier[-1]])


def expected_crossing(fit: np.ndarray, floor: float | None, rule: AutoRule) -> int | None:
    """Where the discrepancy signal should fire, for a progress line's ETA: the iteration at which
    the data-fit (`fit`, NaN where not measured), extrapolated in log scale from its last two check
    points, reaches `rule.discrepancy` × the floor. None without a floor, or while it is not falling.
    Pure; optimistic where the fit slows down, so it is refreshed at every check point."""
    if not floor or rule.discrepancy is None:
        return None
    measured = np.flatnonzero(np.isfinite(fit))
    if len(measured) < 2:
        return None
    (i1, i2), (f1, f2) = measured[-2:] + 1, fit[measured[-2:]]
    target = rule.discrepancy * floor
    if f2 <= target:
        return int(i2)
    if not 0 < f2 < f1:
        return None
    slope = (np.log(f2) - np.log(f1)) / (i2 - i1)
    return int(np.ceil(i2 + (np.log(target) - np.log(f2)) / slope))
