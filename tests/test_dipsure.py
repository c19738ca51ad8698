"""DIP-SURE members (`--dip-sure`): the SURE loss's maths, when an ensemble gets them, and a real fit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from click.testing import CliRunner

from dipbatch.cli import main
from dipbatch.errors import FieldError
from dipbatch.fit import dipsure
from dipbatch.fit.fusion import fit_share
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.stopping import StopOptions, make_stop_rule
from dipbatch.physics import losses
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.run.restore import restore_array

SIGMA = 12 / 255  # below dipsure.MAX_SIGMA: `auto` gives an ensemble DIP-SURE members


@pytest.fixture(scope="module")
def clean40() -> np.ndarray:
    return scene(40, 40, 3, seed=11)


@pytest.fixture(scope="module")
def noisy40(clean40: np.ndarray) -> np.ndarray:
    return add_gaussian_noise(clean40, SIGMA, seed=12)


def test_sure_estimates_the_risk_of_a_linear_shrinkage() -> None:
    """For x = a·y the loss mean((x − y)²) − σ² + the divergence term is an unbiased estimate of
    mean((x − truth)²): check it against the true error, away from the data-fit alone."""
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(3, 64, 64, generator=gen)
    sigma, a = 0.1, 0.9
    y = truth + sigma * torch.randn(truth.shape, generator=gen)
    probe = torch.randn(truth.shape, generator=gen)
    estimate, moved = a * y, a * (y + dipsure.TAU * probe)
    penalty = dipsure.divergence_penalty(sigma, probe, moved, estimate)
    assert float(penalty) == pytest.approx(2 * sigma ** 2 * a, rel=0.05)  # the divergence of a·y is a
    sure = float(((estimate - y) ** 2).mean()) - sigma ** 2 + float(penalty)
    risk = float(((estimate - truth) ** 2).mean())
    assert sure == pytest.approx(risk, rel=0.05)
    naive = float(((estimate - y) ** 2).mean()) - sigma ** 2  # the data-fit alone: far too optimistic
    assert naive < 0.5 * risk


def test_odd_members_of_an_image_with_a_sigma_are_dip_sure_members() -> None:
    problem = Problem(torch.zeros(3, 8, 8))
    members = dipsure.ensemble_problems(problem, 4, 0.05)
    assert [p.sure_sigma for p in members] == [None, 0.05, None, 0.05]
    assert all(p.sure_sigma is None for p in dipsure.ensemble_problems(problem, 4, None))


@pytest.mark.parametrize(("sigma", "expected"), [(None, None), (0.0, None), (15 / 255, 15 / 255),
                                                 (16 / 255, 16 / 255), (18 / 255, None)])
def test_only_low_noise_gets_dip_sure_members(sigma: float | None, expected: float | None) -> None:
    """A given σ decides; without one, the estimate of a flat (noiseless) image is 0: none."""
    problem = Problem(torch.zeros(3, 16, 16))
    assert dipsure.member_sigma("auto", get_preset("denoise", "fast"), problem, 2, "auto", sigma) == expected
    assert dipsure.member_sigma("off", get_preset("denoise", "fast"), problem, 2, "auto", sigma) is None


def test_dip_sure_applies_only_where_it_was_measured() -> None:
    fast = get_preset("denoise", "fast")
    problem = Problem(torch.zeros(3, 8, 8))
    assert dipsure.applies("auto", fast, problem, 2, "auto")
    assert not dipsure.applies("off", fast, problem, 2, "auto")
    assert not dipsure.applies("auto", fast, problem, 1, "auto")  # no ensemble
    assert not dipsure.applies("auto", fast, problem, 2, "fixed")  # not the automatic stop
    assert not dipsure.applies("auto", get_preset("denoise", "tiny"), problem, 2, "auto")
    assert not dipsure.applies("auto", get_preset("denoise", "fast", net="deep-decoder"), problem, 2, "auto")
    assert not dipsure.applies("auto", fast, replace(problem, weight=torch.ones(1, 8, 8)), 2, "auto")
    poisson = replace(problem, datafit=lambda p, o, w: losses.gaussian(p, o, w))
    assert not dipsure.applies("auto", fast, poisson, 2, "auto")  # any other data-fit
    with pytest.raises(FieldError, match="dip_sure"):
        dipsure.check_mode("on")


def test_the_divergence_term_keeps_the_noisy_input_from_being_copied(noisy40: np.ndarray,
                                                                      clean40: np.ndarray) -> None:
    """Two members with the observation as their input, one with SURE's σ and one with a vanishing
    one (the plain data-fit): the second copies the noise through, the first does not."""
    preset = get_preset("denoise", "tiny")
    problem = Problem(torch.from_numpy(noisy40))
    problems = [replace(problem, sure_sigma=SIGMA), replace(problem, sure_sigma=1e-6)]
    fitter = Fitter(problems, preset, [0, 0], iterations=300)
    with_sure, without = fitter.run()
    noisy_psnr = psnr(clean40, noisy40)
    assert psnr(clean40, with_sure.estimate) > noisy_psnr + 2.0
    assert psnr(clean40, with_sure.estimate) > psnr(clean40, without.estimate) + 1.0


def test_a_dip_sure_member_stops_at_its_budget_and_the_dip_member_by_its_signal() -> None:
    problem = Problem(torch.rand(3, 16, 16))
    problems = [problem, replace(problem, sure_sigma=0.05)]
    rule = make_stop_rule(StopOptions(), problems, 3000, torch.device("cpu"))
    stopper = rule.stopper
    assert stopper.expected_stop(1) == dipsure.ITERATIONS
    smoothed = torch.rand(2, 3, 16, 16)
    for it in range(1, dipsure.ITERATIONS + 1):
        stopper.observe(it, smoothed, smoothed)
        if it % 50 == 0:
            stopper.poll(it)
    assert stopper.stopped[1] and stopper.stop_iteration[1] == dipsure.ITERATIONS
    assert stopper.stop_kind[1] == "fixed" and "DIP-SURE" in stopper.stop_reason[1]
    assert not stopper.stopped[0]


def test_a_resumed_dip_sure_fit_draws_the_same_probes(noisy40: np.ndarray) -> None:
    preset = get_preset("denoise", "tiny")
    problem = Problem(torch.from_numpy(noisy40))
    problems = [problem, replace(problem, sure_sigma=SIGMA)]
    whole = Fitter(problems, preset, [0, 1], iterations=30, stopper=None)
    expected = whole.run()
    first = Fitter(problems, preset, [0, 1], iterations=30)
    for _ in range(15):
        first.step()
    resumed = Fitter(problems, preset, [0, 1], iterations=30)
    resumed.load_state_dict(first.state_dict())
    for got, want in zip(resumed.run(), expected, strict=True):
        np.testing.assert_array_equal(got.estimate, want.estimate)


def test_restore_array_fits_and_records_a_dip_sure_member_and_fuses_at_its_share(
        noisy40: np.ndarray, clean40: np.ndarray) -> None:
    result = restore_array(noisy40, preset="fast", ensemble=2, iterations=150, device="cpu")
    assert result.record["dip_sure"]["members"] == [1]
    assert result.record["dip_sure"]["sigma"] == pytest.approx(SIGMA, rel=0.25)
    assert result.record["dip_sure"]["iterations"] == 150  # the cap, under the budget
    assert "DIP-SURE" in result.record["ensemble"]["stop_reasons"][1]
    assert result.record["fusion"]["weight"] == fit_share("nl-means", "gaussian", SIGMA, dip_sure=True)
    assert psnr(clean40, result.estimate) > psnr(clean40, noisy40) + 3.0
    off = restore_array(noisy40, preset="fast", ensemble=2, iterations=10, device="cpu", dip_sure="off")
    assert "dip_sure" not in off.record
    assert off.record["fusion"]["weight"] == fit_share("nl-means", "gaussian", SIGMA)


def test_strong_noise_gets_no_dip_sure_member(clean40: np.ndarray) -> None:
    noisy = add_gaussian_noise(clean40, 30 / 255, seed=3)
    result = restore_array(noisy, preset="fast", ensemble=2, iterations=50, device="cpu", fusion="off")
    assert "dip_sure" not in result.record


def test_the_cli_records_dip_sure_members_and_can_turn_them_off(tmp_path: Path, noisy40: np.ndarray) -> None:
    image = tmp_path / "low_noise.tif"
    tifffile.imwrite(image, np.round(np.moveaxis(noisy40, 0, -1) * 255).astype(np.uint8), photometric="rgb")
    for mode, out in (("auto", tmp_path / "auto.tif"), ("off", tmp_path / "off.tif")):
        result = CliRunner().invoke(main, ["restore", str(image), "-o", str(out), "--preset", "fast",
                                           "--iterations", "40", "--ensemble", "2", "--dip-sure", mode,
                                           "--quiet"])
        assert result.exit_code == 0, result.output
    auto = json.loads(Path(f"{tmp_path / 'auto.tif'}.json").read_text())
    off = json.loads(Path(f"{tmp_path / 'off.tif'}.json").read_text())
    assert auto["dip_sure"]["members"] == [1] and auto["fusion"]["weight"] == 0.8
    assert "dip_sure" not in off and off["params"]["dip_sure"] == "off"
    bad = CliRunner().invoke(main, ["restore", str(image), "-o", str(tmp_path / "x.tif"), "--dip-sure", "on"])
    assert bad.exit_code == 2 and "--dip-sure" in bad.output
