"""Data safety (issue 17, library side): inputs are never touched, checkpoints never run code,
bombs and full disks fail one file with a one-line error, outputs and sidecars come in pairs."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.checkpoint import MAGIC, checkpoint_path, load_checkpoint, save_checkpoint
from dipbatch.cli import main
from dipbatch.fit import Fitter
from dipbatch.imageio import read_image
from dipbatch.sidecar import sidecar_path
from dipbatch.tasks import TaskOptions, make_problem, task_preset

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


# ---- 2. checkpoints are data, not code --------------------------------------------------------


class _Planted:
    """A pickle that, once unpickled, makes the marker folder (as os.system would run a command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _job_key_of(noisy: Path, iterations: int) -> str:
    """The key the CLI run below gives its checkpoint (so the planted file passes the key check)."""
    from dipbatch.restore import RestoreOptions, _job_key
    from dipbatch.sidecar import sha256_of

    options = RestoreOptions(preset="tiny", iterations=iterations)
    return _job_key([sha256_of(noisy)], task_preset(TaskOptions(), "tiny", iterations), options)


@pytest.mark.parametrize("header", [False, True], ids=["bare pickle", "behind the right key"])
def test_a_planted_checkpoint_never_runs(tmp_path: Path, header: bool) -> None:
    noisy, out = _png(tmp_path / "noisy.png", 3), tmp_path / "out.png"
    marker = tmp_path / "pwned"
    key = _job_key_of(noisy, 20)
    planted = checkpoint_path(out)
    with open(planted, "wb") as fh:
        if header:
            fh.write(MAGIC + key.encode() + b"\n")
        torch.save({"key": key, "state": _Planted(marker), "iteration": 10}, fh)
    code, err = run("restore", noisy, "-o", out, *FAST)
    assert not marker.exists(), "the planted checkpoint ran code"
    assert code == 0, err
    assert f"warning: {planted}" in err and "starts over" in err
    assert ("cannot load the checkpoint" if header else "not a checkpoint of this job") in err
    assert read_image(out).data.shape == (3, 32, 32)
    assert "resumed_from_iteration" not in json.loads(sidecar_path(out).read_text())
    assert not planted.exists()  # removed with the output written


def test_a_checkpoint_of_another_job_is_ignored_with_a_warning(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / ".x.png.ckpt"
    save_checkpoint(path, "a" * 64, {"iteration": 5, "w": torch.ones(3)})
    assert load_checkpoint(path, "a" * 64)["iteration"] == 5
    assert capsys.readouterr().err == ""
    assert load_checkpoint(path, "b" * 64) is None
    assert "not a checkpoint of this job" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:200])  # cut short
    assert load_checkpoint(path, "a" * 64) is None
    assert "cannot load the checkpoint" in capsys.readouterr().err


# ---- 3. --checkpoint-every N means every N iterations -----------------------------------------


def _fitter(seed: int = 0) -> Fitter:
    opts = TaskOptions()
    noisy = np.random.default_rng(seed).random((1, 32, 32), dtype=np.float32)
    return Fitter([make_problem(noisy, opts)], task_preset(opts, "tiny", 120), [0], "cpu")


@pytest.mark.parametrize(("every", "saved_at"), [(20, [20, 40, 60, 80, 100]), (60, [60])])
def test_checkpoints_come_every_n_iterations_whatever_the_check_interval(
        every: int, saved_at: list[int], one_thread: None) -> None:
    fitter = _fitter()
    assert fitter.check_every == 50 and fitter.cap == 120
    saves: list[dict] = []
    straight = fitter.run(checkpoint=lambda s: saves.append(copy.deepcopy(s)), checkpoint_every=every)[0]
    assert [s["iteration"] for s in saves] == saved_at
    resumed = _fitter()  # from the first save, off the check points: the same result
    resumed.load_state_dict(saves[0])
    np.testing.assert_array_equal(resumed.run()[0].estimate, straight.estimate)
