"""Clipped noise: the maths of its mean and σ, and the denoised estimate's bias undone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.cli import main
from dipbatch.physics.clipping import ClippedEnds, clipped_ends, clipped_mean, clipped_sigma, unclip
from dipbatch.physics.metrics import noise_sigma, psnr
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, star_field
from dipbatch.run.restore import restore_array

SIGMA = 25 / 255
BOTH = ClippedEnds(0.1, 0.1, 10_000)


@pytest.fixture(scope="module")
def dark_field() -> np.ndarray:
    """A 1×48×48 night sky in [0,1]: a dim background and stars, where clipping at black bites."""
    field = star_field(48, 48, stars=6, background=4, peak=60, seed=4)
    return (field / 255).astype(np.float32)


@pytest.mark.parametrize("x", [-0.05, 0.0, 0.02, 0.1, 0.5, 0.97, 1.0])
def test_the_clipped_mean_is_the_mean_of_clipped_noise(x: float) -> None:
    z = np.random.default_rng(0).normal(0, SIGMA, 400_000)
    assert clipped_mean(np.array([x]), SIGMA, BOTH)[0] == pytest.approx(np.mean(np.clip(x + z, 0, 1)),
                                                                        abs=5e-4)


def test_unclip_inverts_the_clipped_mean_and_a_mean_below_black_is_black() -> None:
    x = np.linspace(0, 1, 101)
    assert np.allclose(unclip(clipped_mean(x, SIGMA, BOTH), SIGMA, BOTH), x, atol=1e-4)
    assert unclip(np.array([0.01]), SIGMA, BOTH)[0] == 0.0  # a zero signal's mean is 0.4σ = 0.039
    low_only = ClippedEnds(0.1, 0.0, 10_000)  # the top not clipped: bright values stay as they are
    assert unclip(np.array([0.95]), SIGMA, low_only)[0] == pytest.approx(0.95, abs=1e-4)


def test_the_censored_likelihood_finds_the_sigma_that_the_wavelet_estimate_misses(
        dark_field: np.ndarray) -> None:
    noisy = add_gaussian_noise(dark_field, SIGMA, seed=1)
    ends = clipped_ends(noisy)
    assert ends.at_low and not ends.at_high and ends.low > 0.2
    assert noise_sigma(noisy) < 0.85 * SIGMA  # clipping hides a sixth of the noise and more
    mean = clipped_mean(dark_field, SIGMA, ends)
    assert clipped_sigma(noisy, mean, ends) == pytest.approx(SIGMA, rel=0.05)


def test_a_float_frame_scaled_by_its_extremes_is_not_clipped(dark_field: np.ndarray) -> None:
    noisy = add_gaussian_noise(dark_field, SIGMA, seed=1, clip=False)
    scaled = (noisy - noisy.min()) / (noisy.max() - noisy.min())  # one sample at each end
    assert not clipped_ends(scaled).clipped
    assert not clipped_ends(np.full((1, 4, 4), np.nan)).clipped


def test_a_dark_frame_with_clipped_noise_gains_from_declipping(dark_field: np.ndarray) -> None:
    noisy = add_gaussian_noise(dark_field, SIGMA, seed=1)
    common = dict(preset="tiny", iterations=200, device="cpu", ensemble=1, fusion="off")
    plain = restore_array(noisy, declip="off", **common)
    fixed = restore_array(noisy, **common)
    assert "declip" not in plain.record
    block = fixed.record["declip"]
    assert block["applied"] and block["sigma_from"] == "censored likelihood"
    assert block["sigma"] == pytest.approx(SIGMA, rel=0.15) and block["clipped_low"] > 0.2
    assert block["mean_shift"] < 0  # a dark frame's estimate was too bright
    assert psnr(dark_field, fixed.estimate) > psnr(dark_field, plain.estimate) + 1.0


def test_noise_that_was_not_clipped_or_not_gaussian_is_left_as_it_is() -> None:
    grey = np.full((1, 32, 32), 0.5, np.float32)
    noisy = add_gaussian_noise(grey, 10 / 255, seed=0)  # far from both ends: nothing clipped
    result = restore_array(noisy, preset="tiny", iterations=5, device="cpu", ensemble=1)
    assert not result.record["declip"]["applied"] and "not clipped" in result.record["declip"]["reason"]
    counts = add_poisson_noise(np.full((1, 32, 32), 2.0, np.float32), seed=0) / 30  # many zeros
    poisson = restore_array(counts, preset="tiny", iterations=5, device="cpu", ensemble=1,
                            noise="poisson", gain=30)
    assert poisson.record["declip"]["reason"] == "the noise model is not Gaussian"
    assert "declip" not in restore_array(noisy, task="sr", factor=2, preset="tiny", iterations=3,
                                         device="cpu").record  # only denoising declips


def _write_png(path: Path, image: np.ndarray) -> Path:
    PILImage.fromarray(np.round(image[0] * 255).astype(np.uint8)).save(path)
    return path


def test_the_cli_declips_records_how_and_takes_a_given_sigma(tmp_path: Path, dark_field: np.ndarray) -> None:
    image = _write_png(tmp_path / "sky.png", add_gaussian_noise(dark_field, SIGMA, seed=1))
    common = ["restore", str(image), "--preset", "tiny", "--iterations", "20", "--quiet", "--device", "cpu",
              "--ensemble", "1", "-o"]
    fitted = CliRunner().invoke(main, [*common, str(tmp_path / "fitted.png")])
    given = CliRunner().invoke(main, [*common, str(tmp_path / "given.png"), "--sigma", "25"])
    off = CliRunner().invoke(main, [*common, str(tmp_path / "off.png"), "--declip", "off"])
    for run in (fitted, given, off):
        assert run.exit_code == 0, run.stderr
    record = json.loads((tmp_path / "fitted.png.json").read_text())
    assert record["declip"]["applied"] and record["declip"]["sigma_from"] == "censored likelihood"
    assert record["params"]["declip"] == "auto"
    block = json.loads((tmp_path / "given.png.json").read_text())["declip"]
    assert block["sigma_from"] == "given" and block["sigma"] == pytest.approx(SIGMA)
    assert "declip" not in json.loads((tmp_path / "off.png.json").read_text())
    darker = np.asarray(PILImage.open(tmp_path / "fitted.png"), np.float64).mean()
    assert darker < np.asarray(PILImage.open(tmp_path / "off.png"), np.float64).mean()
    bad = CliRunner().invoke(main, [*common, str(tmp_path / "bad.png"), "--declip", "maybe"])
    assert bad.exit_code == 2 and "'maybe' is not one of" in bad.stderr
