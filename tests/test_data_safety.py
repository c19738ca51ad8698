"""Data safety (issue 17, library side): inputs are never touched, checkpoints never run code,
bombs and full disks fail one file with a one-line error, outputs and sidecars come in pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.cli import main

FAST = ["--preset", "tiny", "--iterations", "20", "--quiet"]


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def _png(path: Path, seed: int, size: tuple[int, int] = (32, 32)) -> Path:
    rng = np.random.default_rng(seed)
    PILImage.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- 1. inputs are untouchable ---------------------------------------------------------------


def test_an_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive" / "probe"
    archive.mkdir(parents=True)
    _png(archive / "a.png", 1), _png(archive / "b.png", 2)
    before = _snapshot(tmp_path)
    for output in (archive / "restored", archive / "a.png", archive / "deeper" / "x.png"):
        code, err = run("restore", archive / "a.png", "-o", output, "--input-folder", archive,
                        "--overwrite", *FAST)
        assert code == 1 and err.count("\n") == 1, err
        assert str(output) in err and str(archive) in err and "Traceback" not in err
    code, err = run("restore", archive / "a.png", archive / "b.png", "-o", archive / "restored",
                    "--input-folder", archive, *FAST)
    assert code == 1 and "inside the input folder" in err
    assert _snapshot(tmp_path) == before  # byte for byte, and nothing new beside them
    assert sorted(p.name for p in archive.iterdir()) == ["a.png", "b.png"]


def test_one_input_is_never_another_inputs_output(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 2)
    before = _snapshot(tmp_path)
    code, err = run("restore", a, b, "-o", b, "-o", a, "--overwrite", *FAST)
    assert code == 1 and err.count("\n") == 1 and f"is the input {b}" in err, err
    assert _snapshot(tmp_path) == before
