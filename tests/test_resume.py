"""Jobs that survive their time limit: `dipbatch restore` killed with SIGKILL after a checkpoint, or
stopped by SIGTERM (a SLURM time limit) or SIGINT at any iteration, rerun, gives the same file as an
uninterrupted run, whole-frame and tiled, and leaves no checkpoint behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from dipbatch.cli import main
from dipbatch.fit import interrupt
from dipbatch.fit.checkpoint import checkpoint_path
from dipbatch.fit.interrupt import Interrupted
from dipbatch.io.images import read_image
from dipbatch.io.results import INTERRUPTED_MARK
from dipbatch.physics.synthetic import add_gaussian_noise, scene

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


def _signalled_mid_fit(args: list[str], signum: int, output: Path) -> tuple[int, str]:
    """Start `dipbatch restore`, send `signum` once its first progress line is out (mid-fit, at an
    iteration the progress timer picks), and return its exit code and the rest of its stderr."""
    env = {**os.environ, "DIPBATCH_PROGRESS_SECONDS": "0.05"}
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:
            if line.startswith("progress:"):
                assert not output.exists()
                proc.send_signal(signum)
                break
        rest = proc.stderr.read()
    finally:
        proc.wait(timeout=400)
        proc.stderr.close()
    return proc.returncode, rest


def test_sigterm_saves_the_fit_and_a_rerun_gives_the_uninterrupted_result(tmp_path: Path,
                                                                          one_thread: None) -> None:
    noisy = _noisy_tif(tmp_path / "noisy.tif", 32, 32)
    def run(output: Path) -> list[str]:  # the default auto stop: its window state is resumed too
        return ["restore", str(noisy), "--preset", "tiny", "--iterations", "200", "--threads", "1",
                "--checkpoint-every", "0", "-o", str(output)]

    out = tmp_path / "resumed.tif"
    code, rest = _signalled_mid_fit(run(out), signal.SIGTERM, out)
    last = rest.strip().splitlines()[-1]
    assert code == 143, rest
    assert last.startswith(f"{INTERRUPTED_MARK} {noisy} (SIGTERM; checkpoint saved at iteration ")
    assert last.endswith(f"rerun the same command to resume: dipbatch {' '.join(run(out))}")
    assert _leftovers(tmp_path) == [".resumed.tif.ckpt"] and not out.exists()
    _rerun(run(out))
    _reference(run(tmp_path / "straight.tif"))
    np.testing.assert_array_equal(read_image(out).data, read_image(tmp_path / "straight.tif").data)
    resumed = json.loads((tmp_path / "resumed.tif.json").read_text())
    straight = json.loads((tmp_path / "straight.tif.json").read_text())
    saved_at = int(re.search(r"iteration (\d+)\)", last).group(1))
    assert 0 < resumed["resumed_from_iteration"] == saved_at < resumed["iterations"]
    for key in ("loss_curve", "stop_iteration", "stop_reason", "stop_curve"):
        assert resumed[key] == straight[key], key
    assert _leftovers(tmp_path) == []


def test_sigint_saves_the_fit_and_exits_130(tmp_path: Path) -> None:
    noisy = _noisy_tif(tmp_path / "noisy.tif", 32, 32)
    out = tmp_path / "out.tif"
    args = ["restore", str(noisy), *COMMON, "--iterations", "2000", "-o", str(out)]
    code, rest = _signalled_mid_fit([a for a in args if a != "--quiet"], signal.SIGINT, out)
    assert code == 130 and rest.strip().splitlines()[-1].startswith(f"{INTERRUPTED_MARK} {noisy} (SIGINT")
    assert _leftovers(tmp_path) == [".out.tif.ckpt"] and "Traceback" not in rest


def test_a_signal_inside_the_import_machinery_is_acted_on_not_dropped() -> None:
    """Python drops an exception raised in an import lock's weakref callback (printing "Exception
    ignored ... Traceback"), so a Ctrl-C landing there is noted and raised once `handled()` ends."""
    source = "import signal\nsignal.raise_signal(signal.SIGINT)\nreached = True"
    in_importlib = compile(source, "<frozen importlib._bootstrap>", "exec")
    elsewhere = compile(source, "elsewhere.py", "exec")
    scope: dict[str, object] = {}
    noted = []
    with pytest.raises(Interrupted) as stop, interrupt.handled():
        exec(in_importlib, scope)
        noted.append(interrupt.pending())  # the code ran on: the signal waits
    assert noted == [signal.SIGINT] and scope["reached"]
    assert stop.value.exit_code == 130
    assert interrupt.pending() is None
    scope.clear()
    with pytest.raises(Interrupted), interrupt.handled():
        exec(elsewhere, scope)
    assert "reached" not in scope  # outside the import machinery it stops at once
