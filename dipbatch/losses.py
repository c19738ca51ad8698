"""Data-fit terms: how far the operator's output is from the observation (pure functions)."""

from __future__ import annotations

import torch


def gaussian(predicted: torch.Tensor, observed: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error; with a weight (e.g. a known-pixel mask) only weighted pixels count."""
    residual = (predicted - observed) ** 2
    if weight is not None:
        residual = residual * weight
    return residual.mean()
