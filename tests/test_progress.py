"""Progress a job log shows while the fit runs: plain lines when stderr is not a terminal, at every
tenth of the cap (and on a timer), and a last line with the output, the stop and the time."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

from dipbatch.fit.signals import AutoRule, expected_crossing
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.run.progress import PlainProgress, eta_text, losses_text

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
    hook = PlainProgress("a.tif", stream, every_s=0, state=lambda: "stopped at 7", start=5, members=2)
    for iteration in (6, 7, 8):
        hook(iteration, 1000, [0.5, 0.25])
    assert stream.getvalue().splitlines()[-1].startswith(
        "progress: a.tif 8/1000 loss per member 0.5, 0.25 stopped at 7")


def test_the_losses_are_labelled_and_the_eta_aims_at_the_expected_stop() -> None:
    assert losses_text([0.5]) == "loss 0.5"
    assert losses_text([0.5, 0.25], members=2) == "loss per member 0.5, 0.25"
    assert losses_text([0.5, 0.25]) == "loss per image 0.5, 0.25"
    assert losses_text([0.5, 0.25, 0.1, 0.2], members=2).startswith("loss per fit (image × member)")
    assert eta_text(0.1, 100, 3000, 500) == ("ETA 40 s to the expected stop near 500, at most 4 min 50 s "
                                             "to the cap")
    assert eta_text(0.1, 100, 3000, None) == "ETA 4 min 50 s to the cap"
    assert eta_text(None, 0, 3000, None) == "ETA ?"


def test_the_expected_stop_extrapolates_the_data_fit_to_the_discrepancy_level() -> None:
    rule = AutoRule(patience=100, min_start=50)
    fit = np.full(1000, np.nan)
    fit[[99, 199]] = [4.0, 2.0]  # halving every 100 iterations, floor 1: 0.97 near iteration 305
    assert expected_crossing(fit, 1.0, rule) == 305
    assert expected_crossing(fit, None, rule) is None  # no floor: no estimate
    fit[299] = 2.5  # rising again: no estimate
    assert expected_crossing(fit, 1.0, rule) is None
    fit[299] = 0.9  # already below: where it crossed
    assert expected_crossing(fit, 1.0, rule) == 300


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
    assert "expected stop" not in " ".join(rest)  # a fixed budget has no stop to expect


def test_an_automatic_stop_shows_its_expected_stop_before_it_comes(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.tif"
    tifffile.imwrite(noisy, np.round(add_gaussian_noise(scene(32, 32, 1, seed=7), 0.1, seed=8)[0]
                                     * 65535).astype(np.uint16))
    env = {**os.environ, "DIPBATCH_PROGRESS_SECONDS": "0"}
    proc = subprocess.run([*CLI, "restore", str(noisy), "--preset", "tiny", "--iterations", "3000",
                           "--ensemble", "1", "--threads", "1", "-o", str(tmp_path / "out.tif")],
                          capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    expected = [int(m.group(1)) for m in map(re.compile(r"expected stop near (\d+)").search, lines) if m]
    stopped = int(re.search(r"stopped at iteration (\d+)", lines[-1]).group(1))
    assert expected and stopped < 3000, proc.stderr[-3000:]
    assert abs(expected[-1] - stopped) <= 0.5 * stopped  # the last estimate is near the real stop
