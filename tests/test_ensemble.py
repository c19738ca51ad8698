"""Seed ensembles (`--ensemble K`): K members averaged, recorded in the sidecar, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from dipbatch.cli import main
from dipbatch.errors import FieldError
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.run.ensembles import DEVICE_ENSEMBLES, default_ensemble
from dipbatch.run.restore import restore_array

FAST = ["--preset", "tiny", "--iterations", "20", "--quiet"]


@pytest.fixture(scope="module")
def clean48() -> np.ndarray:
    return scene(48, 48, 3, seed=4)


@pytest.fixture(scope="module")
def noisy48(clean48: np.ndarray) -> np.ndarray:
    return add_gaussian_noise(clean48, 25 / 255, seed=5)


@pytest.fixture()
def noisy_tif8(tmp_path: Path, noisy48: np.ndarray) -> Path:
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, np.round(np.moveaxis(noisy48, 0, -1) * 255).astype(np.uint8), photometric="rgb")
    return path


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def sidecar(output: Path) -> dict:
    return json.loads(Path(f"{output}.json").read_text())


def test_three_seeds_average_to_at_least_one_seeds_psnr(noisy48: np.ndarray, clean48: np.ndarray) -> None:
    one = restore_array(noisy48, preset="tiny", iterations=60, stop="fixed", seed=7, device="cpu",
                        ensemble=1)
    three = restore_array(noisy48, preset="tiny", iterations=60, stop="fixed", seed=7, device="cpu",
                          ensemble=3)
    assert psnr(three.estimate, clean48) >= psnr(one.estimate, clean48) - 0.1
    block = three.record["ensemble"]
    assert block["members"] == 3 and block["seeds"] == [7, 8, 9]
    assert block["stop_iterations"] == [60] * 3 and len(block["stop_reasons"]) == 3
    assert 0 < block["spread"] < 0.2
    assert "ensemble" not in one.record


def test_cli_ensemble_writes_the_mean_and_every_member_in_the_sidecar(tmp_path: Path,
                                                                     noisy_tif8: Path) -> None:
    out = tmp_path / "out.tif"
    code, err = run("restore", noisy_tif8, "-o", out, "--ensemble", "3", "--seed", "2", *FAST)
    assert code == 0, err
    record = sidecar(out)
    block = record["ensemble"]
    assert block["members"] == 3 and block["seeds"] == [2, 3, 4]
    assert len(block["stop_iterations"]) == len(block["stop_reasons"]) == 3
    assert all(reason for reason in block["stop_reasons"])
    assert block["spread"] > 0 and block["spread_stored"] == pytest.approx(block["spread"] * 255)
    assert record["params"]["ensemble"] == 3 and record["seed"] == 2
    single = tmp_path / "single.tif"
    assert run("restore", noisy_tif8, "-o", single, "--seed", "2", "--ensemble", "1", *FAST)[0] == 0
    assert "ensemble" not in sidecar(single) and sidecar(single)["params"]["ensemble"] == 1
    assert not np.array_equal(tifffile.imread(out), tifffile.imread(single))  # the mean, not member 0


def test_several_inputs_each_get_their_members(tmp_path: Path, noisy_tif8: Path, noisy48: np.ndarray) -> None:
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.round(np.moveaxis(noisy48[:, ::-1], 0, -1) * 255).astype(np.uint8),
                     photometric="rgb")
    # --jobs 1: both images in one process, fitted as one batch (a CPU's default is a worker each)
    code, err = run("restore", noisy_tif8, other, "-o", tmp_path / "out", "--ensemble", "2", "--jobs", "1",
                    *FAST)
    assert code == 0, err
    for name in ("noisy.tif", "other.tif"):
        record = sidecar(tmp_path / "out" / name)
        assert record["ensemble"]["members"] == 2 and record["batch_size"] == 2


def test_sure_fits_a_twin_per_member(tmp_path: Path, noisy_tif8: Path) -> None:
    out = tmp_path / "out.tif"
    code, err = run("restore", noisy_tif8, "-o", out, "--ensemble", "2", "--stop", "sure", *FAST)
    assert code == 0, err
    record = sidecar(out)
    assert record["ensemble"]["members"] == 2 and record["stop_rule"] == "sure"
    assert all("SURE" in reason or "fixed" in reason or "sure" in reason
               for reason in record["ensemble"]["stop_reasons"])


@pytest.mark.parametrize(("args", "named"), [
    (["--ensemble", "0"], "--ensemble"),
    (["--ensemble", str(10 ** 6)], "GiB"),  # a batch of a million nets cannot fit in memory
    (["--ensemble", "2", "--save-weights", "w.pt"], "--save-weights"),
    (["--ensemble", "2", "--init-weights", "w.pt"], "--init-weights"),
    (["--ensemble", "2", "--tile", "32", "--tile-overlap", "8"], "--tile"),
])
def test_bad_ensembles_are_usage_errors_naming_the_option(tmp_path: Path, noisy_tif8: Path,
                                                          args: list[str], named: str) -> None:
    out = tmp_path / "out.tif"
    code, err = run("restore", noisy_tif8, "-o", out, *[a if a != "w.pt" else tmp_path / a for a in args],
                    *FAST)
    assert code == 2, err
    assert "--ensemble" in err and named in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "w.pt").exists()


@pytest.mark.parametrize(("ensemble", "problem"), [(0, "at least 1"), (-2, "at least 1"),
                                                   (10 ** 6, "GiB")])
def test_the_library_refuses_bad_ensembles_naming_the_field(noisy48: np.ndarray, ensemble: int,
                                                            problem: str) -> None:
    with pytest.raises(FieldError) as caught:
        restore_array(noisy48, preset="tiny", iterations=5, device="cpu", ensemble=ensemble)
    assert caught.value.where == f"ensemble {ensemble}" and problem in caught.value.problem


def test_auto_is_the_devices_number_and_one_where_members_cannot_apply() -> None:
    assert DEVICE_ENSEMBLES == {"cpu": 2, "cuda": 4}  # the frontier's choice (RESULTS.md)
    assert default_ensemble("cpu") == 2 and default_ensemble("cuda") == 4 and default_ensemble("mps") == 1
    assert default_ensemble("cuda", warm_start=True) == 1 and default_ensemble("cpu", tiled=True) == 1
    assert default_ensemble("cpu", task="inpaint") == default_ensemble("cuda", task="sr") == 1
    assert default_ensemble("cpu", task="deblur") == 2 and default_ensemble("cuda", task="deblur") == 4
    assert default_ensemble("cuda", fits=lambda k: k <= 2) == 2  # halved until the batch fits
    assert default_ensemble("cuda", fits=lambda k: False) == 1


def test_the_default_fits_the_devices_members_and_records_them(tmp_path: Path, noisy_tif8: Path,
                                                                noisy48: np.ndarray) -> None:
    out = tmp_path / "out.tif"
    code, err = run("restore", noisy_tif8, "-o", out, *FAST)  # no --ensemble: auto, 2 on a CPU
    assert code == 0, err
    record = sidecar(out)
    assert record["params"]["ensemble"] == 2 and record["ensemble"]["seeds"] == [0, 1]
    result = restore_array(noisy48, preset="tiny", iterations=5, device="cpu")
    assert result.record["ensemble"]["members"] == 2


@pytest.mark.parametrize("args", [["--save-weights", "w.pt"], ["--tile", "32", "--tile-overlap", "8"]],
                         ids=["warm start", "tiled frame"])
def test_auto_fits_one_member_where_members_cannot_apply(tmp_path: Path, noisy_tif8: Path,
                                                         args: list[str]) -> None:
    out = tmp_path / "out.tif"
    code, err = run("restore", noisy_tif8, "-o", out, *[a if a != "w.pt" else tmp_path / a for a in args],
                    *FAST)
    assert code == 0, err
    assert sidecar(out)["params"]["ensemble"] == 1 and "ensemble" not in sidecar(out)


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_ensemble_value_is_a_usage_error(tmp_path: Path, noisy_tif8: Path, value: str) -> None:
    code, err = run("restore", noisy_tif8, "-o", tmp_path / "out.tif", "--ensemble", value, *FAST)
    assert code == 2 and "--ensemble" in err and "Traceback" not in err
