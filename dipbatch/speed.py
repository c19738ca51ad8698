"""How a fit runs fast: precision, memory layout, compilation and backend flags (never the maths)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "tf32", "bf16")


@dataclass(frozen=True)
class SpeedOptions:
    """`auto` picks per device: bf16 autocast, channels_last and cuDNN autotuning on CUDA; fp32 on CPU."""

    precision: str = "auto"  # "auto" | "fp32" | "tf32" | "bf16"
    channels_last: bool | None = None  # None: auto
    compile: bool = False
    deterministic: bool = False


    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast dtype, or None for plain fp32/TF32. Weights, loss and EMA stay fp32."""
        precision = self.precision
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        return torch.bfloat16 if precision == "bf16" else None

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

