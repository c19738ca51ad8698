"""Stopping rules: each watches the outputs on the device, decides at check points, keeps its estimate."""

from __future__ import annotations

from typing import Any, Protocol

import torch


class Stopper(Protocol):
    """What the fit loop needs of a stopping rule, for `members` images fitted together."""

    stopped: list[bool]
    stop_iteration: list[int]
    stop_reason: list[str]

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        """Device-side bookkeeping after each step (K×C×H×W tensors, no host sync)."""

    def poll(self, iteration: int) -> None:
        """Host-side decision at a check point: mark members that have stopped."""

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        """The cap was reached: every member still running stops here."""

    def estimate(self, k: int) -> torch.Tensor:
        """Member k's returned estimate (C×H×W)."""

    def record(self, k: int) -> dict[str, Any]:
        """Member k's curves and choices, for the sidecar."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class FixedStop:
    """Run exactly the iteration budget, as the paper does; return the smoothed (EMA) output."""

    def __init__(self, members: int) -> None:
        self.stopped = [False] * members
        self.stop_iteration = [0] * members
        self.stop_reason = [""] * members
        self._final: torch.Tensor | None = None

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        pass

    def poll(self, iteration: int) -> None:
        pass

    def finish(self, iteration: int, smoothed: torch.Tensor) -> None:
        self._final = smoothed.clone()
        for k, done in enumerate(self.stopped):
            if not done:
                self.stopped[k] = True
                self.stop_iteration[k] = iteration
                self.stop_reason[k] = f"fixed: ran all {iteration} iterations"

    def estimate(self, k: int) -> torch.Tensor:
        assert self._final is not None, "estimate() before finish()"
        return self._final[k]

    def record(self, k: int) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
