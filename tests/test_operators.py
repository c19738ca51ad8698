"""Forward operators: the paper's Lanczos-2 downsampler, checked against the original code's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dipbatch.physics.operators import Downsampler, Identity, lanczos2_kernel


def original_lanczos_kernel(factor: int) -> np.ndarray:
    """get_kernel(factor, 'lanczos', phase=0.5, kernel_width=4f+1, support=2), transcribed line by line."""
    kernel_width, support = 4 * factor + 1, 2
    kernel = np.zeros([kernel_width - 1, kernel_width - 1])
    center = (kernel_width + 1) / 2.0
    for i in range(1, kernel.shape[0] + 1):
        for j in range(1, kernel.shape[1] + 1):
            di = abs(i + 0.5 - center) / factor
            dj = abs(j + 0.5 - center) / factor
            val = 1.0
            if di != 0:
                val = val * support * np.sin(np.pi * di) * np.sin(np.pi * di / support)
                val = val / (np.pi * np.pi * di * di)
            if dj != 0:
                val = val * support * np.sin(np.pi * dj) * np.sin(np.pi * dj / support)
                val = val / (np.pi * np.pi * dj * dj)
            kernel[i - 1][j - 1] = val
    return kernel / kernel.sum()


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_kernel_is_the_original_one(factor: int) -> None:
    kernel = lanczos2_kernel(factor)
    assert kernel.shape == (4 * factor, 4 * factor)
    np.testing.assert_allclose(kernel, original_lanczos_kernel(factor), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("factor", "size"), [(2, (7, 10)), (4, (13, 9)), (8, (5, 6))])
def test_any_observation_size_gets_an_estimate_factor_times_larger(factor: int,
                                                                  size: tuple[int, int]) -> None:
    operator = Downsampler(factor)
    big = operator.estimate_size(size)
    assert big == (size[0] * factor, size[1] * factor)
    estimate = torch.rand(1, 3, *big)
    assert operator(estimate).shape == (1, 3, *size)


def test_downsampling_matches_the_original_module() -> None:
    """ReplicationPad2d((4f-f)/2) then a stride-f Conv2d whose weight is the kernel on the diagonal."""
    factor = 4
    estimate = torch.rand(1, 3, 40, 24, dtype=torch.float64)
    kernel = torch.from_numpy(original_lanczos_kernel(factor))
    conv = torch.nn.Conv2d(3, 3, kernel.shape, stride=factor, bias=False).double()
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(3):
            conv.weight[c, c] = kernel
        expected = conv(torch.nn.ReplicationPad2d((4 * factor - factor) // 2)(estimate))
    np.testing.assert_allclose(Downsampler(factor)(estimate).numpy(), expected.numpy(), atol=1e-12)


def test_flat_image_stays_flat_and_gradients_flow() -> None:
    estimate = torch.full((1, 1, 32, 32), 0.3, requires_grad=True)
    low = Downsampler(2)(estimate)
    np.testing.assert_allclose(low.detach().numpy(), 0.3, atol=1e-6)
    low.sum().backward()
    assert estimate.grad is not None and float(estimate.grad.abs().sum()) > 0


def test_identity_and_bad_factor() -> None:
    x = torch.rand(1, 3, 5, 7)
    assert Identity()(x) is x and Identity().estimate_size((5, 7)) == (5, 7)
    with pytest.raises(ValueError, match="2, 4 or 8"):
        Downsampler(3)
