"""Shared fixtures: small synthetic images and a CLI runner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Before torch loads its OpenMP runtime (and inherited by every snakemake and dipbatch subprocess):
# threads that wait at a barrier sleep instead of spinning. The suite runs more torch threads than
# the machine has cores (xdist workers beside their subprocesses), and spinning threads then steal
# the cores from the ones with work: a 5 s fit took 190 s in a full run, 57 s beside one busy process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch

from dipbatch.physics.synthetic import add_gaussian_noise, scene

torch.set_num_threads(min(2, os.cpu_count() or 1))

SIGMA = 25 / 255


@pytest.fixture()
def one_thread():
    """Run torch on one thread in this test (as `--threads 1` does), and put the count back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def clean_rgb() -> np.ndarray:
    return scene(64, 64, 3, seed=1)


@pytest.fixture(scope="session")
def noisy_rgb(clean_rgb: np.ndarray) -> np.ndarray:
    return add_gaussian_noise(clean_rgb, SIGMA, seed=2)


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs: a disk that really fills up (root only; skipped where mounting is refused)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not permitted'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)

