"""Presets as data: each task's recipes, printable and recorded verbatim in the sidecar."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from dipbatch.errors import DipbatchError
from dipbatch.nets import NetSpec


@dataclass(frozen=True)
class FitSpec:
    """The optimisation recipe."""

    iterations: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 1.0 / 30.0
    ema: float | None = 0.99  # weight of the output's exponential moving average; None: no EMA
    input: str = "noise"  # "noise" | "meshgrid" | "guide"
    input_scale: float = 0.1  # z ~ U(0,1) × input_scale


@dataclass(frozen=True)
class Preset:
    name: str
    net: NetSpec = field(default_factory=NetSpec)
    fit: FitSpec = field(default_factory=FitSpec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FAST_NET = NetSpec(channels_down=(32,) * 5, channels_up=(32,) * 5, channels_skip=(4,) * 5,
                    input_depth=16)
_TINY_NET = NetSpec(channels_down=(16,) * 3, channels_up=(16,) * 3, channels_skip=(4,) * 3,
                    upsample=("bilinear",) * 3, input_depth=8)

# PRESETS[task][name]. The `paper` presets are the notebooks' recipes (shared/notes/dip_reference.md §1).
PRESETS: dict[str, dict[str, Preset]] = {
    "denoise": {
        "paper": Preset("paper", NetSpec(), FitSpec(iterations=3000)),
        "fast": Preset("fast", _FAST_NET, FitSpec(iterations=1200)),
        "tiny": Preset("tiny", _TINY_NET, FitSpec(iterations=300)),
    },
}

PRESET_NAMES = ("paper", "fast", "tiny")


def get_preset(task: str, name: str, **fit_overrides: Any) -> Preset:
    """The preset `name` of `task`, with optional FitSpec fields overridden (None means keep)."""
    try:
        preset = PRESETS[task][name]
    except KeyError:
        raise DipbatchError(f"--preset {name}", f"no such preset for task '{task}'") from None
    overrides = {k: v for k, v in fit_overrides.items() if v is not None}
    return replace(preset, fit=replace(preset.fit, **overrides)) if overrides else preset
