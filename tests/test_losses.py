"""Data-fit terms: masked MSE, the Poisson deviance and the generalized Anscombe transform, in electrons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dipbatch.physics import losses
from dipbatch.physics.losses import Photometry


def test_masked_mse_ignores_weight_zero_pixels() -> None:
    predicted, observed = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    weight = (torch.rand(1, 8, 8) > 0.5).float()
    changed = torch.where(weight > 0, observed, torch.rand(1, 3, 8, 8))
    assert losses.gaussian(predicted, observed, weight) == losses.gaussian(predicted, changed, weight)
    assert losses.gaussian(predicted, observed, weight) < losses.gaussian(predicted, observed)


def test_electrons_use_the_stored_range_offset_and_gain() -> None:
    photometry = Photometry(value_range=(100.0, 1100.0), gain=2.0, offset=100.0)
    x = torch.tensor([0.0, 0.5, 1.0])
    assert photometry.electrons(x).tolist() == [0.0, 1000.0, 2000.0]


def test_poisson_deviance_is_zero_at_the_counts_and_has_the_nll_gradient() -> None:
    counts = torch.tensor([0.0, 1.0, 3.0, 40.0, 1000.0], dtype=torch.float64)
    assert torch.allclose(losses.poisson_deviance(counts.clamp_min(1e-3), counts),
                          torch.zeros(5, dtype=torch.float64), atol=1e-3)
    rate = torch.tensor([0.5, 2.0, 2.5, 35.0, 1100.0], dtype=torch.float64, requires_grad=True)
    assert (losses.poisson_deviance(rate, counts) > 0).all()
    losses.poisson_deviance(rate, counts).sum().backward()
    ours = rate.grad.clone()
    rate.grad = None
    torch.nn.functional.poisson_nll_loss(rate, counts, log_input=False, reduction="sum", eps=0).backward()
    torch.testing.assert_close(ours, rate.grad)


def test_poisson_loss_prefers_the_true_rate() -> None:
    """With counts drawn from a known rate, the true rate scores better than a 20 % brighter one."""
    rng = np.random.default_rng(0)
    rate = rng.uniform(0.5, 30.0, (1, 1, 64, 64))
    photometry = Photometry(value_range=(0.0, 40.0))
    observed = torch.from_numpy(rng.poisson(rate) / 40.0)
    truth = torch.from_numpy(rate / 40.0)
    assert losses.poisson(truth, observed, photometry=photometry) < \
        losses.poisson(truth * 1.2, observed, photometry=photometry)


def test_generalized_anscombe_is_the_adu_formula() -> None:
    """dip_methods.md: T(y) = (2/α)·sqrt(α·y + 3α²/8 + σ_r²), y and σ_r in ADU, α = 1/gain."""
    gain, read_noise_e = 2.5, 4.0
    adu = torch.tensor([0.0, 3.0, 50.0, 4000.0], dtype=torch.float64)
    alpha, sigma_adu = 1 / gain, read_noise_e / gain
    expected = (2 / alpha) * torch.sqrt(alpha * adu + 0.375 * alpha ** 2 + sigma_adu ** 2)
    torch.testing.assert_close(losses.generalized_anscombe(adu * gain, read_noise_e), expected)


@pytest.mark.parametrize("rate", [5.0, 30.0, 500.0])
def test_generalized_anscombe_stabilises_the_variance(rate: float) -> None:
    """Poisson-Gaussian counts come out with a standard deviation near 1, whatever their level."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(rate, 200_000) + rng.normal(0.0, 3.0, 200_000)
    transformed = losses.generalized_anscombe(torch.from_numpy(counts), read_noise=3.0)
    assert float(transformed.std()) == pytest.approx(1.0, abs=0.05)


def test_poisson_gaussian_loss_is_about_one_per_pixel_at_the_truth() -> None:
    rng = np.random.default_rng(2)
    rate = rng.uniform(5.0, 200.0, (1, 1, 128, 128))
    adu = (rng.poisson(rate) + rng.normal(0.0, 2.0, rate.shape)) / 0.5 + 300.0  # gain 0.5 e-/ADU, bias 300
    lo, hi = float(adu.min()), float(adu.max())
    photometry = Photometry(value_range=(lo, hi), gain=0.5, offset=300.0, read_noise=2.0)
    to_unit = lambda a: torch.from_numpy((a - lo) / (hi - lo))  # noqa: E731
    truth = to_unit(rate / 0.5 + 300.0)
    loss = losses.poisson_gaussian(truth, to_unit(adu), photometry=photometry)
    assert float(loss) == pytest.approx(1.0, abs=0.06)


def test_total_variation_is_zero_on_a_flat_image_and_counts_an_edge_once_per_row() -> None:
    flat = torch.full((1, 1, 4, 5), 0.3)
    assert float(losses.total_variation(flat)) == 0.0
    edge = flat.clone()
    edge[..., 2:] = 0.8  # a vertical edge of height 0.5: one jump in each row's 4 horizontal pairs
    assert float(losses.total_variation(edge)) == pytest.approx(0.5 / 4)
    noisy = edge + 0.05 * torch.randn(edge.shape, generator=torch.Generator().manual_seed(0))
    assert losses.total_variation(noisy) > losses.total_variation(edge)
