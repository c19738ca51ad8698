"""How a fit runs fast: precision, memory layout, compilation and backend flags (never the maths)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "tf32", "bf16")


@dataclass(frozen=True)
class SpeedOptions:
    """`auto` picks per device: bf16 autocast, channels_last, cuDNN autotuning and grouped members
    on CUDA; fp32 and members fitted in turn (separate) on CPU."""

    precision: str = "auto"  # "auto" | "fp32" | "tf32" | "bf16"
    channels_last: bool | None = None  # None: auto
    compile: bool = False
    deterministic: bool = False
    layout: str = "auto"  # "auto" | "grouped" | "separate": how several members are computed

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype, or None for plain fp32/TF32. Weights, loss and EMA stay fp32."""
        precision = self.precision
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        return torch.bfloat16 if precision == "bf16" else None

    def member_layout(self, device: torch.device) -> str:
        """Grouped convolutions for several members on a GPU; on a CPU, which has no fast grouped
        convolution, each member through ordinary ones, in turn (benchmarks/RESULTS.md)."""
        if self.layout != "auto":
            return self.layout
        return "separate" if device.type == "cpu" else "grouped"

    def use_channels_last(self, device: torch.device) -> bool:
        return self.channels_last if self.channels_last is not None else device.type == "cuda"


def configure_backends(options: SpeedOptions, device: torch.device) -> None:
    """Global backend flags: TF32 matmuls/convs, cuDNN autotuning unless --deterministic."""
    if device.type != "cuda":
        return
    tf32 = options.precision in ("auto", "tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = not options.deterministic
    torch.backends.cudnn.deterministic = options.deterministic

