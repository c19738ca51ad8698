"""The `dipbatch` command: a real restore with its sidecar, help, and every bad-input case."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cli_lines import closing_line
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.cli import main
from dipbatch.errors import DipbatchError
from dipbatch.io.images import read_image

FAST = ["--preset", "tiny", "--iterations", "20", "--quiet"]


@pytest.fixture()
def noisy_tif(tmp_path: Path, noisy_rgb: np.ndarray) -> Path:
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, np.round(np.moveaxis(noisy_rgb, 0, -1) * 65535).astype(np.uint16),
                     photometric="rgb")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def test_restore_writes_image_and_sidecar(tmp_path: Path, noisy_tif: Path) -> None:
    before = noisy_tif.read_bytes()
    out = tmp_path / "clean.tif"
    code, err = run("restore", noisy_tif, "-o", out, *FAST)
    assert code == 0, err
    restored = read_image(out)
    assert restored.source.dtype == "uint16" and restored.data.shape == (3, 64, 64)
    record = json.loads((tmp_path / "clean.tif.json").read_text())
    for key in ("dipbatch_version", "input_sha256", "task", "preset", "params", "seed", "device",
                "iterations", "wall_time_s", "final_loss", "loss_curve", "sigma_input", "sigma_output"):
        assert key in record, key
    assert record["iterations"] == 20 and record["preset"] == "tiny"
    assert record["params"]["preset"]["fit"]["lr"] == 0.01
    assert record["sigma_output"] < record["sigma_input"]
    assert noisy_tif.read_bytes() == before  # the input is never touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.tif", "clean.tif.json", "noisy.tif"]


def test_same_seed_gives_identical_files(tmp_path: Path, noisy_tif: Path) -> None:
    for name in ("a.tif", "b.tif"):
        assert run("restore", noisy_tif, "-o", tmp_path / name, "--seed", "3", *FAST)[0] == 0
    assert np.array_equal(tifffile.imread(tmp_path / "a.tif"), tifffile.imread(tmp_path / "b.tif"))


def test_several_inputs_go_to_an_output_folder(tmp_path: Path, noisy_tif: Path,
                                               noisy_rgb: np.ndarray) -> None:
    png = tmp_path / "small.png"
    PILImage.fromarray((np.moveaxis(noisy_rgb[:, :40, :48], 0, -1) * 255).astype(np.uint8)).save(png)
    code, err = run("restore", noisy_tif, png, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert read_image(tmp_path / "out" / "noisy.tif").data.shape == (3, 64, 64)
    assert read_image(tmp_path / "out" / "small.png").data.shape == (3, 40, 48)


def test_help_explains_every_option() -> None:
    result = CliRunner().invoke(main, ["restore", "--help"])
    assert result.exit_code == 0
    for option in ("--output", "--task", "--preset", "--iterations", "--seed", "--device",
                   "--overwrite", "--debug", "--output-dtype"):
        assert option in result.output


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp / "cut.png"
    buf = tmp / "whole.png"
    PILImage.fromarray(np.zeros((32, 32), np.uint8) + 7).save(buf)
    truncated.write_bytes(buf.read_bytes()[:60])
    text = tmp / "notes.bmp"
    text.write_text("hello")
    folder = tmp / "adir.png"
    folder.mkdir()
    return {
        "missing": (tmp / "nope.png", "no such file"),
        "empty": (empty, "empty"),
        "truncated": (truncated, "truncated"),
        "wrong type": (text, "unsupported"),
        "folder": (folder, "folder"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "wrong type", "folder"])
def test_bad_input_gives_one_line_and_exit_1(tmp_path: Path, case: str) -> None:
    path, words = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out.png"
    code, err = run("restore", path, "-o", out, *FAST)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}") and words in lines[0].lower()
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_output_equal_to_input_is_refused(noisy_tif: Path) -> None:
    before = noisy_tif.read_bytes()
    code, err = run("restore", noisy_tif, "-o", noisy_tif, "--overwrite", *FAST)
    assert code == 1 and "is the input" in err and err.count("\n") == 1
    assert noisy_tif.read_bytes() == before


def test_missing_output_folder_is_refused(tmp_path: Path, noisy_tif: Path) -> None:
    code, err = run("restore", noisy_tif, "-o", tmp_path / "no" / "where.tif", *FAST)
    assert code == 1 and "folder does not exist" in err


def test_existing_output_needs_overwrite(tmp_path: Path, noisy_tif: Path) -> None:
    out = tmp_path / "clean.tif"
    out.write_bytes(b"keep me")
    code, err = run("restore", noisy_tif, "-o", out, *FAST)
    assert code == 1 and "--overwrite" in err and out.read_bytes() == b"keep me"
    assert run("restore", noisy_tif, "-o", out, "--overwrite", *FAST)[0] == 0
    assert read_image(out).data.shape == (3, 64, 64)


def test_usage_error_exits_2(noisy_tif: Path) -> None:
    assert run("restore", noisy_tif)[0] == 2  # no -o
    assert run("restore", noisy_tif, "-o", "x.png", "--preset", "huge")[0] == 2


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "nope.png"), "-o",
                                       str(tmp_path / "o.png"), "--debug"])
    assert result.exit_code != 0 and isinstance(result.exception, DipbatchError)


def test_one_output_per_input_keeps_each_where_it_is_asked(tmp_path: Path, noisy_tif: Path,
                                                           noisy_rgb: np.ndarray) -> None:
    png = tmp_path / "small.png"
    PILImage.fromarray((np.moveaxis(noisy_rgb[:, :40, :48], 0, -1) * 255).astype(np.uint8)).save(png)
    first, second = tmp_path / "a" / "one.tif", tmp_path / "b" / "two.png"
    first.parent.mkdir()
    second.parent.mkdir()
    code, err = run("restore", noisy_tif, png, "-o", first, "-o", second, *FAST)
    assert code == 0, err
    assert read_image(first).data.shape == (3, 64, 64)
    assert read_image(second).data.shape == (3, 40, 48)
    assert (tmp_path / "b" / "two.png.json").is_file()


def test_a_wrong_number_of_outputs_is_a_usage_error(tmp_path: Path, noisy_tif: Path) -> None:
    code, err = run("restore", noisy_tif, noisy_tif, noisy_tif, "-o", tmp_path / "a.tif",
                    "-o", tmp_path / "b.tif", *FAST)
    assert code == 2 and "2 outputs for 3 inputs" in err
    assert run("restore", noisy_tif, noisy_tif, "-o", tmp_path / "a.tif", "-o", tmp_path / "a.tif",
               *FAST)[0] == 2
    assert not list(tmp_path.glob("*.tif.json"))


def test_help_shows_the_common_options_first_in_panels() -> None:
    result = CliRunner().invoke(main, ["restore", "--help"])
    assert result.exit_code == 0
    text = result.output
    panels = [line for line in text.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert panels[0] == "Common options:" and {"Stopping:", "Speed:", "Output and runs:"} <= set(panels)
    common = text[text.index("Common options:"):text.index(panels[1])]
    for option in ("--output", "--task", "--preset", "--device", "--iterations", "--pattern"):
        assert option in common, option
    assert "--tile-overlap" not in common and "--stretch" not in common


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_folder_input_restores_its_images_into_an_output_folder(tmp_path: Path, noisy_tif: Path,
                                                                   noisy_rgb: np.ndarray) -> None:
    folder = tmp_path / "archive"
    (folder / "night").mkdir(parents=True)
    noisy_tif.rename(folder / "one.tif")
    PILImage.fromarray((np.moveaxis(noisy_rgb[:, :32, :40], 0, -1) * 255).astype(np.uint8)).save(
        folder / "night" / "two.PNG")
    (folder / "notes.txt").write_text("not an image")
    code, err = run("restore", folder, "-o", tmp_path / "out", *FAST)
    assert code == 0, err
    assert _tree(tmp_path / "out") == ["night/two.PNG", "night/two.PNG.json", "one.tif", "one.tif.json"]
    lines = err.strip().splitlines()
    assert lines[-1] == closing_line(lines, 2, 0, tmp_path / "out")
    code, err = run("restore", folder, "-o", tmp_path / "tifs", "--pattern", "*.tif", *FAST)
    assert code == 0, err
    assert _tree(tmp_path / "tifs") == ["one.tif", "one.tif.json"]
    assert run("restore", folder, "-o", tmp_path / "none", "--pattern", "*.fits", *FAST)[0] == 1
    assert run("restore", folder / "one.tif", "-o", tmp_path / "x/", "--pattern", "*.tif", *FAST)[0] == 2


def test_an_output_ending_in_a_slash_is_a_new_folder_for_one_input(tmp_path: Path, noisy_tif: Path) -> None:
    code, err = run("restore", noisy_tif, "-o", f"{tmp_path / 'new' / 'folder'}/", *FAST)
    assert code == 0, err
    assert _tree(tmp_path / "new") == ["folder/noisy.tif", "folder/noisy.tif.json"]
    out = tmp_path / "new" / "folder" / "noisy.tif"
    lines = err.strip().splitlines()  # one input: the log ends with its output, stop and time
    done = next(k for k, line in enumerate(lines) if line.startswith("done: "))
    assert lines[done].startswith(f"done: {out}: stopped at iteration ")
    assert "20 run" in lines[done] and lines[done].endswith(" s")
    assert all(line.startswith(f"warning: {out}: ") for line in lines[done + 1:])  # then its doubts


def test_a_missing_input_is_reported_before_the_first_fit(tmp_path: Path, noisy_tif: Path) -> None:
    code, err = run("restore", noisy_tif, tmp_path / "nope.tif", "-o", tmp_path / "out", *FAST)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0] == f"error: {tmp_path / 'nope.tif'}: no such file"
    assert lines[1].startswith(f"done: {tmp_path / 'out' / 'noisy.tif'}")
    assert lines[-1] == closing_line(lines, 1, 1, tmp_path / "out")


def test_the_default_preset_on_a_cpu_is_fast_and_the_sidecar_names_it(tmp_path: Path,
                                                                       noisy_tif: Path) -> None:
    code, err = run("restore", noisy_tif, "-o", tmp_path / "a.tif", "--device", "cpu",
                    "--iterations", "3", "--quiet")
    assert code == 0, err
    record = json.loads((tmp_path / "a.tif.json").read_text())
    assert record["preset"] == "fast" and record["params"]["preset"]["net"]["channels_down"] == [32] * 5
    assert "--preset auto (the default): fast on CPU, paper on CUDA." in CliRunner().invoke(
        main, ["presets"]).output


def test_auto_is_paper_on_a_gpu_and_fast_elsewhere() -> None:
    from dipbatch.fit.presets import preset_for_device

    assert [preset_for_device("auto", d) for d in ("cuda", "cpu", "mps")] == ["paper", "fast", "fast"]
    assert preset_for_device("tiny", "cuda") == "tiny"


def test_presets_prints_a_table_and_json_on_request() -> None:
    result = CliRunner().invoke(main, ["presets", "--task", "sr"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines() if line.strip().startswith("sr ")]
    assert [row[:2] for row in rows] == [["sr", "paper"], ["sr", "fast"], ["sr", "tiny"]]
    assert len(result.output.splitlines()) < 20
    result = CliRunner().invoke(main, ["presets", "--json"])
    table = json.loads(result.output)
    assert table["denoise"]["paper"]["fit"]["iterations"] == 3000 and set(table) >= {"sr", "inpaint"}


@pytest.mark.parametrize("command", [["presets"], ["restore", "x.png", "-o", "y.png"]])
def test_an_unknown_task_is_a_usage_error(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--task", "foo"])
    assert result.exit_code == 2 and "'foo' is not one of" in result.stderr


def test_doubtful_outputs_get_warning_lines_and_their_own_count(tmp_path: Path, noisy_tif: Path) -> None:
    """20 iterations end at the cap, far from the noise floor: written, but said, and counted apart."""
    other = tmp_path / "other.tif"
    other.write_bytes(noisy_tif.read_bytes())
    code, err = run("restore", noisy_tif, other, "-o", tmp_path / "out", *FAST)
    lines = err.strip().splitlines()
    assert code == 0, err
    for name in ("noisy.tif", "other.tif"):
        assert f"warning: {tmp_path / 'out' / name}: ran to the cap (20 iterations): no stop fired" in lines
        # 20 iterations are far from the image: the classical estimate fused with it (σ 25/255: NL-means
        # and the DCT denoiser) says so too
        said = f"warning: {tmp_path / 'out' / name}: the fit and nl-means+dct disagree by "
        assert any(line.startswith(said) for line in lines), err
    assert lines[-1] == f"0 ok, 2 with warnings, 0 failed; outputs in {tmp_path / 'out'}"
    code, err = run("restore", noisy_tif, other, "-o", tmp_path / "fixed", "--stop", "fixed",
                    "--fusion", "off", *FAST)
    assert code == 0 and "warning:" not in err  # a fixed budget, unfused, is no doubt
    assert err.strip().splitlines()[-1] == f"2 ok, 0 failed; outputs in {tmp_path / 'fixed'}"
    code, err = run("restore", noisy_tif, "-o", tmp_path / "strict.tif", "--strict", *FAST)
    assert code == 3 and (tmp_path / "strict.tif").is_file()  # --strict: exit 3, the output stays


def test_the_command_list_and_restores_examples_read_whole() -> None:
    """`dipbatch --help` lists each command with a sentence click does not cut, and `restore --help`
    ends with examples whose every flag is one of restore's."""
    from dipbatch.cli.restore import EXAMPLES, restore

    listing = CliRunner().invoke(main, ["--help"], terminal_width=80).output
    commands = listing[listing.index("Commands:"):].splitlines()[1:]
    assert commands and not any(line.rstrip().endswith("...") for line in commands), listing
    flags = {opt for param in restore.params for opt in param.opts}
    used = re.findall(r"\s(--[a-z-]+)", EXAMPLES)
    assert used and set(used) <= flags, set(used) - flags
    assert "Examples:" in CliRunner().invoke(main, ["restore", "--help"]).output
