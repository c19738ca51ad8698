"""1×1 convolutions computed as matrix products, where that is faster."""

from __future__ import annotations

import torch
from torch import nn


class PointwiseConv(nn.Conv2d):
    """A grouped 1×1 convolution: nn.Conv2d's parameters, initialisation and result, but on the CPU
    one batched GEMM per call. PyTorch's CPU convolution has no fast 1×1 path: at 512² the GEMM
    runs 128→128 channels forward and backward 2.2× faster (benchmarks/RESULTS.md)."""

    def __init__(self, cin: int, cout: int, groups: int = 1, bias: bool = True) -> None:
        super().__init__(cin, cout, 1, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not x.is_contiguous():
            return super().forward(x)  # cuDNN and channels_last have fast 1×1 kernels of their own
        n, c, h, w = x.shape
        g = self.groups
        weight = self.weight.view(g, -1, c // g).repeat(n, 1, 1)
        pixels = x.view(n * g, c // g, h * w)
        if self.bias is None:
            y = torch.bmm(weight, pixels)
        else:
            y = torch.baddbmm(self.bias.view(g, -1, 1).repeat(n, 1, 1), weight, pixels)
        return y.view(n, -1, h, w)
