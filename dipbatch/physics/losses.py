"""Data-fit terms, and a penalty on the estimate (total variation): pure functions.

Each data-fit takes (predicted, observed, weight) on the image's [0,1] scale; a weight of 0 drops a pixel
(inpainting holes, NaN). The photon-noise terms first convert both sides to photo-electrons with a
`Photometry` (stored value = lo + x·(hi − lo); electrons = (stored − offset)·gain); bind it with
functools.partial to get the fit loop's three-argument form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SMALLEST_RATE = 1e-3  # electrons: keeps log(rate) finite where the estimate touches zero


@dataclass(frozen=True)
class Photometry:
    """How [0,1] values map to photo-electrons."""

    value_range: tuple[float, float] = (0.0, 1.0)  # the stored values that 0 and 1 stand for
    gain: float = 1.0  # electrons per stored unit (ADU)
    offset: float = 0.0  # stored value of zero light (bias, pedestal)
    read_noise: float = 0.0  # Gaussian read noise, in electrons (RMS)

    def electrons(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.value_range
        return (lo + x * (hi - lo) - self.offset) * self.gain


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over all pixels, with weight-0 pixels contributing nothing (the paper's masked MSE)."""
    return (values if weight is None else values * weight).mean()


def gaussian(predicted: torch.Tensor, observed: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error; with a weight (e.g. a known-pixel mask) only weighted pixels count."""
    return _weighted_mean((predicted - observed) ** 2, weight)


def poisson_deviance(rate: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per-pixel Poisson deviance, rate − counts − counts·log(rate/counts) (≥ 0, 0 at rate = counts).

    It is the negative log-likelihood of `counts` under Poisson(`rate`) less its minimum, so it has
    the same gradient as the NLL and a non-negative level the blow-up guard can compare.
    """
    rate = rate.clamp_min(SMALLEST_RATE)
    counts = counts.clamp_min(0.0)
    log_ratio = torch.where(counts > 0, torch.log(counts.clamp_min(SMALLEST_RATE) / rate),
                            torch.zeros_like(counts))
    return rate - counts + counts * log_ratio


def poisson(predicted: torch.Tensor, observed: torch.Tensor, weight: torch.Tensor | None = None,
            *, photometry: Photometry) -> torch.Tensor:
    """Mean Poisson deviance of the observed photo-electrons given the predicted ones."""
    deviance = poisson_deviance(photometry.electrons(predicted), photometry.electrons(observed))
    return _weighted_mean(deviance, weight)


def generalized_anscombe(electrons: torch.Tensor, read_noise: float,
                         floor: float = 0.0) -> torch.Tensor:
    """2·sqrt(z + 3/8 + σ²): Poisson-Gaussian noise in electrons becomes ≈ unit-variance Gaussian.

    This is the ADU form (2/α)·sqrt(α·y + 3α²/8 + σ_ADU²), with α = 1/gain, y = z/gain and
    σ_ADU = σ/gain, multiplied out; `floor` > 0 keeps the gradient finite where the root reaches 0.
    """
    return 2.0 * torch.sqrt((electrons + 0.375 + read_noise ** 2).clamp_min(floor))


def poisson_gaussian(predicted: torch.Tensor, observed: torch.Tensor,
                     weight: torch.Tensor | None = None, *,
                     photometry: Photometry) -> torch.Tensor:
    """MSE between the generalized Anscombe transforms (in electrons) of prediction and observation."""
    sigma = photometry.read_noise
    predicted_t = generalized_anscombe(photometry.electrons(predicted), sigma, floor=SMALLEST_RATE)
    observed_t = generalized_anscombe(photometry.electrons(observed), sigma)
    return _weighted_mean((predicted_t - observed_t) ** 2, weight)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation per pixel: the mean absolute difference of vertical neighbours
    plus that of horizontal ones (a penalty on the estimate, as in DIP-TV)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
