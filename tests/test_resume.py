"""Jobs that survive their time limit: `dipbatch restore` killed with SIGKILL after a checkpoint, rerun,
gives the same file as an uninterrupted run, whole-frame and tiled, and leaves no checkpoint behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from click.testing import CliRunner

from dipbatch.checkpoint import checkpoint_path
from dipbatch.cli import main
from dipbatch.imageio import read_image
from dipbatch.synthetic import add_gaussian_noise, scene

CLI = [sys.executable, "-c", "from dipbatch.cli import main; main()"]
COMMON = ["--preset", "tiny", "--stop", "fixed", "--checkpoint-every", "50", "--threads", "1", "--quiet"]


def _noisy_tif(path: Path, height: int, width: int) -> Path:
    noisy = add_gaussian_noise(scene(height, width, 1, seed=7), 0.1, seed=8)
    tifffile.imwrite(path, np.round(noisy[0] * 65535).astype(np.uint16))
    return path


def _killed_after(args: list[str], checkpoint: Path, output: Path) -> None:
    """Start `dipbatch restore`, SIGKILL it as soon as `checkpoint` exists, check it died mid-fit."""
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 400
    try:
        while not checkpoint.exists():
            assert proc.poll() is None, f"ended before its checkpoint: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint within the time limit"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not output.exists(), "the kill came too late: the output was already written"


def _rerun(args: list[str]) -> None:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def _reference(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".ckpt", ".part")))


def test_killed_fit_resumes_to_the_uninterrupted_result(tmp_path: Path, one_thread: None) -> None:
    noisy = _noisy_tif(tmp_path / "noisy.tif", 32, 32)
    def run(output: Path) -> list[str]:
        return ["restore", str(noisy), *COMMON, "--iterations", "150", "-o", str(output)]

    out = tmp_path / "resumed.tif"
    _killed_after(run(out), checkpoint_path(out), out)
    assert _leftovers(tmp_path) == [".resumed.tif.ckpt"]
    _rerun(run(out))
    _reference(run(tmp_path / "straight.tif"))
    np.testing.assert_array_equal(read_image(out).data, read_image(tmp_path / "straight.tif").data)
    resumed = json.loads((tmp_path / "resumed.tif.json").read_text())
    straight = json.loads((tmp_path / "straight.tif.json").read_text())
    assert resumed["resumed_from_iteration"] == 50 and "resumed_from_iteration" not in straight
    assert resumed["loss_curve"] == straight["loss_curve"]
    assert _leftovers(tmp_path) == []  # deleted once the output is written


def test_killed_tiled_fit_resumes_batch_by_batch(tmp_path: Path, one_thread: None) -> None:
    noisy = _noisy_tif(tmp_path / "noisy.tif", 48, 40)
    def run(output: Path) -> list[str]:  # 4 tiles, in 2 batches of 2
        return ["restore", str(noisy), *COMMON, "--iterations", "100", "--tile", "32",
                "--tile-overlap", "8", "--tile-batch", "2", "-o", str(output)]

    out = tmp_path / "resumed.tif"
    _killed_after(run(out), tmp_path / ".resumed.tif.1.ckpt", out)  # in the second batch
    assert _leftovers(tmp_path) == [".resumed.tif.0.ckpt", ".resumed.tif.1.ckpt"]
    _rerun(run(out))
    _reference(run(tmp_path / "straight.tif"))
    np.testing.assert_array_equal(read_image(out).data, read_image(tmp_path / "straight.tif").data)
    tiling = json.loads((tmp_path / "resumed.tif.json").read_text())["tiling"]
    assert tiling["tiles"] == 4 and tiling["batches_resumed"] == 2  # one finished, one mid-fit
    assert _leftovers(tmp_path) == []
