"""Stopping rules on scripted curves, the variance and SURE criteria, and a real auto-stopped fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter

from dipbatch.cli import main
from dipbatch.fit.curves import subsample
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.signals import AutoRule, extends, peak_contrast, replay
from dipbatch.fit.spectral import SpectralRecorder, band_index, band_power, cutoff
from dipbatch.fit.stopping import StopOptions, WindowedVariance, _MinimumRule
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, scene, star_field
from dipbatch.run.restore import restore_array
from dipbatch.tasks.deblur import DEBLUR_DISCREPANCY

CPU = torch.device("cpu")


class Scripted(_MinimumRule):
    """A rule whose criterion is a given curve; the 'image' at step t is the constant t."""

    name = "scripted"

    def __init__(self, curve: list[float], patience: int, min_start: int) -> None:
        super().__init__(1, len(curve), patience, min_start, CPU)
        self.script = curve

    def value(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> torch.Tensor:
        return torch.tensor([self.script[iteration - 1]])


def drive(rule: Scripted, check_every: int = 10) -> Scripted:
    """Feed the rule as the fit loop does: observe every step, decide at check points."""
    cap = len(rule.script)
    t = 0
    while t < cap and not rule.stopped[0]:
        t += 1
        frame = torch.full((1, 1, 2, 2), float(t))
        rule.observe(t, frame, frame)
        if t % check_every == 0:
            rule.poll(t)
    rule.finish(t, torch.full((1, 1, 2, 2), float(t)))
    return rule


def valley(n: int, at: int) -> list[float]:
    return [1.0 + ((t - at) / n) ** 2 for t in range(1, n + 1)]


def test_clear_valley_stops_after_patience_and_returns_the_minimum() -> None:
    rule = drive(Scripted(valley(1000, 300), patience=100, min_start=50))
    assert rule.stopped == [True] and rule.stop_iteration == [300]
    assert rule.stop_reason[0].startswith("auto: scripted minimum at iteration 300")
    assert float(rule.estimate(0)[0, 0, 0]) == 300.0  # the snapshot at the minimum, not the last iterate


def plateau(n: int) -> list[float]:
    """Down to 1 by t=200, flat but for a ripple of ±2 % until t=600, then rising."""
    return [2 - t / 200 if t < 200 else 1 + 0.02 * math.sin(t) if t < 600 else 1 + (t - 600) / 400
            for t in range(1, n + 1)]


def test_tolerance_picks_the_end_of_a_plateau_not_its_ripple() -> None:
    class Tolerant(Scripted):
        tolerance = 0.1

    exact = drive(Scripted(plateau(1000), patience=100, min_start=50))
    assert exact.stop_iteration[0] < 600  # wherever the ripple's lowest point happens to be
    tolerant = drive(Tolerant(plateau(1000), patience=100, min_start=50))
    assert 600 <= tolerant.stop_iteration[0] <= 640  # 1 + (t - 600)/400 passes 1.1 × 0.98 at t ≈ 631
    assert "within 10% of its minimum" in tolerant.stop_reason[0]


def test_false_dip_inside_the_warm_up_is_ignored() -> None:
    curve = valley(1000, 600)
    for t in range(20, 40):
        curve[t] = 0.1  # a deep, early false minimum
    rule = drive(Scripted(curve, patience=100, min_start=100))
    assert rule.stop_iteration == [600]
    unguarded = drive(Scripted(curve, patience=100, min_start=0))
    assert unguarded.stop_iteration[0] < 50  # the guard is what saves it


def test_flat_curve_hits_the_cap() -> None:
    rule = drive(Scripted([1.0 - 1e-6 * t for t in range(500)], patience=100, min_start=0))
    assert rule.stopped == [True]
    assert rule.stop_reason[0].startswith("cap: reached 500 iterations")


def test_windowed_variance_equals_the_direct_formula() -> None:
    torch.manual_seed(0)
    frames = torch.rand(40, 2, 1, 3, 3)
    rule = WindowedVariance(2, 40, window=8, patience=5, min_start=0, shape=(1, 3, 3), device=CPU)
    for t in range(1, 41):
        rule.observe(t, frames[t - 1], frames[t - 1])
    for t in (8, 20, 40):
        window = frames[t - 8:t].reshape(8, 2, -1)
        direct = window.var(0, unbiased=False).mean(-1)
        assert torch.allclose(rule.curve[t - 1], direct, atol=1e-6)
    assert math.isnan(float(rule.curve[6, 0]))  # undefined until the window is full


def test_variance_on_a_pixel_subset_for_large_images() -> None:
    rule = WindowedVariance(1, 10, window=4, patience=5, min_start=0, shape=(3, 300, 300),
                            device=CPU, subset=1000)
    assert rule.buffer.shape == (4, 1, 1000)


def test_defaults_scale_with_the_cap() -> None:
    assert StopOptions().resolved(3000) == (100, 500, 300)
    assert StopOptions(window=20, patience=7, min_start=0).resolved(3000) == (20, 7, 0)


def test_spectral_bands_and_cutoff() -> None:
    index = band_index(32, 32)
    assert int(index.min()) == 0 and int(index.max()) == 7
    rng = np.random.default_rng(0)
    white = torch.from_numpy(rng.normal(size=(1, 1, 32, 32)).astype(np.float32))
    power = band_power(white, index)[0]
    assert (power > 0).all()
    smooth = torch.nn.functional.avg_pool2d(white, 5, 1, 2)
    ratio = (band_power(smooth, index) / band_power(white, index))[0]
    assert ratio[0] > 0.5 > ratio[-1]  # a blur keeps low bands and removes high ones
    assert cutoff(ratio.tolist(), [b / 16 for b in range(9)]) == pytest.approx(
        next(b / 16 for b, v in enumerate(ratio.tolist()) if v < 0.5))


def test_auto_stop_on_a_real_fit_is_close_to_the_best_iterate(clean_rgb: np.ndarray,
                                                              noisy_rgb: np.ndarray) -> None:
    cap = 900
    preset = get_preset("denoise", "tiny", iterations=cap)
    observation = torch.from_numpy(noisy_rgb)
    rule = WindowedVariance(1, cap, window=50, patience=100, min_start=70, shape=(3, 64, 64),
                            device=CPU)
    spectral = SpectralRecorder(observation[None], cap)
    fitter = Fitter([Problem(observation)], preset, [0], stopper=rule, observers=[spectral])
    best = -math.inf
    while fitter.iteration < cap and not rule.stopped[0]:
        fitter.step()
        best = max(best, psnr(clean_rgb, fitter.ema[0].numpy()))
        if fitter.iteration % 50 == 0:
            rule.poll(fitter.iteration)
    rule.finish(fitter.iteration, fitter.ema)
    result = fitter._result(0)
    assert result.stop_reason.startswith("auto:"), result.stop_reason
    assert fitter.iteration < cap
    assert psnr(clean_rgb, result.estimate) > best - 1.0
    assert result.record["stop_curve_name"] == "windowed variance"
    assert len(result.record["spectral"]["energy"]) == fitter.iteration // 25
    assert result.record["cutoff_frequency"] is not None


def test_curves_are_thinned_to_their_computed_part() -> None:
    values = np.full(1000, np.nan)
    values[99:700] = np.arange(601.0)
    curve = subsample(values, 300)
    assert curve[0][0] in (100, 101) and curve[-1][0] <= 700
    assert 250 <= len(curve) <= 301
    assert all(np.isfinite(v) for _, v in curve)
    assert subsample(np.full(5, np.nan), 300) == []


# ---- the `auto` rule: discrepancy principle, guarded variance plateau (stop_signals.decide) -------


def replayed(variance: list[float], fit: list[float], floor: float | None, cap: int,
             **settings: float) -> tuple[int, int, str]:
    rule = AutoRule(patience=100, min_start=50, **settings)
    return replay(np.array(variance), np.array(fit), floor, rule, cap, every=10)


def test_discrepancy_fires_when_the_data_fit_reaches_the_noise_floor() -> None:
    cap = 2000
    fit = [0.01 * (0.9 + 100 / t) for t in range(1, cap + 1)]  # 0.97× the floor 0.01 at t ≈ 1429
    returned, ran, reason = replayed([1.0] * cap, fit, 0.01, cap)
    assert returned == ran == 1430  # the first check point (every 10) past the crossing
    assert reason.startswith("discrepancy: the data-fit reached")


def test_the_peak_contrast_tells_a_bright_star_field_from_a_faint_one() -> None:
    """Deblurring's threshold follows it (tasks/deblur.py): a blurred field at 300 photons reads
    above the cut, the same field at 30 below it, a cosmic ray does not lift the faint one, a photo
    at σ 15/255 reads bright, and an unknown contrast takes the faint field's (earlier) stop."""
    field = gaussian_filter(star_field(64, 64, stars=8, background=20, peak=400, seed=5), (0, 1.3, 1.3))
    bright, faint = (add_poisson_noise(field / field.max() * peak, seed=1) for peak in (300, 30))
    cut = DEBLUR_DISCREPANCY.cut
    assert peak_contrast(faint, "poisson") < cut < peak_contrast(bright, "poisson")
    struck = faint.copy()
    struck[0, 20, 20:22] = 3000.0  # a cosmic ray across two pixels
    assert peak_contrast(struck, "poisson") < cut
    photo = add_gaussian_noise(scene(64, 64, 1, seed=2), 15 / 255, seed=3)
    assert peak_contrast(photo, "gaussian", sigma=15 / 255) > cut
    assert peak_contrast(photo, "gaussian", sigma=None) is None
    assert DEBLUR_DISCREPANCY.at(None) == DEBLUR_DISCREPANCY.faint > DEBLUR_DISCREPANCY.bright


def test_guard_keeps_the_plateau_from_firing_far_above_the_noise_floor() -> None:
    cap = 1000
    variance = [1.0 + ((t - 200) / 200) ** 2 for t in range(1, cap + 1)]  # a clear valley at 200
    fit = [1.0] * cap  # still 100× the floor: not a denoised image yet
    assert replayed(variance, fit, 0.01, cap)[2].startswith("cap: reached 1000 iterations")
    returned, ran, reason = replayed(variance, fit, None, cap)  # no floor known: no guard
    assert reason.startswith("variance plateau") and ran < cap and returned < 400


def test_auto_stop_names_the_signal_that_fired_on_a_real_fit(clean_rgb: np.ndarray,
                                                             noisy_rgb: np.ndarray) -> None:
    result = restore_array(noisy_rgb, preset="tiny", iterations=900, device="cpu")
    assert result.stop_reason.startswith("auto: discrepancy"), result.stop_reason
    assert result.iterations < 900 and result.stop_iteration == result.iterations
    assert result.record["noise_floor"] > 0
    assert psnr(clean_rgb, result.estimate) > psnr(clean_rgb, noisy_rgb) + 3


def test_a_star_field_far_from_its_floor_at_the_cap_gets_more_iterations_and_a_warning(
        tmp_path: Path) -> None:
    """The issue's 16-bit star frame: `tiny`'s 300 iterations end with the sky at 3317 ADU against
    1011, the data-fit thousands of times the noise floor, and it was called ok. Now the cap grows
    while the data-fit is far above the floor and still falling (up to 4× the cap, recorded), and a
    result still far from it is a warning; --strict makes that exit 3."""
    field = star_field(64, 64, stars=10, background=1000, peak=40000, seed=3)
    frame = np.clip(add_poisson_noise(field, seed=1), 0, 65535).astype(np.uint16)[0]
    tifffile.imwrite(tmp_path / "stars16.tif", frame)
    out = tmp_path / "out.tif"
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "stars16.tif"), "-o", str(out),
                                       "--preset", "tiny", "--ensemble", "1", "--quiet", "--strict"])
    sidecar = json.loads(out.with_name(out.name + ".json").read_text())
    assert sidecar["cap_extended"] == {"from": 300, "to": sidecar["iterations"], "limit": 1200}
    assert sidecar["iterations"] > 300
    sky, returned = np.median(frame), np.median(tifffile.imread(out))
    assert abs(returned - sky) < 0.1 * sky  # the sky, not 3× it
    if sidecar["datafit_ratio"] > 1.5:  # still far off: said, and --strict says it with exit 3
        assert result.exit_code == 3, result.output
        assert f"warning: {out}: the data-fit ended at {sidecar['datafit_ratio']:.3g}× the noise floor" \
            in result.stderr
    else:
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("fit", "floor", "extends_it"), [
    ([100.0, 80.0, 60.0, 40.0], 1.0, True),  # far above the floor and falling
    ([100.0, 99.0, 98.5, 98.0], 1.0, False),  # far above, but flat: more iterations would not help
    ([3.0, 2.0, 1.4, 1.2], 1.0, False),  # near the floor: the stop rules decide
    ([100.0, 80.0, 60.0, 40.0], None, False),  # no floor known (inpainting, SR)
])
def test_the_cap_extends_only_far_above_the_floor_and_falling(fit, floor, extends_it) -> None:
    curve = np.full(400, np.nan)
    curve[99::100] = fit  # measured every 100 iterations
    assert extends(curve, floor, AutoRule(patience=50, min_start=0), lookback=200) is extends_it
