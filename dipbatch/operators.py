"""Forward operators: how a task's observation is made from the clean image.

An operator maps the generator's estimate x (1×C×H×W) to the observation domain (1×C×h×w).
The fit loop knows only this interface.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Operator(Protocol):
    def __call__(self, estimate: torch.Tensor) -> torch.Tensor: ...

    def estimate_size(self, observed: tuple[int, int]) -> tuple[int, int]:
        """The estimate's (H, W) for an observation of size (h, w)."""
        ...


class Identity:
    """Denoising: the observation is the image itself."""

    def __call__(self, estimate: torch.Tensor) -> torch.Tensor:
        return estimate

    def estimate_size(self, observed: tuple[int, int]) -> tuple[int, int]:
        return observed
