"""Tiled fits: the tile grid, a blend without seams, and a tiled restore of a frame larger than the tile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter

from dipbatch.cli import main
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.tiling import Blend, TileCheckpoints, TilePlan, TilingOptions, fit_tiled, taper, tile_boxes
from dipbatch.io.images import read_image
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise

fits = pytest.importorskip("astropy.io.fits")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiles_cover_the_frame_with_the_overlap_and_one_size() -> None:
    boxes = tile_boxes((100, 70), 48, 16)
    assert {(b.height, b.width) for b in boxes} == {(48, 48)}
    cover = np.zeros((100, 70), int)
    for box in boxes:
        cover[box.index] += 1
    assert cover.min() >= 1
    lefts, tops = sorted({b.left for b in boxes}), sorted({b.top for b in boxes})
    assert lefts == [0, 22] and tops == [0, 32, 52]  # the last tile ends at the frame's edge
    assert tile_boxes((30, 200), 64, 8)[0].height == 30  # a short side is one tile tall


def test_facing_ramps_sum_to_one_and_blend_of_exact_tiles_is_the_frame() -> None:
    ramp = taper(48, 16)
    np.testing.assert_allclose(ramp[-16:] + ramp[:16], 1.0, atol=1e-12)
    frame = np.random.default_rng(0).random((2, 100, 70)).astype(np.float32)
    plan = TilePlan((100, 70), TilingOptions(tile=48, tile_overlap=16))
    blend = Blend(2, (100, 70), plan.window())
    for box in plan.boxes:
        blend.add(frame[(slice(None), *box.index)], box)
    np.testing.assert_allclose(blend.result(), frame, atol=1e-6)
    assert blend.disagreement() < 1e-3  # identical tiles agree


def _line_energy(x: np.ndarray) -> np.ndarray:
    """Mean squared difference across each column boundary, then each row boundary."""
    across_columns = ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean(axis=(0, 1))
    across_rows = ((x[:, 1:, :] - x[:, :-1, :]) ** 2).mean(axis=(0, 2))
    return np.concatenate([across_columns, across_rows])


def test_tiled_fit_has_no_seam_and_denoises(tmp_path: Path) -> None:
    """Gradient energy across tile borders is no higher than across other lines; a hard stitch of the
    same tiles fails that check, so the check can fail."""
    n, tile = 80, 48
    field = gaussian_filter(np.random.default_rng(1).normal(size=(n, n)), 6)
    clean = (0.5 + 0.35 * field / np.abs(field).max())[None].astype(np.float32)  # smooth: no edges
    noisy = add_gaussian_noise(clean, 0.1, seed=6)
    plan = TilePlan((n, n), TilingOptions(tile=tile, tile_overlap=16, tile_batch=4))
    preset = get_preset("denoise", "tiny", iterations=100)
    store = TileCheckpoints(tmp_path / "frame.ckpt", "job", plan)
    result = fit_tiled(Problem(torch.from_numpy(noisy)), plan,
                       lambda problems: Fitter(problems, preset, [0] * len(problems)), store)
    assert psnr(clean, result.estimate) - psnr(clean, noisy) >= 1.5
    assert result.record["tiling"]["tiles"] == 4 and result.record["tiling"]["overlap_rms"] > 0

    starts = {b.left for b in plan.boxes} - {0}
    ends = {b.left + b.width for b in plan.boxes} - {n}
    lines = sorted(s - 1 for s in starts | ends)  # the boundary just before each tile edge
    borders = lines + [n - 1 + i for i in lines]  # the same lines across rows
    energy = _line_energy(result.estimate)
    assert energy[borders].mean() <= 1.2 * np.delete(energy, borders).mean()

    hard = Blend(1, (n, n), np.ones((tile, tile), np.float32))  # no cross-fade
    for box, tile_result in zip(plan.boxes, store.load(0)["results"], strict=True):
        hard.add(tile_result.estimate, box)
    seam = _line_energy(hard.result())
    assert seam[borders].mean() > 1.2 * np.delete(seam, borders).mean()


def test_tiled_cli_restore_keeps_nan_and_cleans_up(tmp_path: Path) -> None:
    """A FITS frame larger than the tile, with blank pixels, through `dipbatch restore --tile`."""
    rng = np.random.default_rng(3)
    clean = gaussian_filter(rng.normal(size=(72, 56)), 5)
    data = (1000 + 400 * clean / np.abs(clean).max() + rng.normal(0, 40, clean.shape)).astype(">f4")
    data[10:14, 20:30] = np.nan
    data[60, 50] = np.nan
    fits.PrimaryHDU(data).writeto(tmp_path / "big.fits")
    out = tmp_path / "out.fits"
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "big.fits"), "-o", str(out),
                                       "--preset", "tiny", "--iterations", "20", "--stop", "fixed",
                                       "--tile", "40", "--tile-overlap", "8", "--tile-batch", "3",
                                       "--stretch", "linear", "--quiet"])
    assert result.exit_code == 0, result.output
    restored = read_image(out).data[0]
    np.testing.assert_array_equal(np.isnan(restored), np.isnan(data))
    record = json.loads((tmp_path / "out.fits.json").read_text())
    assert record["tiling"]["tiles"] == 4 and record["tiling"]["grid"] == [2, 2]
    assert record["astro"]["blank_samples"] == 41
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.fits", "out.fits", "out.fits.json"]
