"""The report's metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dipbatch.physics.metrics import noise_sigma, psnr, ssim

MAD_TO_SIGMA = 0.6744897501960817  # the 75th percentile of the standard normal distribution


def test_psnr_of_a_uniform_error_of_one_tenth_is_20_db():
    reference = np.zeros((3, 8, 8), np.float32)
    assert psnr(reference, reference + 0.1) == pytest.approx(20.0, abs=1e-5)


def test_psnr_averages_the_squared_error_over_all_pixels():
    reference = np.zeros((1, 2, 2))
    estimate = np.array([[[0.1, 0.3], [0.0, 0.0]]])
    # MSE = (0.01 + 0.09) / 4 = 0.025, PSNR = 10 log10(1 / 0.025) = 10 log10(40)
    assert psnr(reference, estimate) == pytest.approx(10 * math.log10(40))


def test_psnr_with_an_8_bit_peak():
    reference = np.zeros((1, 4, 4))
    assert psnr(reference, reference + 5, peak=255) == pytest.approx(10 * math.log10(255**2 / 25))


def test_psnr_of_identical_images_is_infinite():
    image = np.random.default_rng(0).random((3, 5, 5))
    assert psnr(image, image) == math.inf


def test_ssim_of_two_flat_images_is_the_luminance_term():
    # Flat images have no variance, so contrast and structure give (0 + C2) / (0 + C2) = 1, and
    # SSIM = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * data range)^2.
    a, b, c1 = 0.5, 0.4, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((3, 16, 16), a), np.full((3, 16, 16), b)) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.97562, abs=1e-5)


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    rng = np.random.default_rng(1)
    image = rng.random((1, 24, 24))
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(image, np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1)) < 0.9


def test_ssim_of_an_image_too_small_for_a_window_is_nan():
    assert math.isnan(ssim(np.zeros((1, 2, 2)), np.zeros((1, 2, 2))))


def checkerboard(amplitude: float, size: int = 16) -> np.ndarray:
    """0.5 ± amplitude in a one-pixel checkerboard."""
    y, x = np.indices((size, size))
    return 0.5 + amplitude * np.where((x + y) % 2 == 0, 1.0, -1.0)


def test_noise_sigma_of_a_checkerboard_by_hand():
    # Every 2×2 Haar block [[+h, -h], [-h, +h]] has the diagonal detail (h + h + h + h) / 2 = 2h, so
    # the median absolute detail is 2h and sigma = 2h / 0.6745.
    h = 0.05
    expected = 2 * h / MAD_TO_SIGMA
    assert noise_sigma(checkerboard(h)[None]) == pytest.approx(expected, rel=1e-6)
    colour = np.stack([checkerboard(h), checkerboard(2 * h), checkerboard(3 * h)])
    assert noise_sigma(colour) == pytest.approx(2 * expected, rel=1e-6)  # mean of the channels


def test_noise_sigma_of_white_gaussian_noise():
    rng = np.random.default_rng(2)
    noisy = 0.5 + rng.normal(0, 0.1, (1, 256, 256))
    assert noise_sigma(noisy) == pytest.approx(0.1, rel=0.04)  # the median of 128² details: ±2 %
    assert noise_sigma(np.full((1, 64, 64), 0.5)) == pytest.approx(0.0, abs=1e-12)


def test_noise_sigma_ignores_nan_and_declines_tiny_images():
    image = checkerboard(0.05)[None].copy()
    image[0, 0, 0] = np.nan
    assert noise_sigma(image) == pytest.approx(2 * 0.05 / MAD_TO_SIGMA, rel=0.05)
    assert noise_sigma(np.zeros((1, 3, 8))) is None
