"""deblur: PSFs from models and files, the "valid" blur operator, and the task end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from astropy.io import fits
from click.testing import CliRunner
from PIL import Image as PILImage
from test_tasks import run_with_a_side_file_missing, run_workflow
from torch.nn import functional

from dipbatch import restore_array
from dipbatch.cli.app import main
from dipbatch.errors import FieldError
from dipbatch.fit.tiling import Blend, TilingOptions
from dipbatch.io.images import read_image
from dipbatch.physics import psf as psfs
from dipbatch.physics.metrics import psnr
from dipbatch.physics.operators import FFT_KERNEL_PX, Blur, fft_convolve_valid
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, scene, star_field
from dipbatch.report.build import write_report
from dipbatch.report.collect import Locations
from dipbatch.tasks.deblur import DEBLUR_DISCREPANCY
from dipbatch.workflow.summary import Row, write_summary


def save_png(path: Path, data: np.ndarray) -> None:
    PILImage.fromarray(np.round(np.clip(data[0], 0, 1) * 255).astype(np.uint8)).save(path)


def blur(clean: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return Blur(kernel)(torch.from_numpy(clean)[None].float())[0].numpy()


# ------------------------------------------------------------------------------------------ PSFs


def test_models_are_normalised_centred_and_have_the_fwhm_asked_for():
    for spec, width in (("gaussian:fwhm=3.2", 3.2), ("moffat:fwhm=3,beta=2.5", 3.0),
                        ("disk:radius=4", None)):
        kernel = psfs.parse_model(spec).kernel
        assert kernel.shape[0] % 2 == 1 and kernel.shape[0] == kernel.shape[1]
        assert abs(kernel.sum() - 1) < 1e-12
        centre = kernel.shape[0] // 2
        assert kernel[centre, centre] == kernel.max()
        if width:
            assert abs(psfs.fwhm(kernel) / width - 1) < 0.03
    # a Moffat profile's FWHM is its half-maximum width, measured on the profile itself
    kernel = psfs.parse_model("moffat:fwhm=4,beta=2.5").kernel
    row = kernel[kernel.shape[0] // 2]
    above = np.flatnonzero(row >= row.max() / 2)
    assert 3 <= above[-1] - above[0] + 1 <= 5


@pytest.mark.parametrize(("spec", "message"), [
    ("gaussian:sigma=2", "gaussian takes fwhm="),
    ("moffat:beta=3", "moffat needs fwhm="),
    ("disk:radius=-1", "radius must be positive"),
    ("gaussian:fwhm=wide", "fwhm must be a number"),
])
def test_a_bad_model_names_what_is_wrong(spec, message):
    with pytest.raises(FieldError, match=message):
        psfs.parse_model(spec)


def test_a_file_kernel_is_centred_on_its_centroid_and_a_negative_total_refused():
    off = np.zeros((6, 8))  # even sizes, the light off-centre
    off[1, 5], off[2, 5] = 3.0, 1.0
    kernel = psfs.normalise(off, Path("psf.png"))
    centre = kernel.shape[0] // 2
    assert kernel.shape[0] % 2 == 1 and abs(kernel.sum() - 1) < 1e-12
    assert kernel[centre, centre] == 0.75  # the brighter pixel is the nearest to the centroid
    with pytest.raises(FieldError, match="total is -1; it must be positive"):
        psfs.normalise(-np.ones((3, 3)) / 9, Path("neg.fits"))


# -------------------------------------------------------------------------------------- operator


def test_the_blur_is_valid_so_a_flat_scene_stays_flat_to_the_edges():
    """No made-up boundary: every observed pixel sees only estimate pixels, so there is no dark or
    ringing rim, where a zero-padded "same" convolution darkens the edges."""
    kernel = psfs.parse_model("gaussian:fwhm=4").kernel
    flat = torch.full((1, 1, 40, 40), 0.5)
    observed = Blur(kernel)(flat)
    assert observed.shape[-2:] == (40 - kernel.shape[0] + 1,) * 2
    assert Blur(kernel).estimate_size((10, 12)) == (10 + kernel.shape[0] - 1, 12 + kernel.shape[0] - 1)
    assert torch.allclose(observed, torch.full_like(observed, 0.5), atol=1e-6)
    same = functional.conv2d(flat, torch.from_numpy(kernel).float()[None, None], padding=kernel.shape[0] // 2)
    assert float(same[0, 0, 0, 0]) < 0.4  # what the valid blur avoids


def test_the_fft_path_gives_the_direct_convolution():
    rng = np.random.default_rng(0)
    kernel = rng.random((FFT_KERNEL_PX + 2, FFT_KERNEL_PX + 2))
    kernel /= kernel.sum()
    estimate = torch.from_numpy(rng.random((1, 3, 50, 41))).float()
    direct = functional.conv2d(estimate, torch.flip(torch.from_numpy(kernel).float(), (0, 1))
                               .expand(3, 1, *kernel.shape), groups=3)
    assert torch.allclose(fft_convolve_valid(estimate, torch.from_numpy(kernel).float()), direct, atol=1e-5)
    assert torch.allclose(Blur(kernel)(estimate), direct, atol=1e-5)


# ----------------------------------------------------------------------------------------- task


def point_sources(size: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A 1×size×size field of faint sky and isolated stars two pixels wide, kept off the edges."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    field = np.full((size, size), 0.05)
    where = [(14, 14), (14, size - 15), (size - 15, 20), (size // 2, size // 2)]
    for cy, cx in where:
        field += rng.uniform(0.4, 0.8) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.0 ** 2))
    return field[None].astype(np.float32), where


def aperture(data: np.ndarray, centre: tuple[int, int], radius: int = 5, sky: float = 0.05) -> float:
    yy, xx = np.mgrid[0:data.shape[-2], 0:data.shape[-1]]
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    return float((data[0][inside] - sky).sum())


def test_a_blurred_star_field_gets_sharper_and_keeps_its_flux():
    kernel = psfs.parse_model("gaussian:fwhm=3").kernel
    r = kernel.shape[0] // 2
    truth, stars = point_sources(48 + 2 * r)
    observed = add_gaussian_noise(blur(truth, kernel), 0.01, seed=3)
    result = restore_array(observed, task="deblur", psf="gaussian:fwhm=3", preset="tiny", iterations=800)
    estimate = result.estimate
    assert estimate.shape == truth.shape  # the valid blur's estimate: the PSF's radius beyond each edge
    inner = (slice(None), slice(r, -r), slice(r, -r))
    assert psnr(truth[inner], estimate[inner]) > psnr(truth[inner], observed) + 2.0
    # sharper: the stars' peaks come back up towards the truth's
    peaks = [(estimate[0][c], observed[0][c[0] - r, c[1] - r], truth[0][c]) for c in stars]
    assert all(out > seen for out, seen, _ in peaks), peaks
    # flux: total counts within 1 %, each isolated star's aperture within 10 % (the photometry
    # goal, 2 %, is the benchmark's)
    assert abs(estimate[inner].sum() / truth[inner].sum() - 1) < 0.01
    for c in stars:
        assert abs(aperture(estimate, c) / aperture(truth, c) - 1) < 0.1, c
    assert estimate.min() >= 0.0  # no negative halo: the generator's output is non-negative
    # deblurring fits a seed ensemble by default, as denoising does (each member its own stop)
    assert result.record["ensemble"]["members"] == 2 and len(result.record["ensemble"]["stop_reasons"]) == 2


@pytest.mark.parametrize("photons", [30, 300])
def test_the_stop_threshold_follows_the_frames_contrast(photons: int):
    """A faint field (30 photons at the peak) stops at 0.99× the noise floor, a bright one (300) at
    0.94×, where benchmarks/deconvolution.py measured each one's best stop; the sidecar says why."""
    truth = star_field(40, 40, stars=6, background=20, peak=400, seed=2)
    observed = add_poisson_noise(blur(truth / truth.max(), psfs.parse_model("gaussian:fwhm=3").kernel)
                                 * photons, seed=1) / photons
    result = restore_array(observed, task="deblur", psf="gaussian:fwhm=3", preset="tiny", iterations=20,
                           noise="poisson", gain=photons, ensemble=1)
    settings = result.record["stop_settings"]
    bright = photons == 300
    assert (settings["contrast"] >= DEBLUR_DISCREPANCY.cut) is bright
    assert settings["discrepancy"] == (DEBLUR_DISCREPANCY.bright if bright else DEBLUR_DISCREPANCY.faint)


def test_a_float_frame_deblurs_above_its_brightest_pixel(tmp_path: Path):
    """A float frame is read onto [0,1] by its own range, so its brightest pixel reads 1, yet a
    deblurred star's core is brighter than its blurred image: the estimate reaches above it
    (`Task.headroom`), and the output keeps the stored units."""
    kernel = psfs.parse_model("gaussian:fwhm=3").kernel
    r = kernel.shape[0] // 2
    truth, stars = point_sources(40 + 2 * r, seed=4)
    truth *= 5000.0  # e.g. electrons
    observed = add_gaussian_noise(blur(truth, kernel), 20.0, seed=5, clip=False)
    path, out = tmp_path / "frame.fits", tmp_path / "sharp.fits"
    fits.PrimaryHDU(observed[0]).writeto(path)
    code, err = run("restore", path, "-o", out, "--task", "deblur", "--psf", "gaussian:fwhm=3",
                    "--preset", "tiny", "--iterations", "1000", "--stop", "fixed", "--threads", "1",
                    "--quiet")
    assert code == 0, err
    restored = fits.getdata(out)
    assert restored.dtype.str[1:] == "f4" and restored.shape == observed.shape[1:]  # FITS: big-endian
    cores = [(restored[y - r, x - r], observed[0][y - r, x - r], truth[0][y, x]) for y, x in stars]
    assert max(c[0] for c in cores) > 1.2 * observed.max(), cores  # above the brightest observed value
    assert all(seen < out_ <= 1.2 * true for out_, seen, true in cores), cores
    inner = truth[:, r:-r, r:-r]
    assert psnr(inner / inner.max(), restored[None] / inner.max()) > psnr(inner / inner.max(),
                                                                          observed / inner.max()) + 2.0


def test_a_faint_16bit_frame_is_fitted_in_the_generators_range(tmp_path: Path):
    """Stars of a few hundred counts in a 16-bit frame read below 0.01 on [0,1]: the estimate is
    the generator's output times 4× the brightest observed value (never above the type's range), so
    the fit does not work in the bottom percent of its output (there it once ended far above the
    noise floor, worse than its input)."""
    kernel = psfs.parse_model("gaussian:fwhm=3").kernel
    r = kernel.shape[0] // 2
    truth = star_field(40 + 2 * r, 40 + 2 * r, stars=6, background=20, peak=400, seed=2)
    counts = add_poisson_noise(blur(truth, kernel), seed=3)[0]
    path, out = tmp_path / "faint.tif", tmp_path / "sharp.tif"
    tifffile.imwrite(path, counts.astype(np.uint16))
    code, err = run("restore", path, "-o", out, "--task", "deblur", "--psf", "gaussian:fwhm=3",
                    "--preset", "tiny", "--iterations", "800", "--stop", "fixed", "--threads", "1",
                    "--quiet")
    assert code == 0, err
    inner = truth[0, r:-r, r:-r] / truth.max()
    restored = tifffile.imread(out).astype(np.float64) / truth.max()
    assert psnr(inner, restored) > psnr(inner, counts / truth.max()) + 1.0


def test_restore_array_takes_a_kernel_array_too():
    kernel = np.zeros((5, 5))
    kernel[2, 1:4] = 1.0  # a short horizontal motion
    observed = blur(scene(24, 24, 1, seed=1), psfs.normalise(kernel, "psf"))
    result = restore_array(observed, task="deblur", psf=kernel, preset="tiny", iterations=20, stop="fixed")
    assert result.estimate.shape == (1, 24, 24)
    with pytest.raises(FieldError, match="is not used by task denoise"):
        restore_array(observed, psf=kernel, preset="tiny", iterations=5)


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


@pytest.fixture()
def blurred(tmp_path: Path) -> Path:
    kernel = psfs.parse_model("moffat:fwhm=2.5").kernel
    r = kernel.shape[0] // 2
    truth, _ = point_sources(40 + 2 * r, seed=2)
    path = tmp_path / "field.tif"
    counts = np.clip(blur(truth, kernel) * 60000, 0, 65535).astype(np.uint16)
    tifffile.imwrite(path, counts[0])
    return path


def test_the_cli_deblurs_with_a_psf_file_and_records_it(blurred: Path, tmp_path: Path):
    psf = tmp_path / "psf.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(psfs.parse_model("moffat:fwhm=2.5").kernel, name="PSF")]
                 ).writeto(psf)
    out = tmp_path / "sharp.tif"
    code, err = run("restore", blurred, "-o", out, "--task", "deblur", "--psf", psf, "--psf-hdu", "PSF",
                    "--preset", "tiny", "--iterations", "20", "--quiet")
    assert code == 0, err
    restored = read_image(out)
    assert restored.data.shape == read_image(blurred).data.shape and restored.source.dtype == "uint16"
    record = json.loads(Path(f"{out}.json").read_text())
    assert record["task"] == "deblur"
    settings = record["stop_settings"]  # deblurring's threshold, chosen by the frame's contrast
    assert settings["contrast"] > DEBLUR_DISCREPANCY.cut
    assert settings["discrepancy"] == DEBLUR_DISCREPANCY.bright
    assert record["psf"]["source"] == str(psf) and record["psf"]["size"][0] % 2 == 1
    assert abs(record["psf"]["fwhm_px"] - 2.5) < 0.1 and len(record["psf"]["sha256"]) == 64
    # the report shows the PSF with its FWHM, beside before and after on one display stretch
    results = tmp_path / "results"
    results.mkdir()
    for name in ("sharp.tif", "sharp.tif.json"):
        (tmp_path / name).rename(results / name)
    write_summary(results / "summary.tsv", [Row(image="sharp.tif", status="ok",
                                                output=str(results / "sharp.tif"))])
    views = write_report(Locations(results=results, inputs=tmp_path), tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    size = "×".join(map(str, record["psf"]["size"]))
    assert f"PSF: {psf}, {size} px, FWHM {record['psf']['fwhm_px']:.3g} px" in html
    assert 'alt="sharp.tif PSF"' in html and len(views) == 1


@pytest.mark.parametrize(("psf", "extra", "message"), [
    (None, [], "--task deblur: needs --psf"),
    ("gaussian:fwhm=30", [], "--psf: is 93×93 pixels (centred), larger than the image field.tif"),
    ("moffat:fwhm=3,alpha=2", [], "--psf moffat:fwhm=3,alpha=2: moffat takes fwhm=, beta="),
    ("{tmp}/missing.fits", [], "missing.fits: no such PSF file"),
    ("{tmp}/negative.tif", [], "negative.tif: the PSF's total is"),
    ("gaussian:fwhm=2", ["--stretch", "asinh"], "cannot be used with --task deblur"),
])
def test_a_bad_psf_gets_one_line_and_no_output(blurred, tmp_path, psf, extra, message):
    tifffile.imwrite(tmp_path / "negative.tif", -np.ones((5, 5), np.float32))
    out = tmp_path / "out.tif"
    args = ["restore", blurred, "-o", out, "--task", "deblur", "--preset", "tiny", "--iterations", "5",
            *extra]
    if psf:
        args += ["--psf", psf.format(tmp=tmp_path)]
    code, err = run(*args)
    assert code != 0 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_workflow_deblurs_with_psfs_beside_the_images_or_a_model(tmp_path: Path) -> None:
    """`psf: "{stem}_psf.png"` finds each image's PSF beside it (and never restores it as an
    image); an image without one fails alone. `psf: gaussian:fwhm=2` serves a whole dataset; a
    deblur dataset without `psf:` is refused before any job."""
    kernel = psfs.parse_model("gaussian:fwhm=2").kernel
    r = kernel.shape[0] // 2
    sharp = blur(scene(32 + 2 * r, 32 + 2 * r, 1, seed=4), kernel)
    for folder, name in (("beside", "a"), ("beside", "b"), ("model", "c")):
        (tmp_path / folder).mkdir(exist_ok=True)
        save_png(tmp_path / folder / f"{name}.png", sharp)
    save_png(tmp_path / "beside" / "a_psf.png", kernel[None] / kernel.max())  # b.png has none
    common = "    task: deblur\n    preset: tiny\n    iterations: 5\n"
    config = tmp_path / "config.yaml"
    config.write_text("threads: 1\ndevice: cpu\ndatasets:\n"
                      f"  beside:\n    input: beside\n    psf: '{{stem}}_psf.png'\n{common}"
                      f"  model:\n    input: model\n    psf: 'gaussian:fwhm=2'\n{common}")
    run_with_a_side_file_missing(tmp_path, ["beside/a.png", "model/c.png"], "beside/b.png",
                                 "beside/a_psf.png", "error: beside/b_psf.png: no such PSF file")
    records = {name: json.loads((tmp_path / f"results/{ds}/{name}.png.json").read_text())["psf"]
               for ds, name in (("beside", "a"), ("model", "c"))}
    assert records["a"]["source"] == "beside/a_psf.png" and records["c"]["source"] == "gaussian:fwhm=2"

    config.write_text(config.read_text().replace("    psf: 'gaussian:fwhm=2'\n", ""))
    refused = run_workflow(tmp_path, "--cores", "1", "-n")
    assert refused.returncode == 1
    assert "datasets.model.psf: task deblur needs a psf:" in refused.stdout + refused.stderr


def test_a_tiled_deblur_overlaps_by_the_psf_radius_and_matches_the_whole_fit(tmp_path: Path):
    """Tiles of a blurred frame each fit their estimate with the PSF's margin, and blended they
    give about what the whole fit gives. An overlap below the PSF's radius is refused."""
    kernel = psfs.parse_model("gaussian:fwhm=2").kernel
    r = kernel.shape[0] // 2
    truth = scene(48 + 2 * r, 48 + 2 * r, 1, seed=6)
    save_png(tmp_path / "blurred.png", add_gaussian_noise(blur(truth, kernel), 0.02, seed=1))
    common = ["--task", "deblur", "--psf", "gaussian:fwhm=2", "--preset", "tiny", "--iterations", "60",
              "--stop", "fixed", "--quiet"]
    scores = {}
    for name, tiling in (("whole", []), ("tiled", ["--tile", "32", "--tile-overlap", "6"])):
        code, err = run("restore", tmp_path / "blurred.png", "-o", tmp_path / f"{name}.png", *common, *tiling)
        assert code == 0, err
        scores[name] = psnr(truth[:, r:-r, r:-r], read_image(tmp_path / f"{name}.png").data)
    record = json.loads((tmp_path / "tiled.png.json").read_text())["tiling"]
    assert record["tiles"] == 4 and record["margin"] == 2 * r
    assert abs(scores["tiled"] - scores["whole"]) < 1.0, scores
    code, err = run("restore", tmp_path / "blurred.png", "-o", tmp_path / "thin.png", *common,
                    "--tile", "32", "--tile-overlap", "2")
    assert code != 0 and f"--tile-overlap 2: must be at least the PSF's radius ({r} px)" in err, err


def test_each_tiles_estimate_is_the_part_of_the_frames_that_its_observation_sees():
    """The geometry of a tiled blur: the blur of the frame's estimate, cut to a tile's estimate
    box, is that tile's observation exactly; and the tiles' estimates blend back into the frame's."""
    kernel = psfs.parse_model("gaussian:fwhm=2").kernel
    margin = kernel.shape[0] - 1
    frame = scene(70 + margin, 53 + margin, 2, seed=3)
    observed = blur(frame, kernel)
    plan = TilingOptions(tile=32, tile_overlap=6).plan(observed.shape[-2:], frame.shape[-2:])
    assert plan.margin == margin and len(plan.boxes) == 6
    blend = Blend(2, plan.estimate_size, plan.window())
    for box in plan.boxes:
        part = frame[(slice(None), *plan.estimate_box(box).index)]
        np.testing.assert_allclose(blur(part, kernel), observed[(slice(None), *box.index)], atol=1e-5)
        blend.add(part, plan.estimate_box(box))
    np.testing.assert_allclose(blend.result(), frame, atol=1e-5)
