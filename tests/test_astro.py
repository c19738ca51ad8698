"""Astronomy frames: stretches with exact inverses, FITS kept bit for bit, bad pixels, star protection,
and restores of a 16-bit star field that keep its dtype, range, header, stars and blank pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.astro import AstroOptions, prepare
from dipbatch.astro.masks import sigma_clip_mask
from dipbatch.astro.stretch import fit_stretch
from dipbatch.cli import main
from dipbatch.io.images import read_image, write_image
from dipbatch.physics.synthetic import add_poisson_noise, star_field

fits = pytest.importorskip("astropy.io.fits")

SKY = 30.0


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stars() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean counts, noisy uint16 counts with hot pixels, hot pixel indices) of a 64×64 field."""
    clean = star_field(64, 64, stars=10, background=SKY, peak=3000, seed=3)[0]
    noisy = add_poisson_noise(clean, seed=4)
    hot = np.random.default_rng(5).choice(clean.size, 8, replace=False)
    noisy.flat[hot] += 2000
    return clean, noisy.astype(np.uint16), hot


def _restore(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["restore", *(str(a) for a in args), "--preset", "tiny", "--quiet",
                                       "--threads", "1"])
    return result.exit_code, result.stderr


# ------------------------------------------------------------------------------ pure functions


@pytest.mark.parametrize("kind", ["linear", "asinh"])
def test_stretches_invert_exactly(kind: str, stars) -> None:
    data = stars[1][None] / 65535.0
    stretch = fit_stretch(data, kind)
    y = stretch.forward(data)
    np.testing.assert_allclose(stretch.inverse(y), data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stretch.forward(np.array([stretch.lo, stretch.hi])), [0.0, 1.0])
    assert np.all(np.diff(stretch.forward(np.linspace(0, 1, 1000))) > 0)  # order kept
    sky = np.median(y)
    assert (sky > 0.05) if kind == "asinh" else (sky < 0.05)  # asinh lifts the sky off zero


def test_linear_stretch_keeps_stored_units_for_photon_losses(tmp_path: Path, stars) -> None:
    """The fit's [0,1] values still map to counts through the observed image's value range."""
    _, noisy, _ = stars
    image = read_image(_fits(tmp_path / "s.fits", noisy))
    frame = prepare(image, AstroOptions(stretch="linear"))
    lo, hi = frame.observed.source.value_range
    inside = (frame.observed.data > 0) & (frame.observed.data < 1)
    np.testing.assert_allclose((lo + frame.observed.data * (hi - lo))[inside], noisy[None][inside], rtol=1e-5)


def test_sigma_clip_finds_hot_pixels_and_cosmic_rays_but_no_star(stars) -> None:
    clean, noisy, hot = stars
    data = noisy.astype(np.float64)
    data[40, 10:13] += [900, 1500, 700]  # a short cosmic-ray track
    bad = sigma_clip_mask(data[None], 5.0)[0]
    assert bad.flat[hot].all() and bad[40, 10:13].all()
    assert not bad[clean > 10 * SKY].any()  # star cores stay
    assert bad.sum() <= len(hot) + 3 + 2  # at most a couple of noise tails besides


# ------------------------------------------------------------------------------------- FITS


def _fits(path: Path, data: np.ndarray, **cards: object) -> Path:
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(OBJECT="NGC 1", GAIN=1.0, CRPIX1=32.5, CTYPE1="RA---TAN", **cards)
    hdu.header.add_comment("a comment that must survive")
    hdu.writeto(path)
    return path


def test_fits_round_trip_keeps_header_and_every_bit(tmp_path: Path) -> None:
    """uint16 (BZERO), scaled int16 with BLANK, and big-endian HDR float32 with NaN: unchanged data
    are written back bit for bit, the header card for card, plus one HISTORY line."""
    rng = np.random.default_rng(0)
    raw16 = rng.integers(-32768, 32767, (20, 24), dtype=np.int16)
    raw16[3, 4] = -32768
    hdr = (rng.lognormal(3, 2, (20, 24)) - 5).astype(">f4")  # -5 .. ~1e5
    hdr[7, 8] = np.nan
    cases = {"u16.fits": rng.integers(0, 65535, (20, 24)).astype(np.uint16), "hdr.fits": hdr}
    for name, data in cases.items():
        _fits(tmp_path / name, data)
    scaled = fits.PrimaryHDU(raw16, do_not_scale_image_data=True)
    scaled.header.update(BSCALE=0.5, BZERO=100.0, BLANK=-32768, OBJECT="NGC 1")
    scaled.writeto(tmp_path / "i16.fits")
    for name in ("u16.fits", "hdr.fits", "i16.fits"):
        image = read_image(tmp_path / name)
        write_image(tmp_path / f"out-{name}", image.data, image.source, history="dipbatch test")
        with fits.open(tmp_path / name, do_not_scale_image_data=True) as a, \
                fits.open(tmp_path / f"out-{name}", do_not_scale_image_data=True) as b:
            assert a[0].data.dtype == b[0].data.dtype, name
            assert a[0].data.tobytes() == b[0].data.tobytes(), name  # NaN included
            assert _cards(b[0].header) == _cards(a[0].header), name
            for key in ("BSCALE", "BZERO", "BLANK"):
                assert b[0].header.get(key) == a[0].header.get(key), (name, key)
            assert list(b[0].header["HISTORY"]) == ["dipbatch test"]


def _cards(header) -> list[tuple]:
    """The header's own cards in order: all but those that describe the data array."""
    layout = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BSCALE", "BZERO", "BLANK"}
    return [tuple(c) for c in header.cards if c.keyword not in layout | {"HISTORY"}]


# ----------------------------------------------------------------------------------- restores


@pytest.mark.parametrize("noise", ["gaussian", "poisson-gaussian"])
def test_restore_of_a_16bit_star_field(tmp_path: Path, stars, noise: str) -> None:
    """asinh stretch, protected stars, sigma-clipped hot pixels; with Gaussian or photon noise."""
    clean, noisy, hot = stars
    source = _fits(tmp_path / "field.fits", noisy)
    out = tmp_path / "out.fits"
    code, err = _restore(source, "-o", out, "--iterations", "300", "--stop", "fixed", "--noise", noise,
                         "--stretch", "asinh", "--protect-stars", "0.5", "--sigma-clip", "5")
    assert code == 0, err
    with fits.open(out) as f:
        restored, header = f[0].data, f[0].header
    assert restored.dtype == np.uint16 and header["BZERO"] == 32768
    assert header["OBJECT"] == "NGC 1" and header["CTYPE1"] == "RA---TAN"
    assert "dipbatch" in str(header["HISTORY"])
    assert noisy.min() <= restored.min() and restored.max() <= noisy.max()  # input's units and range
    record = json.loads((tmp_path / "out.fits.json").read_text())["astro"]
    assert record["stretch"]["kind"] == "asinh" and record["bad_samples"] >= len(hot)
    core = clean > 10 * SKY
    assert record["protected_samples"] >= core.sum() > 0
    assert record["flux_ratio"] == pytest.approx(restored.astype(np.float64).sum() / noisy.sum(), rel=1e-4)
    assert abs(record["flux_ratio"] - 1) < 0.02  # the total flux kept
    np.testing.assert_array_equal(restored[core], noisy[core])  # star cores copied, photometry exact
    error, before = restored - clean, noisy.astype(np.float64) - clean
    assert np.abs(error.flat[hot]).max() < 5 * np.sqrt(SKY)  # hot pixels filled in from around
    sky = clean < SKY + 1
    assert np.sqrt(np.mean(error[sky] ** 2)) < 0.85 * np.sqrt(np.mean(before[sky] ** 2))


def test_blank_and_bad_pixels_in_a_chosen_hdu(tmp_path: Path, stars) -> None:
    """BLANK samples of the chosen extension come back BLANK; masked pixels are filled in."""
    _, noisy, _ = stars
    raw = (noisy.astype(np.int32) - 1000).astype(np.int16)
    raw[5:9, 30:40] = -32768
    bad = np.zeros(raw.shape, np.uint8)
    bad[50, 20] = bad[12, 44] = 255
    raw[bad > 0] = 20000
    sci = fits.ImageHDU(raw, name="SCI", do_not_scale_image_data=True)
    sci.header.update(BZERO=1000, BLANK=-32768)
    fits.HDUList([fits.PrimaryHDU(), sci, fits.ImageHDU(np.zeros((4, 4), np.int16), name="DQ")]) \
        .writeto(tmp_path / "frame.fits")
    PILImage.fromarray(bad).save(tmp_path / "bad.png")
    out = tmp_path / "out.fits"
    code, err = _restore(tmp_path / "frame.fits", "-o", out, "--hdu", "SCI", "--iterations", "20",
                         "--stretch", "linear", "--bad-pixels", tmp_path / "bad.png")
    assert code == 0, err
    with fits.open(out, do_not_scale_image_data=True) as f:
        restored, header = f[0].data, f[0].header
    assert header["EXTNAME"] == "SCI" and header["BLANK"] == -32768
    np.testing.assert_array_equal(restored == -32768, raw == -32768)
    assert (restored[bad > 0] < 5000).all()  # no longer the bad value
    record = json.loads((tmp_path / "out.fits.json").read_text())["astro"]
    assert record["blank_samples"] == 40 and record["bad_samples"] == 2


def test_bad_astro_inputs_give_one_line_errors(tmp_path: Path, stars) -> None:
    source = _fits(tmp_path / "field.fits", stars[1])
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    cases = {("--hdu", "3"): "no HDU 3",
             ("--bad-pixels", tmp_path / "small.png"): "the bad-pixel mask is 10×10 but the image is 64×64"}
    for args, problem in cases.items():
        code, err = _restore(source, "-o", tmp_path / "out.fits", *args)
        assert code == 1 and problem in err and len(err.strip().splitlines()) == 1, err
