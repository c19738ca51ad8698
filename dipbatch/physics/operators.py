"""Forward operators: how a task's observation is made from the clean image.

An operator maps the generator's estimate x (1×C×H×W) to the observation domain (1×C×h×w).
The fit loop knows only this interface. Denoising, JPEG deblocking, flash/no-flash and inpainting
observe the image itself (inpainting drops its holes through the loss weight, not the operator);
super-resolution observes it through the paper's Lanczos-2 downsampler; deblurring through a
"valid" convolution with the PSF, so the estimate is larger than the observation by the PSF's
radius on each side and no pixel of the observation depends on made-up boundary values.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch
from torch.nn import functional

SR_FACTORS = (2, 4, 8)


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


def lanczos2_kernel(factor: int) -> np.ndarray:
    """The paper's 4f×4f Lanczos-2 kernel with half-pixel phase, normalised to sum 1.

    get_kernel(factor, 'lanczos', phase=0.5, kernel_width=4f+1, support=2) of the original code.
    """
    size = 4 * factor
    center = (4 * factor + 2) / 2
    d = np.abs(np.arange(1, size + 1) + 0.5 - center) / factor
    with np.errstate(invalid="ignore", divide="ignore"):
        taps = 2 * np.sin(math.pi * d) * np.sin(math.pi * d / 2) / (math.pi ** 2 * d * d)
    taps = np.where(d == 0, 1.0, taps)
    kernel = np.outer(taps, taps)
    return kernel / kernel.sum()


class Downsampler:
    """Super-resolution: the estimate, blurred by the Lanczos-2 kernel and sampled every `factor` px.

    The original's Downsampler(kernel_type='lanczos2', phase=0.5, preserve_size=True): replication
    padding by 3f/2, then a stride-f convolution, so an f·h × f·w estimate gives an h × w observation.
    """

    def __init__(self, factor: int) -> None:
        if factor not in SR_FACTORS:
            raise ValueError(f"the downsampler takes a factor of 2, 4 or 8, not {factor}")
        self.factor = factor
        self.kernel = torch.from_numpy(lanczos2_kernel(factor).astype(np.float32))
        self.pad = (4 * factor - factor) // 2

    def __call__(self, estimate: torch.Tensor) -> torch.Tensor:
        channels = estimate.shape[1]
        if self.kernel.device != estimate.device or self.kernel.dtype != estimate.dtype:
            self.kernel = self.kernel.to(estimate.device, estimate.dtype)
        weight = self.kernel.expand(channels, 1, *self.kernel.shape)
        padded = functional.pad(estimate, (self.pad,) * 4, mode="replicate")
        return functional.conv2d(padded, weight, stride=self.factor, groups=channels)

    def estimate_size(self, observed: tuple[int, int]) -> tuple[int, int]:
        return observed[0] * self.factor, observed[1] * self.factor


#: Kernels wider than this are applied through the FFT (the same numbers, faster).
FFT_KERNEL_PX = 15


class Blur:
    """Deblurring: the estimate convolved with the PSF, keeping only the pixels that the whole
    kernel covers ("valid"): an (h+k-1)×(w+k-1) estimate gives an h×w observation."""

    def __init__(self, kernel: np.ndarray) -> None:
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            raise ValueError(f"the blur takes an odd square kernel, not {kernel.shape}")
        self.kernel = torch.from_numpy(np.ascontiguousarray(kernel, np.float32))
        self.size = kernel.shape[0]

    def __call__(self, estimate: torch.Tensor) -> torch.Tensor:
        if self.kernel.device != estimate.device or self.kernel.dtype != estimate.dtype:
            self.kernel = self.kernel.to(estimate.device, estimate.dtype)
        if self.size > FFT_KERNEL_PX:
            return fft_convolve_valid(estimate, self.kernel)
        channels = estimate.shape[1]
        # conv2d correlates: flip the kernel for a convolution
        weight = torch.flip(self.kernel, (0, 1)).expand(channels, 1, self.size, self.size)
        return functional.conv2d(estimate, weight, groups=channels)

    def estimate_size(self, observed: tuple[int, int]) -> tuple[int, int]:
        return observed[0] + self.size - 1, observed[1] + self.size - 1


def fft_convolve_valid(estimate: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The "valid" part of estimate ∗ kernel through the FFT: exact, without wrap-around, since the
    transform is as large as the full convolution."""
    height, width = estimate.shape[-2:]
    k = kernel.shape[-1]
    size = (height + k - 1, width + k - 1)
    spectrum = torch.fft.rfft2(estimate.float(), s=size) * torch.fft.rfft2(kernel.float(), s=size)
    full = torch.fft.irfft2(spectrum, s=size).to(estimate.dtype)
    return full[..., k - 1:height, k - 1:width]
