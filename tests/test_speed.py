"""The fast paths run on the CPU too: bf16 autocast, channels_last, compilation off by default."""

from __future__ import annotations

import numpy as np
import torch

from dipbatch.fit import Fitter, Problem
from dipbatch.metrics import psnr
from dipbatch.presets import get_preset
from dipbatch.speed import SpeedOptions


def test_bf16_autocast_and_channels_last_on_cpu(clean_rgb: np.ndarray, noisy_rgb: np.ndarray) -> None:
    preset = get_preset("denoise", "tiny", iterations=120)
    problem = Problem(torch.from_numpy(noisy_rgb))
    plain = Fitter([problem], preset, [0]).run()[0]
    fast = Fitter([problem], preset, [0],
                  speed=SpeedOptions(precision="bf16", channels_last=True))
    assert fast.autocast == torch.bfloat16
    assert fast.net[1].weight.is_contiguous(memory_format=torch.channels_last)
    amp = fast.run()[0]
    assert amp.estimate.dtype == np.float32
    # bf16 follows the same trajectory closely enough that the quality is the same
    assert abs(psnr(clean_rgb, amp.estimate) - psnr(clean_rgb, plain.estimate)) < 0.5
    assert psnr(clean_rgb, amp.estimate) > psnr(clean_rgb, noisy_rgb) + 2


def test_auto_precision_is_fp32_on_cpu_and_bf16_on_cuda() -> None:
    options = SpeedOptions()
    assert options.autocast_dtype(torch.device("cpu")) is None
    assert options.autocast_dtype(torch.device("cuda")) == torch.bfloat16
    assert not options.use_channels_last(torch.device("cpu"))
    assert options.use_channels_last(torch.device("cuda"))
    assert SpeedOptions(precision="fp32").autocast_dtype(torch.device("cuda")) is None
