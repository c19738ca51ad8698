"""One image's inverse problem: what the fit fits a generator to, through which operator and data-fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from dipbatch.physics import losses
from dipbatch.physics.operators import Identity, Operator

DataFit = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass
class Problem:
    """One image's inverse problem: observation y, operator A, data-fit term, optional weights."""

    observation: torch.Tensor  # C×h×w, on the [0,1] scale
    operator: Operator = field(default_factory=Identity)
    datafit: DataFit = losses.gaussian
    weight: torch.Tensor | None = None  # broadcastable to the observation; 0 = ignore the pixel
    guide: torch.Tensor | None = None  # depth×H×W fixed generator input (flash/no-flash)
    scale: float = 1.0  # the estimate is the generator's output (on [0,1]) times this
    prior: Callable[[torch.Tensor], torch.Tensor] | None = None  # added to the loss, not the data-fit
    sure_sigma: float | None = None  # a DIP-SURE member (fit/dipsure.py) for Gaussian noise of this σ

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.observation.shape[-2:]
        return self.operator.estimate_size((int(h), int(w)))

    @property
    def channels(self) -> int:
        return int(self.observation.shape[0])
