"""Progress a job log shows while the fit runs: plain lines when stderr is not a terminal, at every
tenth of the cap (and on a timer), and a last line with the output, the stop and the time."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.run.progress import PlainProgress

CLI = [sys.executable, "-c", "from dipbatch.cli import main; main()"]


def test_plain_lines_come_every_tenth_of_the_cap() -> None:
    stream = io.StringIO()
    hook = PlainProgress("a.tif", stream, every_s=3600, state=lambda: "running")
    for iteration in range(1, 1001):
        hook(iteration, 1000, [0.5])
    lines = stream.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == [f"{i}/1000" for i in range(100, 1001, 100)]
    assert lines[0].startswith("progress: a.tif 100/1000 loss 0.5 running, ETA ")


def test_plain_lines_come_on_the_timer_between_tenths() -> None:
    stream = io.StringIO()
    hook = PlainProgress("a.tif", stream, every_s=0, state=lambda: "stopped at 7", start=5)
    for iteration in (6, 7, 8):
        hook(iteration, 1000, [0.5, 0.25])
    assert stream.getvalue().splitlines()[-1].startswith("progress: a.tif 8/1000 loss 0.5, 0.25 stopped at 7")


def test_a_job_log_shows_progress_before_the_fit_ends(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.tif"
    tifffile.imwrite(noisy, np.round(add_gaussian_noise(scene(32, 32, 1, seed=7), 0.1, seed=8)[0]
                                     * 65535).astype(np.uint16))
    out = tmp_path / "out.tif"
    env = {**os.environ, "DIPBATCH_PROGRESS_SECONDS": "0.2"}
    args = ["restore", str(noisy), "--preset", "tiny", "--stop", "fixed", "--iterations", "300",
            "--threads", "1", "-o", str(out)]
    proc = subprocess.Popen(CLI + args, stderr=subprocess.PIPE, text=True, env=env)  # a pipe, no terminal
    first = proc.stderr.readline()
    written_before = out.exists()
    rest = proc.stderr.read().splitlines()
    assert proc.wait(timeout=400) == 0
    assert first.startswith("progress: noisy.tif ") and "/300 loss " in first and ", ETA " in first
    assert not written_before, "the first progress line came only after the fit"
    steps = [int(line.split()[2].split("/")[0]) for line in [first, *rest] if line.startswith("progress:")]
    assert {10 * s // 300 for s in steps} >= {1, 3, 5, 6, 8, 10}  # each check point (every 50) in a new tenth
    assert rest[-1].startswith(f"done: {out}: stopped at iteration 300 (fixed: ran all 300 iterations), "
                               "300 run, ")
