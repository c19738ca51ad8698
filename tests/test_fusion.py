"""Fusion with a classical denoiser: the maths, the fused estimate's gain, and what it records."""

from __future__ import annotations

import json
from functools import partial
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image as PILImage
from skimage import data
from skimage.transform import resize

from dipbatch.cli import main
from dipbatch.errors import FieldError
from dipbatch.fit.fusion import DCT_FROM_SIGMA, FusionOptions, fit_share, fuse, noise_domain, partner
from dipbatch.fit.problem import Problem
from dipbatch.io.images import read_image
from dipbatch.physics import losses
from dipbatch.physics.classical import (
    anscombe,
    blend,
    dct_threshold,
    disagreement,
    inverse_anscombe,
    nl_means,
    nl_means_and_dct,
    wiener,
)
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, scene, star_field
from dipbatch.run.doubts import result_warnings
from dipbatch.run.restore import restore_array

SIGMA = 25 / 255


@pytest.fixture(scope="module")
def coffee64() -> np.ndarray:
    """A 64×64 crop of scikit-image's coffee photo, C×H×W in [0,1]: texture, where priors differ."""
    photo = resize(data.coffee(), (96, 128), anti_aliasing=True).astype(np.float32)
    return np.ascontiguousarray(np.moveaxis(photo[16:80, 32:96], -1, 0))


@pytest.mark.parametrize("rate", [0.5, 3.0, 20.0, 300.0])
def test_the_inverse_anscombe_is_unbiased_for_counts(rate: float) -> None:
    counts = np.random.default_rng(0).poisson(rate, 200_000)
    assert inverse_anscombe(np.mean(anscombe(counts))) == pytest.approx(rate, rel=0.03, abs=0.02)
    assert np.std(anscombe(counts)) == pytest.approx(1.0, abs=0.1 if rate >= 3 else 0.35)


def test_read_noise_is_stabilised_too() -> None:
    rng = np.random.default_rng(1)
    electrons = rng.poisson(40.0, 200_000) + rng.normal(0, 5.0, 200_000)
    z = anscombe(electrons, read_noise=5.0)
    assert np.std(z) == pytest.approx(1.0, abs=0.05)
    assert inverse_anscombe(np.mean(z), read_noise=5.0) == pytest.approx(40.0, rel=0.03)


def test_nl_means_and_blend_and_disagreement_are_what_they_say() -> None:
    clean = scene(48, 48, 3, seed=4)
    noisy = add_gaussian_noise(clean, SIGMA, seed=5)
    smooth = nl_means(noisy, SIGMA)
    assert smooth.shape == noisy.shape and smooth.dtype == np.float32
    assert psnr(clean, smooth) > psnr(clean, noisy) + 5
    assert np.allclose(blend(noisy, smooth, 0.25), 0.25 * noisy + 0.75 * smooth, atol=1e-6)
    assert disagreement(clean, clean + SIGMA, SIGMA) == pytest.approx(1.0)


def test_the_wiener_filter_with_a_good_pilot_beats_the_pilot_and_keeps_flat_images_flat() -> None:
    clean = scene(48, 48, 3, seed=4)
    noisy = add_gaussian_noise(clean, SIGMA, seed=5, clip=False)
    pilot = nl_means(noisy, SIGMA)
    refined = wiener(noisy, pilot, SIGMA)
    assert refined.shape == noisy.shape and psnr(clean, refined) > psnr(clean, pilot)
    assert np.allclose(wiener(np.full((1, 16, 16), 0.4), np.full((1, 16, 16), 0.4), SIGMA), 0.4, atol=1e-6)
    assert np.array_equal(wiener(noisy[:, :3, :3], pilot[:, :3, :3], SIGMA), pilot[:, :3, :3])  # too small


def test_a_fused_estimate_beats_both_the_fit_and_nl_means(coffee64: np.ndarray) -> None:
    noisy = add_gaussian_noise(coffee64, SIGMA, seed=2)
    fit = restore_array(noisy, preset="tiny", iterations=900, device="cpu", ensemble=1, fusion="off")
    assert "fusion" not in fit.record
    fused = fuse(fit, Problem(torch.from_numpy(noisy)), FusionOptions(fusion="nl-means"))
    classical = nl_means(noisy, fused.record["fusion"]["sigma"])
    assert psnr(coffee64, fused.estimate) > psnr(coffee64, fit.estimate) + 0.1
    assert psnr(coffee64, fused.estimate) > psnr(coffee64, classical) + 0.1
    block = fused.record["fusion"]
    assert block["method"] == "nl-means"
    assert block["weight"] == fit_share("nl-means", "gaussian", block["sigma"])
    assert block["sigma"] == pytest.approx(SIGMA, rel=0.15) and not block["disagrees"]
    pilot = blend(fit.estimate, classical, block["weight"])
    assert np.allclose(fused.estimate, (pilot + wiener(noisy, pilot, block["sigma"])) / 2, atol=1e-5)
    assert block["refined"] == "mean with its Wiener filter [4, 6, 8]"


def test_the_dct_denoiser_beats_nl_means_on_colour_at_strong_noise(coffee64: np.ndarray) -> None:
    """Half of `auto`'s partner from σ 16/255 up: sliding DCT hard thresholding in opponent colours."""
    noisy = add_gaussian_noise(coffee64, SIGMA, seed=2)
    smooth = dct_threshold(noisy, SIGMA)
    assert smooth.shape == noisy.shape and smooth.dtype == np.float32
    assert psnr(coffee64, smooth) > psnr(coffee64, noisy) + 5
    assert psnr(coffee64, smooth) > psnr(coffee64, nl_means(noisy, SIGMA)) + 0.3
    flat = np.full((3, 16, 16), 0.4)
    assert np.allclose(dct_threshold(flat, SIGMA), 0.4, atol=1e-6)  # a flat image stays flat
    assert np.array_equal(dct_threshold(noisy[:, :5, :5], SIGMA), noisy[:, :5, :5])  # smaller than a patch


def test_auto_fuses_with_nl_means_and_the_dct_denoiser_at_strong_gaussian_noise_only(
        coffee64: np.ndarray) -> None:
    strong = partner("auto", "gaussian", 25 / 255)
    assert strong == partner("auto", "gaussian", DCT_FROM_SIGMA) == "nl-means+dct"
    assert partner("auto", "gaussian", 10 / 255) == "nl-means"
    assert partner("auto", "gaussian", 25 / 255, dip_sure=True) == "nl-means"  # tuned beside DIP-SURE
    assert partner("auto", "poisson", 1.0) == partner("auto", "poisson-gaussian", 1.0) == "nl-means"
    assert partner("nl-means", "gaussian", 50 / 255) == "nl-means"  # a method given is kept
    noisy = add_gaussian_noise(coffee64, SIGMA, seed=2)
    fit = restore_array(noisy, preset="tiny", iterations=900, device="cpu", ensemble=1, fusion="off")
    fused = fuse(fit, Problem(torch.from_numpy(noisy)), FusionOptions())
    block = fused.record["fusion"]
    assert block["method"] == "nl-means+dct" and block["chosen"] == "auto"
    assert block["weight"] == fit_share("nl-means+dct", "gaussian", block["sigma"]) == 0.6
    sigma = block["sigma"]
    classical = nl_means_and_dct(noisy, sigma)
    assert np.allclose(classical, (nl_means(noisy, sigma) + dct_threshold(noisy, sigma)) / 2, atol=1e-6)
    pilot = blend(fit.estimate, classical, 0.6)
    assert np.allclose(fused.estimate, (pilot + wiener(noisy, pilot, block["sigma"])) / 2, atol=1e-5)
    assert psnr(coffee64, fused.estimate) > psnr(coffee64, fit.estimate) + 0.1
    assert psnr(coffee64, fused.estimate) > psnr(coffee64, classical) + 0.1


def test_restore_array_fuses_by_default_and_records_the_weights(noisy_rgb: np.ndarray) -> None:
    result = restore_array(noisy_rgb, preset="tiny", iterations=5, device="cpu", fusion_weight=0.6)
    assert result.record["fusion"]["weight"] == 0.6 and result.record["fusion"]["chosen"] == "auto"
    assert "fusion" not in restore_array(noisy_rgb, task="sr", factor=2, preset="tiny", iterations=3,
                                         device="cpu").record  # only denoising fuses
    with pytest.raises(FieldError, match="fusion_weight"):
        restore_array(noisy_rgb, preset="tiny", iterations=1, device="cpu", fusion_weight=1.5)


def test_photon_counts_are_fused_through_the_anscombe_domain_and_keep_their_flux() -> None:
    peak = 30.0
    field = star_field(48, 48, stars=8, background=5, peak=peak, seed=2) / peak
    counts = add_poisson_noise(field * peak, seed=3) / peak
    photometry = losses.Photometry(gain=peak)
    unknown = Problem(torch.from_numpy(counts), datafit=lambda p, o, w=None: losses.poisson(
        p, o, w, photometry=photometry))
    assert isinstance(noise_domain(unknown), str)  # a data-fit it does not know: no domain
    known = partial(losses.poisson, photometry=photometry)
    domain = noise_domain(Problem(torch.from_numpy(counts), datafit=known))
    assert not isinstance(domain, str) and domain.noise == "poisson" and domain.sigma == 1.0
    classical = domain.inverse(nl_means(domain.forward(counts), 1.0))
    assert classical.sum() == pytest.approx(counts.sum(), rel=0.03)  # the unbiased inverse keeps flux
    assert psnr(field, classical) > psnr(field, counts) + 3
    result = restore_array(counts, preset="tiny", iterations=20, device="cpu", noise="poisson", gain=peak)
    assert result.record["fusion"]["domain"] == "poisson"


def test_the_fits_share_follows_the_noise_level_it_was_tuned_at() -> None:
    share = partial(fit_share, "nl-means")
    assert share("gaussian", 15 / 255) == 0.6 and share("gaussian", 25 / 255) == 0.7
    assert share("gaussian", 50 / 255) == 1.0 and share("gaussian", 0.5) == 1.0  # the fit alone
    assert share("gaussian", 5 / 255) == 0.6 and 0.7 < share("gaussian", 40 / 255) < 1.0
    assert share("poisson", 1.0) == share("poisson-gaussian", 1.0) == 0.7
    assert fit_share("bm3d", "gaussian", 25 / 255) == 0.25  # BM3D is the stronger partner


def test_a_disagreement_far_above_the_noise_is_a_warning() -> None:
    record = {"fusion": {"method": "nl-means", "disagreement": 2.5, "disagrees": True}}
    assert any("disagree by 2.50 σ" in w for w in result_warnings(record))
    assert not result_warnings({"fusion": {"method": "nl-means", "disagreement": 0.3, "disagrees": False}})


def test_the_cli_records_the_fusion_in_the_sidecar_and_off_leaves_the_fit_alone(
        tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    image = tmp_path / "in.png"
    PILImage.fromarray(np.round(np.moveaxis(noisy_rgb, 0, -1) * 255).astype(np.uint8)).save(image)
    common = ["restore", str(image), "--preset", "tiny", "--iterations", "20", "--quiet", "--device", "cpu",
              "--ensemble", "1", "-o"]
    fused = CliRunner().invoke(main, [*common, str(tmp_path / "fused.png")])
    alone = CliRunner().invoke(main, [*common, str(tmp_path / "alone.png"), "--fusion", "off"])
    assert fused.exit_code == 0 and alone.exit_code == 0, fused.stderr + alone.stderr
    record = json.loads((tmp_path / "fused.png.json").read_text())
    assert record["fusion"]["method"] == "nl-means+dct" and record["fusion"]["chosen"] == "auto"  # σ 25
    assert record["params"]["fusion_options"]["fusion"] == "auto"
    assert "fusion" not in json.loads((tmp_path / "alone.png.json").read_text())
    fused_pixels, alone_pixels = (read_image(tmp_path / name).data for name in ("fused.png", "alone.png"))
    assert not np.array_equal(fused_pixels, alone_pixels)
    stretched = CliRunner().invoke(main, [*common, str(tmp_path / "st.png"), "--stretch", "linear"])
    assert stretched.exit_code == 0, stretched.stderr
    assert "not the same everywhere" in json.loads((tmp_path / "st.png.json").read_text())["fusion"]["reason"]


def test_a_bad_fusion_value_is_a_one_line_usage_error(tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    image = tmp_path / "in.png"
    PILImage.fromarray(np.round(np.moveaxis(noisy_rgb, 0, -1) * 255).astype(np.uint8)).save(image)
    result = CliRunner().invoke(main, ["restore", str(image), "-o", str(tmp_path / "o.png"),
                                       "--fusion", "median"])
    assert result.exit_code == 2 and "'median' is not one of" in result.stderr


@pytest.mark.skipif(find_spec("bm3d") is not None, reason="bm3d is installed here (the bench extra)")
def test_bm3d_without_its_package_is_refused_before_any_fit() -> None:
    with pytest.raises(FieldError, match="non-commercial"):
        FusionOptions(fusion="bm3d").check()


@pytest.mark.skipif(find_spec("bm3d") is None, reason="needs the optional bm3d package (bench extra)")
def test_bm3d_fusion_where_the_package_is_installed(noisy_rgb: np.ndarray, clean_rgb: np.ndarray) -> None:
    result = restore_array(noisy_rgb, preset="tiny", iterations=300, device="cpu", fusion="bm3d")
    block = result.record["fusion"]
    assert block["method"] == "bm3d" and "refined" not in block
    assert block["weight"] == pytest.approx(0.25, abs=0.01)
    assert psnr(clean_rgb, result.estimate) > psnr(clean_rgb, noisy_rgb) + 3
