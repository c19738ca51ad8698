"""`dipbatch restore --jobs`: worker processes within the usable cores, one bad file failing alone,
Ctrl-C stopping every worker and leaving only whole files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_lines import closing_line
from click.testing import CliRunner
from PIL import Image as PILImage

from dipbatch.cli import main
from dipbatch.io.images import read_image
from dipbatch.run.pool import WorkerPlan, plan_workers, usable_cores

TINY = ["--preset", "tiny", "--quiet", "--checkpoint-every", "0"]


def test_thread_clamp_never_exceeds_the_cores() -> None:
    # defaults on a CPU: one job per image up to the cores, the cores shared out
    assert plan_workers(None, None, cores=8, images=3) == WorkerPlan(3, 2)
    assert plan_workers(None, None, cores=2, images=8) == WorkerPlan(2, 1)
    assert plan_workers(None, None, cores=4, images=1) == WorkerPlan(1, 4)
    # --threads alone is the process's budget (the workflow passes it): one job
    assert plan_workers(None, 1, cores=2, images=8) == WorkerPlan(1, 1)
    # a GPU runs the images as grouped batches in one process
    assert plan_workers(None, None, cores=16, images=8, device="cuda") == WorkerPlan(1, 16)
    # never more jobs than images
    assert plan_workers(4, 1, cores=8, images=2) == WorkerPlan(2, 1)
    # asking too much is clamped, threads first, and said
    clamped = plan_workers(2, 2, cores=2, images=8)
    assert (clamped.jobs, clamped.threads) == (2, 1)
    assert clamped.note is not None and "2 cores" in clamped.note
    assert plan_workers(4, 1, cores=2, images=8).jobs == 2
    assert plan_workers(1, 8, cores=2, images=1).threads == 2
    for jobs in (None, 1, 2, 3, 16):
        for threads in (None, 1, 2, 3, 16):
            for cores in (1, 2, 3, 16):
                plan = plan_workers(jobs, threads, cores, images=5)
                assert 1 <= plan.jobs * plan.threads <= cores


def test_usable_cores_follow_slurm() -> None:
    assert usable_cores({"SLURM_CPUS_PER_TASK": "1"}) == 1
    assert usable_cores({"SLURM_CPUS_PER_TASK": "100000"}) == len(os.sched_getaffinity(0))
    assert usable_cores({}) == len(os.sched_getaffinity(0))


def _pngs(folder: Path, noisy_rgb: np.ndarray, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"good{i}.png"
        crop = np.roll(noisy_rgb, 7 * i, axis=2)[:, :32, :32]
        PILImage.fromarray((np.moveaxis(crop, 0, -1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def test_a_bad_file_among_good_ones_fails_alone(tmp_path: Path, noisy_rgb: np.ndarray) -> None:
    good = _pngs(tmp_path, noisy_rgb, 2)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["restore", str(good[0]), str(bad), str(good[1]), "-o", f"{out}/",
                                       "--jobs", "2", "--threads", "1", "--iterations", "5", *TINY])
    assert result.exit_code == 1
    for path in good:
        assert read_image(out / path.name).data.shape == (3, 32, 32)
        assert (out / f"{path.name}.json").is_file()
    assert not (out / "broken.png").exists()
    lines = result.stderr.splitlines()
    assert "restoring 2 images in 2 processes of 1 threads" in lines
    assert sum(line.startswith("done: ") for line in lines) == 2
    assert lines[-1] == closing_line(lines, 2, 1, out)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "broken.png" in errors[0]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_ctrl_c_stops_every_worker_and_leaves_no_partial_files(tmp_path: Path,
                                                               noisy_rgb: np.ndarray) -> None:
    images = _pngs(tmp_path, noisy_rgb, 3)
    out = tmp_path / "out"
    out.mkdir()
    dipbatch = shutil.which("dipbatch", path=str(Path(sys.executable).parent))
    assert dipbatch is not None
    proc = subprocess.Popen([dipbatch, "restore", *map(str, images), "-o", f"{out}/", "--jobs", "2",
                             "--threads", "1", "--iterations", "100000", *TINY],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2:  # the two workers (and spawn's tracker)
        time.sleep(0.5)
        workers = {p for p in _children(proc.pid) if _running(p)}
    time.sleep(5)  # let them start fitting
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # no output, no sidecar, no temp file: only the checkpoints the workers saved on the signal
    assert all(p.name.startswith(".") and p.name.endswith(".ckpt") for p in out.iterdir()), \
        sorted(p.name for p in out.iterdir())
    assert "interrupted: " in err and "(SIGINT; each worker saves its fit's checkpoint)" in err
    assert len(workers) >= 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    assert not any(_running(p) for p in workers)
