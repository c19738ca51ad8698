"""`dipbatch plan` on a real config file and real images: counts, megapixels, time estimates that
scale with the cap, --json, a --configfile's datasets replacing config.yaml's, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from dipbatch.cli.app import main


def write_pngs(folder: Path, size: tuple[int, int], count: int, mode: str) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    shape = (*size, 3) if mode == "RGB" else size
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"img_{i}.png")


def write_config(path: Path, datasets: dict, **keys) -> None:
    config = {"device": "auto", "threads": 1, **keys, "datasets": datasets}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workflow folder: config.yaml with two datasets of different sizes, preset tiny."""
    write_pngs(tmp_path / "small", (32, 32), 3, "RGB")
    write_pngs(tmp_path / "large", (48, 64), 2, "L")
    write_config(tmp_path / "config.yaml", {
        "small": {"input": "small", "preset": "tiny", "iterations": 40},
        "large": {"input": "large", "preset": "tiny", "iterations": 40},
    })
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan(*args: str) -> dict:
    result = CliRunner().invoke(main, ["plan", "--device", "cpu", "--steps", "2", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def by_name(planned: dict) -> dict[str, dict]:
    return {d["dataset"]: d for d in planned["datasets"]}


def test_the_plan_counts_images_and_megapixels_per_dataset(archive: Path) -> None:
    planned = plan()
    rows = by_name(planned)
    assert list(rows) == ["small", "large"]
    assert (rows["small"]["images"], rows["large"]["images"]) == (3, 2)
    assert rows["small"]["megapixels"] == pytest.approx(3 * 32 * 32 / 1e6)
    assert rows["large"]["megapixels"] == pytest.approx(2 * 48 * 64 / 1e6)
    assert rows["large"]["median_size"] == [48, 64]
    assert planned["totals"]["images"] == 5
    for row in rows.values():
        assert row["preset"] == "tiny" and row["cap"] == 40
        assert row["step_s"] > 0 and row["per_image_s"] > 0
        assert row["total_s"] == pytest.approx(row["per_image_s"] * row["images"])
        assert row["gpu_hours"] == pytest.approx(row["total_s"] / 3600)
    assert planned["device_type"] == "cpu"


def test_the_time_scales_with_the_cap_and_one_net_is_timed_once(archive: Path) -> None:
    write_config(archive / "config.yaml", {
        "short": {"input": "small", "preset": "tiny", "iterations": 40},
        "long": {"input": "small", "preset": "tiny", "iterations": 80},
    })
    rows = by_name(plan())
    # The same net at the same size: timed once, so the doubled cap doubles the estimate exactly.
    assert rows["long"]["step_s"] == rows["short"]["step_s"]
    assert rows["long"]["total_s"] == pytest.approx(2 * rows["short"]["total_s"])


def test_a_configfile_naming_datasets_replaces_config_yamls(archive: Path) -> None:
    write_config(archive / "mine.yaml", {"mine": {"input": "large", "preset": "tiny", "ensemble": 2}})
    rows = by_name(plan("--configfile", "mine.yaml"))
    assert list(rows) == ["mine"]
    assert rows["mine"]["ensemble"] == 2 and rows["mine"]["cap"] == 300  # tiny's own cap


def test_the_table_has_a_row_per_dataset_and_a_totals_line(archive: Path) -> None:
    result = CliRunner().invoke(main, ["plan", "--device", "cpu", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "small" in result.stdout and "large" in result.stdout
    assert "total: 5 images, 0.01 MP" in result.stdout
    assert "calibrated on this machine's CPU, 1 thread per job" in result.stdout


@pytest.mark.parametrize(("dataset", "expected"), [
    ({"input": "nowhere"}, "error: datasets.bad.input: 'nowhere' is not a folder"),
    ({"input": "small", "preset": "huge"}, "error: datasets.bad.preset: 'huge' is not one of"),
    ({"input": "small", "iteration": 40}, "error: datasets.bad: 'iteration' is not a key here; did you "
                                          "mean iterations?"),
    ({"input": "small", "task": "sr", "options": {"facter": 4}},
     "error: datasets.bad.options.facter: dipbatch restore has no option --facter; did you mean factor?"),
])
def test_a_bad_config_is_one_error_line_naming_the_key(archive: Path, dataset: dict, expected: str) -> None:
    write_config(archive / "config.yaml", {"bad": dataset})
    result = CliRunner().invoke(main, ["plan", "--device", "cpu"])
    assert result.exit_code == 1
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_the_plan_says_while_the_installed_profile_holds_a_placeholder(
        archive: Path, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert CliRunner().invoke(main, ["profile", "install", "slurm"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["plan", "--device", "cpu", "--steps", "1"], env=env)
    assert result.exit_code == 0
    assert "still holds the placeholder `slurm_account: your_account`" in result.stdout
    installed = tmp_path / "config" / "snakemake" / "slurm" / "config.yaml"
    installed.write_text(installed.read_text().replace("your_account", "proj42"))
    result = CliRunner().invoke(main, ["plan", "--device", "cpu", "--steps", "1"], env=env)
    assert result.exit_code == 0 and "placeholder" not in result.stdout


def test_no_config_and_bad_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plan", "--device", "cpu"])
    assert result.exit_code == 1
    assert result.stderr == ("error: config.yaml: no such file: run in the workflow's folder, or give "
                             "--configfile\n")
    assert CliRunner().invoke(main, ["plan", "--steps", "0"]).exit_code == 2
    assert CliRunner().invoke(main, ["plan", "--configfile", "missing.yaml"]).exit_code == 2


def test_preset_auto_is_planned_as_the_preset_it_runs_as_on_this_device(archive: Path) -> None:
    write_config(archive / "config.yaml", {"small": {"input": "small", "iterations": 40}})  # preset: auto
    assert by_name(plan())["small"]["preset"] == "fast"  # a CPU's preset (docs/stopping.md, Defaults)


@pytest.mark.parametrize(("options", "message"), [
    ({"stop": "fixd"}, "datasets.small.options.stop: 'fixd' is not one of 'auto', 'fixed', 'sure'."),
    ({"sigma": -5}, "datasets.small.options.sigma: -5.0 is not in the range x>0."),
    ({"facter": 4}, "datasets.small.options.facter: dipbatch restore has no option --facter; did you "
                    "mean factor?"),
])
def test_the_plan_refuses_the_options_the_workflow_refuses(archive: Path, options: dict,
                                                           message: str) -> None:
    config = yaml.safe_load((archive / "config.yaml").read_text())
    config["datasets"]["small"]["options"] = options
    (archive / "config.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["plan", "--device", "cpu", "--steps", "1"])
    assert result.exit_code == 1 and result.stderr == f"error: {message}\n"


def test_a_deblurring_dataset_is_planned_with_its_psf_or_a_stand_in(archive: Path) -> None:
    """Each image's own PSF ({stem}) is not read by the plan: a typical kernel stands in."""
    write_config(archive / "config.yaml", {
        "own": {"input": "small", "preset": "tiny", "iterations": 40, "task": "deblur",
                "psf": "{stem}_psf.fits"},
        "model": {"input": "small", "preset": "tiny", "iterations": 40, "task": "deblur",
                  "psf": "moffat:fwhm=4"},
    })
    rows = by_name(plan())
    assert rows["own"]["images"] == rows["model"]["images"] == 3
    assert rows["model"]["step_s"] > 0 and rows["own"]["step_s"] > 0
