"""The workflow on a real (one-node) SLURM cluster, through the SLURM executor plugin.

`.ci/run` starts the cluster with tests/slurm/start_cluster.sh. Without a cluster these tests skip,
naming that script; under DIPBATCH_REQUIRE_ALL=1 (.ci/run) they fail instead (tests/needs.py).
The node has no GPU, so tests/slurm/bin's sbatch/srun shims record the GPU flags the workflow
asked for and strip them before calling the real commands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from needs import missing
from PIL import Image

from dipbatch.io.results import read_table as read_summary

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHIMS = REPO / "tests" / "slurm" / "bin"
IMAGES = ["one.png", "sub/two.png", "sub/three.png"]
DEFAULT_CONFIG = ("threads: 1\ndevice: cpu\ndatasets:\n"
                  "  d:\n    input: data\n    preset: tiny\n    iterations: 4\n")


def cluster_state() -> str:
    if not shutil.which("sinfo"):
        return "sinfo is not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                              timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo timed out"
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s in ("idle", "mixed", "allocated") for s in states):
        return f"no usable node (sinfo: {proc.stdout.strip() or proc.stderr.strip()})"
    return ""


def require_cluster() -> None:
    problem = cluster_state()
    if problem:
        missing(f"no SLURM test cluster ({problem})",
                "install and start one with: sudo bash tests/slurm/start_cluster.sh")


def install_profile(config_home: Path, env: dict[str, str]) -> Path:
    """`dipbatch profile install slurm` into `config_home`, then the test cluster's keys set in it,
    as a user sets their account and partition; the installed profile's path."""
    proc = subprocess.run(["dipbatch", "profile", "install", "slurm"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    installed = config_home / "snakemake" / "slurm" / "config.yaml"
    assert str(installed) in proc.stdout
    profile = yaml.safe_load(installed.read_text())
    profile.update(yaml.safe_load((REPO / "tests" / "slurm" / "profile" / "config.yaml").read_text()))
    installed.write_text(yaml.safe_dump(profile))
    return installed


def prepare_work(work: Path, images: list[str], config: str = DEFAULT_CONFIG) -> dict[str, str]:
    """A copy of the workflow in `work` with `images` and `config`, and the environment of a user
    whose slurm profile is installed (into a temporary config home)."""
    work.mkdir(parents=True)
    shutil.copytree(REPO / "workflow", work / "workflow",
                    ignore=shutil.ignore_patterns("demo", "__pycache__"))
    rng = np.random.default_rng(0)
    for rel in images:
        path = work / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(path)
    (work / "config.yaml").write_text(config)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(SHIMS), str(Path(sys.executable).parent), env["PATH"]])
    env["SHIM_LOG"] = str(work / "shim_calls.log")
    env["XDG_CONFIG_HOME"] = str(work.parent / "config home")
    env.pop("SNAKEMAKE_PROFILE", None)
    install_profile(Path(env["XDG_CONFIG_HOME"]), env)
    return env


def run_on_slurm(work: Path, images: list[str], *profiles: Path) -> tuple[str, str]:
    """Run exactly `snakemake --profile slurm` (then `profiles`) on `images` in `work`, with the
    slurm profile installed into a temporary config home; return Snakemake's output and the
    shims' record of sbatch/srun calls."""
    env = prepare_work(work, images)
    cmd = ["snakemake", "--profile", "slurm"]
    for profile in profiles:
        cmd += ["--profile", str(profile)]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=540)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    # The workflow's own settings came from its workflow profile, by themselves.
    assert "workflow specific profile workflow/profiles/default" in output, output
    shim_log = Path(env["SHIM_LOG"])
    return output, shim_log.read_text() if shim_log.exists() else ""


def slurm_job_ids(work: Path, images: list[str]) -> list[str]:
    ids = []
    for rel in images:
        log = (work / "logs" / "d" / "restore" / f"{rel}.log").read_text()
        m = re.search(r"SLURM job (\d+)", log)
        assert m, log
        ids.append(m.group(1))
    return ids


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    require_cluster()
    work = tmp_path_factory.mktemp("slurm") / "work"
    output, calls = run_on_slurm(work, IMAGES)
    return work, output, calls


def test_outputs_exist(slurm_run):
    work, _, _ = slurm_run
    for rel in IMAGES:
        out = work / "results" / "d" / rel
        with Image.open(out) as im:
            assert im.size == (16, 16)
        assert (work / "results" / "d" / f"{rel}.json").is_file()
    rows = read_summary(work / "results" / "d" / "summary.tsv")
    assert [r["status"] for r in rows] == ["ok"] * len(IMAGES)


def test_jobs_ran_under_slurm(slurm_run):
    work, _, _ = slurm_run
    assert len(set(slurm_job_ids(work, IMAGES))) == len(IMAGES)  # one SLURM job per image


def test_restore_jobs_asked_for_one_gpu(slurm_run):
    _, _, calls = slurm_run
    sbatch = [line for line in calls.splitlines() if line.startswith("sbatch ")]
    restore = [line for line in sbatch if "rule_restore" in line]
    assert len(restore) == len(IMAGES), calls
    for line in restore:
        assert "--gpus=1" in line.split()
        assert re.search(r"(^| )-p gpu( |$)", line)
        assert re.search(r"--mem \d+", line) and re.search(r"-t \d+", line)
    # The summary rule is local: only restore jobs went to SLURM.
    assert len(sbatch) == len(IMAGES)
    # Inside each job the jobstep plugin asked srun for the GPU too.
    assert any(line.startswith("srun ") and "--gpus=1" in line for line in calls.splitlines())


def packing_profile(dest: Path) -> Path:
    """The packing block of profiles/slurm/config.yaml, uncommented, as its own profile."""
    lines = (REPO / "profiles" / "slurm" / "config.yaml").read_text().splitlines()
    start = lines.index("# groups:")
    block = [line[2:] for line in lines[start:] if line.startswith("# ")]
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text("\n".join(block) + "\n")
    return dest


def test_packed_images_share_one_slurm_job_and_one_gpu(tmp_path):
    require_cluster()
    images = ["p1.png", "p2.png", "p3.png"]
    profile = packing_profile(tmp_path / "pack")
    assert "group-components" in (profile / "config.yaml").read_text()
    _, calls = run_on_slurm(tmp_path / "work", images, profile)
    for rel in images:
        assert (tmp_path / "work" / "results" / "d" / rel).is_file()
    assert len(set(slurm_job_ids(tmp_path / "work", images))) == 1
    sbatch = [line for line in calls.splitlines() if line.startswith("sbatch ")]
    assert len(sbatch) == 1, calls
    assert "--gpus=1" in sbatch[0].split()  # not 3: the images take turns on one GPU


def test_a_scancelled_job_keeps_its_line_and_is_not_retried(tmp_path):
    """`scancel` of a running fit: the fit saves its checkpoint and says `interrupted:`, the job's
    shell lives on to close the attempt with SLURM's reason, and the retry that Snakemake submits
    asks for no more memory and only replays that line: a deliberate cancel is not undone. The
    summary says interrupted, with the command that resumes."""
    require_cluster()
    work = tmp_path / "work"
    env = prepare_work(work, ["long.png"], DEFAULT_CONFIG.replace(
        "iterations: 4", "iterations: 100000\n    options: {stop: fixed, checkpoint-every: 10}"))
    controller = subprocess.Popen(["snakemake", "--profile", "slurm", "--retries", "1"], cwd=work,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = work / "logs" / "d" / "restore" / "long.png.log"
    checkpoint = work / "results" / "d" / ".long.png.ckpt"
    try:
        deadline = time.monotonic() + 240
        while not checkpoint.exists():
            assert time.monotonic() < deadline and controller.poll() is None, "the fit never started"
            time.sleep(1)
        job = re.search(r"SLURM job (\d+)", log.read_text()).group(1)
        # squeue's default view, set as docs/cluster.md says, shows which image the job holds
        line = next(line for line in (REPO / "docs" / "cluster.md").read_text().splitlines()
                    if line.startswith("export SQUEUE_FORMAT2="))
        view = subprocess.run(["squeue"], env={**env, "SQUEUE_FORMAT2": line.split("=", 1)[1].strip("'")},
                              capture_output=True, text=True, timeout=30).stdout
        assert re.search(rf"^{job} .*rule_restore_wildcards_d_long\.png", view, re.M), view
        subprocess.run(["scancel", job], check=True, timeout=30)
        output, _ = controller.communicate(timeout=300)
    finally:
        controller.kill()
    lines = log.read_text().splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("=== attempt")] == [
        "=== attempt 1", "=== attempt 2"]
    interrupted = [line for line in lines if line.startswith("interrupted: data/long.png (SIGTERM;")]
    assert len(interrupted) == 2 and interrupted[0] == interrupted[1]  # said once, replayed once
    assert "dipbatch: attempt 1 ended with exit 143 (cancelled with scancel)" in lines
    assert any(line.startswith("dipbatch: not retried: attempt 1 was cancelled") for line in lines)
    memory = re.findall(r"mem_mb=(\d+)", output)
    assert len(memory) >= 2 and len(set(memory)) == 1, output  # the retry asked for no more
    row = read_summary(work / "results" / "d" / "summary.tsv")[0]
    assert row["status"] == "interrupted" and "checkpoint saved" in row["error"], row
    # The controller says it in one line, without the nested output of Snakemake inside the job.
    assert f"dipbatch:   d/long.png: {interrupted[0]}" in output
    assert output.count("Snakemake version:") == 1, output
