"""Warm start: fit frame t from frame t−1's weights (the `init_weights` and `save_weights` options).

Consecutive frames of a sequence look alike, so the generator fitted to one frame is a good start
for the next: it needs fewer iterations, and it keeps the details the previous frame chose, which
steadies the sequence. The input z is not saved: the same seed and frame size give the same z.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dipbatch.errors import DipbatchError, FieldError
from dipbatch.fit.loop import Fitter
from dipbatch.io.atomic import atomic_path
from dipbatch.nets.build import load_member, member_state

FORMAT = "dipbatch-weights-1"


@dataclass(frozen=True)
class WarmStartOptions:
    """Where a fit's starting weights come from, and where its final weights go."""

    init_weights: Path | None = None
    save_weights: Path | None = None

    def start(self, fitter: Fitter, notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Load the initial weights into every member; return the sidecar notes, with what was done."""
        if self.save_weights is not None and len(notes) != 1:
            raise FieldError("`save_weights`", f"needs exactly one input image, got {len(notes)}")
        if self.init_weights is None:
            return notes
        state = _load(self.init_weights)
        try:
            if fitter.members == 1:
                fitter.net.load_state_dict(state)
            else:
                for k in range(fitter.members):
                    load_member(fitter.net, k, fitter.members, state)
        except (RuntimeError, KeyError):
            raise DipbatchError(self.init_weights, "the weights were saved for another net (another "
                                                   "preset, task or channel count)") from None
        return [{**note, "init_weights": str(self.init_weights)} for note in notes]

    def refuse_tiling(self) -> None:
        """Tiles are fitted by nets of their own: there is no one net to start from or to save."""
        if self.init_weights is not None or self.save_weights is not None:
            raise FieldError("`init_weights`/`save_weights`", "do not combine with tiling (`tile`)")

    def finish(self, fitter: Fitter) -> None:
        """Save the first member's final weights, atomically (after the fit stopped: its estimate's)."""
        if self.save_weights is None:
            return
        net = fitter.net
        state = net.state_dict() if fitter.members == 1 else member_state(net, 0, fitter.members)
        with atomic_path(self.save_weights) as tmp:
            torch.save({"format": FORMAT, "net": state}, tmp)


def _load(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DipbatchError(path, "no such weights file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        saved = None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise FieldError(path, "not a weights file written by dipbatch restore `save_weights`", in_file=True)
    return saved["net"]
