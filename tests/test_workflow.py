"""The Snakemake workflow, run for real through the snakemake CLI on temporary copies.

One successful run on tiny images is shared by several tests (module-scoped fixtures), and one
run with a corrupt image under --keep-going; each `dipbatch restore` job uses the tiny preset and
a handful of iterations, so the whole module takes about a minute on two cores.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from disks import fill
from PIL import Image

from dipbatch.fit.fusion import partner
from dipbatch.io.results import read_table as read_summary
from dipbatch.workflow.discovery import pack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ITERATIONS = 6
GOOD_IMAGES = ["a.png", "sub dir/ü 2.tif", "frames/frame_2.png", "frames/frame_10.png"]


def snakemake(workdir: Path, *args: str, check: bool = True, env_extra: dict[str, str] | None = None,
              **popen) -> subprocess.CompletedProcess:
    """Run the snakemake CLI of this interpreter's environment in `workdir`."""
    env = dict(os.environ) | (env_extra or {})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SNAKEMAKE_PROFILE", None)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--scheduler", "greedy", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
                          **popen)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "workflow", dest / "workflow",
                    ignore=shutil.ignore_patterns("demo", "__pycache__"))
    return dest


def write_config(workdir: Path, datasets: str) -> None:
    (workdir / "config.yaml").write_text(f"threads: 1\ndevice: cpu\ndatasets:\n{datasets}")


def save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def noisy(shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top, size=shape, endpoint=True).astype(dtype)


def pixels(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        return tifffile.imread(path)
    with Image.open(path) as im:
        return np.asarray(im)


def dataset(name: str, folder: str) -> str:
    return (f"  {name}:\n    input: {folder}\n    preset: tiny\n"
            f"    iterations: {ITERATIONS}\n")


def restore_jobs(stdout_and_err: str) -> list[str]:
    """The images (dataset/path) of the restore jobs a snakemake run or dry-run lists."""
    jobs = []
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", stdout_and_err):
        if re.match(r"\s*(?:local)?rule restore:", block):
            m = re.search(r"wildcards: dataset=(.*), path=(.*)", block)
            jobs.append(f"{m.group(1)}/{m.group(2).strip()}")
    return jobs


# --- one successful run, shared -----------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A workdir (with a space in its path) after one successful run on four tiny images."""
    work = copy_workflow(tmp_path_factory.mktemp("wf") / "work dir")
    data = work / "data" / "good"
    save_png(data / "a.png", noisy((20, 28, 3), seed=1))
    path = data / "sub dir" / "ü 2.tif"
    path.parent.mkdir(parents=True)
    tifffile.imwrite(path, noisy((18, 22), np.uint16, seed=2))
    save_png(data / "frames" / "frame_2.png", noisy((16, 16), seed=3))
    save_png(data / "frames" / "frame_10.png", noisy((16, 16), seed=4))
    (data / ".hidden.png").write_bytes(b"not an image, never read")
    (data / "notes.txt").write_text("not an image")
    write_config(work, dataset("good", "data/good"))
    snakemake(work)
    return work


def test_every_output_is_an_image_like_its_input(good):
    for rel in GOOD_IMAGES:
        src = pixels(good / "data" / "good" / rel)
        out = pixels(good / "results" / "good" / rel)
        assert out.shape == src.shape, rel
        assert out.dtype == src.dtype, rel
        assert (good / "results" / "good" / f"{rel}.json").is_file()
        assert (good / "logs" / "good" / "benchmark" / f"{rel}.tsv").is_file()
    assert not (good / "results" / "good" / ".hidden.png").exists()


def test_summary_lists_every_image_in_natural_order(good):
    rows = read_summary(good / "results" / "good" / "summary.tsv")
    assert [r["image"] for r in rows] == [
        "a.png", "frames/frame_2.png", "frames/frame_10.png", "sub dir/ü 2.tif",
    ]
    for row in rows:
        assert row["status"] == "ok"
        assert row["output"] == f"results/good/{row['image']}"
        assert int(row["iterations"]) <= ITERATIONS
        assert row["stop_reason"] and row["error"] == ""
        assert float(row["wall_time_s"]) >= 0
        assert row["sigma_input"] != "" and row["sigma_output"] != ""


def test_the_workflow_fuses_and_declips_denoised_images_and_the_summary_shows_the_agreement(good):
    rows = {r["image"]: r for r in read_summary(good / "results" / "good" / "summary.tsv")}
    for rel in GOOD_IMAGES:
        record = json.loads((good / "results" / "good" / f"{rel}.json").read_text())
        fusion, declip = record["fusion"], record["declip"]
        assert declip["applied"] or "the noise was not clipped" in declip["reason"], rel  # Gaussian noise
        assert fusion["method"] == partner("auto", fusion["domain"], fusion["sigma"]), rel
        assert fusion["chosen"] == "auto" and 0 < fusion["weight"] <= 1, rel
        assert float(rows[rel]["disagreement"]) == pytest.approx(fusion["disagreement"], rel=1e-4), rel


def test_logs_record_the_job(good):
    log = (good / "logs" / "good" / "restore" / "a.png.log").read_text()
    assert "SLURM job none" in log


def test_second_run_has_nothing_to_do(good):
    proc = snakemake(good, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_touching_one_input_reruns_only_that_image(good):
    results = good / "results" / "good"
    before = {rel: (results / rel).stat().st_mtime_ns for rel in GOOD_IMAGES}
    time.sleep(0.05)
    (good / "data" / "good" / "frames" / "frame_10.png").touch()
    # The workflow profile (workflow/profiles/default, applied without a flag) makes Snakemake go
    # by modification times; its own default would also need the content of a small file to change.
    proc = snakemake(good)
    assert "workflow specific profile workflow/profiles/default" in proc.stderr
    assert restore_jobs(proc.stdout + proc.stderr) == ["good/frames/frame_10.png"]
    after = {rel: (results / rel).stat().st_mtime_ns for rel in GOOD_IMAGES}
    assert [rel for rel in GOOD_IMAGES if after[rel] != before[rel]] == ["frames/frame_10.png"]


def test_a_deleted_output_is_restored_by_a_rerun(tmp_path):
    """Delete an image with its sidecar, an image alone, or a sidecar alone, and rerun: the banner's
    promise is kept, and only those are restored; --forcerun redoes one image in place."""
    work = copy_workflow(tmp_path / "w")
    for seed, name in enumerate(("a.png", "b.png", "c.png")):
        save_png(work / "data" / name, noisy((12, 12, 3), seed=5 + seed))
    write_config(work, dataset("d", "data"))
    snakemake(work)
    out = work / "results" / "d"
    for name in ("a.png", "a.png.json", "b.png", "c.png.json"):
        (out / name).unlink()
    proc = snakemake(work)
    log = proc.stdout + proc.stderr
    assert "3 to restore" in log and sorted(restore_jobs(log)) == ["d/a.png", "d/b.png", "d/c.png"], log
    assert all((out / name).is_file() for name in ("a.png", "a.png.json", "b.png", "c.png.json"))
    assert [r["status"] for r in read_summary(out / "summary.tsv")] == ["ok", "ok", "ok"]
    before = (out / "summary.tsv").stat().st_mtime_ns
    proc = snakemake(work, "--forcerun", "results/d/b.png")  # redo one image in place
    assert restore_jobs(proc.stdout + proc.stderr) == ["d/b.png"]
    assert (out / "summary.tsv").stat().st_mtime_ns > before


def test_the_snakefile_is_read_without_torch(tmp_path):
    """Snakemake reads the Snakefile once per run and again in every job it spawns (the summary, the
    report and the index): that read imports no torch, so a dry run over an archive and those jobs
    start in about a second. A `torch` that cannot be imported shows it; every task's record is read."""
    stand_in = tmp_path / "no_torch" / "torch"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text("raise ImportError('the Snakefile imported torch')\n")
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "a.png", noisy((12, 12, 3), seed=5))
    save_png(work / "masks" / "a.png", np.full((12, 12), 255, np.uint8))
    write_config(work, dataset("d", "data") + "".join(
        f"  {task}:\n    input: data\n    task: {task}\n{extra}" for task, extra in (
            ("sr", ""), ("inpaint", "    mask: masks/{stem}.png\n"), ("deblock", ""),
            ("deblur", "    psf: gaussian:fwhm=2\n"))))
    proc = snakemake(work, "--dry-run", env_extra={"PYTHONPATH": str(stand_in.parent)})
    assert sorted(restore_jobs(proc.stdout + proc.stderr)) == [
        "d/a.png", "deblock/a.png", "deblur/a.png", "inpaint/a.png", "sr/a.png"]


def test_resources_grow_with_pixels(good, tmp_path):
    big = copy_workflow(tmp_path / "big")
    save_png(big / "data" / "small.png", noisy((10, 10), seed=5))
    save_png(big / "data" / "large.png", noisy((1000, 1000), seed=6))
    write_config(big, "  d:\n    input: data\n    preset: paper\n    ensemble: 1\n")
    proc = snakemake(big, "--dry-run")
    found = dict(re.findall(r"path=(\w+\.png)\n.*?mem_mb=(\d+)", proc.stdout, re.S))
    runtimes = dict(re.findall(r"path=(\w+\.png)\n.*?runtime=(\d+)", proc.stdout, re.S))
    # paper preset: 4000 MB + 8000 MB per megapixel; 30 min + 240 min per megapixel
    assert found == {"small.png": "4001", "large.png": "12000"}
    assert runtimes == {"small.png": "31", "large.png": "270"}
    assert "gpu=1" in proc.stdout


def test_the_default_preset_asks_for_the_devices_resources(tmp_path):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "large.png", noisy((1000, 1000), seed=6))
    write_config(work, "  d:\n    input: data\n")  # no preset, no ensemble: auto
    memory = {}
    for device in ("cpu", "cuda", "auto"):
        proc = snakemake(work, "--dry-run", "--printshellcmds", "--config", f"device={device}")
        assert "--preset auto" in proc.stdout and "--ensemble" not in proc.stdout
        memory[device] = re.search(r"mem_mb=(\d+)", proc.stdout).group(1)
    # fast: 2000 MB + 4000 per megapixel; paper: 4000 + 8000 (a job of device auto may get a GPU);
    # the ensemble's members (auto: 2 on a CPU, 4 on CUDA) add minutes, not memory
    assert memory == {"cpu": "6000", "cuda": "12000", "auto": "12000"}


def test_an_ensembles_minutes_grow_with_its_members(tmp_path):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "large.png", noisy((1000, 1000), seed=6))
    write_config(work, "  d:\n    input: data\n    preset: paper\n    ensemble: 3\n")
    proc = snakemake(work, "--dry-run")
    # paper preset: 30 min + 240 min per megapixel and member; 4000 MB + 8000 MB per megapixel (the
    # members add minutes, not memory: a CPU computes one member's graph at a time)
    assert re.search(r"mem_mb=12000\b", proc.stdout) and re.search(r"runtime=750\b", proc.stdout)


# --- failures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A run under --keep-going where one of two images is corrupt."""
    work = copy_workflow(tmp_path_factory.mktemp("wf") / "mixed")
    save_png(work / "data" / "fine.png", noisy((16, 20), seed=7))
    (work / "data" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a PNG at all")
    write_config(work, dataset("mixed", "data"))
    proc = snakemake(work, "--keep-going", check=False)
    return work, proc


def test_corrupt_image_fails_only_its_own_job(mixed):
    work, proc = mixed
    assert proc.returncode != 0
    assert (work / "results" / "mixed" / "fine.png").is_file()
    assert not (work / "results" / "mixed" / "broken.png").exists()
    log = (work / "logs" / "mixed" / "restore" / "broken.png.log").read_text().splitlines()
    errors = [line for line in log if line.startswith("error:")]
    assert len(set(errors)) == 1 and "broken.png" in errors[0]


def test_a_corrupt_input_runs_once_and_its_retries_replay_its_error(mixed):
    """The workflow profile's `retries: 2` give three attempts; a data error (exit 1) is final, so
    attempts 2 and 3 ask for no more memory or time and only replay attempt 1's error. Every attempt
    is in the log, under its own header."""
    work, proc = mixed
    log = (work / "logs" / "mixed" / "restore" / "broken.png.log").read_text().splitlines()
    headers = [line for line in log if line.startswith("=== attempt")]
    assert [h.split(":")[0] for h in headers] == ["=== attempt 1", "=== attempt 2", "=== attempt 3"]
    replays = [i for i, line in enumerate(log) if line.startswith("dipbatch: not retried: attempt")]
    assert len(replays) == 2 and all("a data error (exit 1)" in log[i] for i in replays)
    ran = [i for i, line in enumerate(log) if line.startswith("error:") and i - 1 not in replays]
    assert len(ran) == 1  # dipbatch restore read the image once
    assert log[-1] == "dipbatch: attempt 3 ended with exit 1"
    jobs = [block for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", proc.stdout + proc.stderr)
            if re.match(r"\s*(?:local)?rule restore:", block) and "path=broken.png" in block]
    memory = [re.search(r"mem_mb=(\d+)", block).group(1) for block in jobs]
    assert len(memory) == 3 and len(set(memory)) == 1, memory  # not 2× and 3×


def test_a_failure_ends_the_run_in_one_line_without_nested_logs_or_long_commands(mixed):
    """The controller's output names the failed image, its error and its log in one line; it does
    not echo each job's shell command nor print the failed job's log back."""
    work, proc = mixed
    output = proc.stdout + proc.stderr
    error = next(line for line in (work / "logs" / "mixed" / "restore" / "broken.png.log")
                 .read_text().splitlines() if line.startswith("error:"))
    assert f"dipbatch:   mixed/broken.png: {error} (log: logs/mixed/restore/broken.png.log)" in output
    assert "Shell command:" not in output and "Logfile " not in output


def test_summary_lists_the_failure(mixed):
    work, _ = mixed
    rows = {r["image"]: r for r in read_summary(work / "results" / "mixed" / "summary.tsv")}
    assert rows["fine.png"]["status"] == "ok"
    assert rows["broken.png"]["status"] == "failed"
    assert rows["broken.png"]["error"].startswith("error: ")
    assert "broken.png" in rows["broken.png"]["error"]


def test_counts_warnings_index_and_snakemake_report_after_a_failure(mixed):
    work, _ = mixed  # before test_fixing_the_image_completes_the_summary mends broken.png
    logs = read_controller_logs(work)
    assert "dipbatch: 2 images in 1 datasets, 0 already done, 2 to restore" in logs
    assert "dipbatch: 2 images in 1 datasets: 1 ok, 1 failed, 0 interrupted, 0 missing" in logs
    rows = {r["image"]: r for r in read_summary(work / "results" / "mixed" / "summary.tsv")}
    # Six iterations never let the stop rule fire: the fit ran to its cap.
    assert rows["fine.png"]["warnings"].startswith("ran to the cap (6 iterations)")
    assert rows["broken.png"]["status"] == "failed" and rows["broken.png"]["warnings"] == ""
    report = (work / "results" / "mixed" / "report.html").read_text()
    assert '<b>1</b> with warnings' in report and 'class="ok warned"' in report
    index = (work / "results" / "index.html").read_text()
    assert '<a href="mixed/report.html">mixed</a>' in index
    assert "<td>mixed" not in index  # the dataset links its report
    snake = snakemake(work, "--report", "snake.html")
    assert "Report created" in snake.stdout + snake.stderr
    html = (work / "snake.html").read_text()
    assert "results/mixed/report.html" in html and "results/mixed/fine.png" in html


def test_fixing_the_image_completes_the_summary(mixed):
    work, _ = mixed
    save_png(work / "data" / "broken.png", noisy((16, 20), seed=8))
    proc = snakemake(work)
    assert restore_jobs(proc.stdout + proc.stderr) == ["mixed/broken.png"]
    rows = read_summary(work / "results" / "mixed" / "summary.tsv")
    assert [r["status"] for r in rows] == ["ok", "ok"]


# --- packed datasets (batch: N) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A run under --keep-going of a dataset packed 3 to a job, where two of seven images, in one
    chunk, are corrupt: one truncated, one empty."""
    work = copy_workflow(tmp_path_factory.mktemp("wf") / "packed")
    names = [f"img_{k}.png" for k in range(7)]
    for k, name in enumerate(names):
        save_png(work / "data" / name, noisy((16, 20, 3), seed=20 + k))
    (work / "data" / names[3]).write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    (work / "data" / names[5]).write_bytes(b"")
    write_config(work, dataset("p", "data") + "    batch: 3\n")
    before = snapshot(work / "data")
    proc = snakemake(work, "--keep-going", check=False)
    assert snapshot(work / "data") == before
    return work, proc, names


CORRUPT = {"img_3.png": "truncated or corrupt image", "img_5.png": "empty file"}


def test_a_packed_dataset_runs_one_job_per_chunk_and_keeps_every_good_image(packed):
    work, _, names = packed
    chunks = pack(names, 3)
    assert 2 <= len(chunks) < len(names)
    assert any(set(CORRUPT) <= set(chunk) for chunk in chunks)  # both bad ones share a chunk
    assert sorted(p.name for p in (work / "logs" / "p" / "restore_batch").iterdir()) == sorted(
        f"{chunk[0]}.log" for chunk in chunks)
    sizes = set()
    for name in names:
        sidecar = work / "results" / "p" / f"{name}.json"
        assert sidecar.is_file() == (name not in CORRUPT), name
        if sidecar.is_file():
            record = json.loads(sidecar.read_text())
            sizes.add(record["batch_size"])
            assert record["output"] == f"results/p/{name}"
            assert pixels(work / "results" / "p" / name).shape == (16, 20, 3)
    assert max(sizes) > 1  # images of one chunk were fitted together


def test_each_corrupt_image_of_a_packed_chunk_fails_alone_with_its_own_error(packed):
    work, proc, names = packed
    assert proc.returncode != 0
    rows = {r["image"]: r for r in read_summary(work / "results" / "p" / "summary.tsv")}
    for name in names:
        if name in CORRUPT:
            assert rows[name]["status"] == "failed", name
            assert rows[name]["error"].startswith(f"error: data/{name}: {CORRUPT[name]}"), rows[name]
        else:
            assert rows[name]["status"] == "ok", name


def test_fixing_the_images_reruns_only_their_chunk(packed):
    work, _, _ = packed
    for k, name in enumerate(CORRUPT):
        save_png(work / "data" / name, noisy((16, 20, 3), seed=99 + k))
    proc = snakemake(work)
    done = re.findall(r"rule (restore\w*):", proc.stdout + proc.stderr)
    assert len(done) == 1 and done[0].startswith("restore_p_batch")
    assert [r["status"] for r in read_summary(work / "results" / "p" / "summary.tsv")] == ["ok"] * 7
    assert all((work / "results" / "p" / name).is_file() for name in CORRUPT)
    assert "Nothing to be done" in snakemake(work, "--dry-run").stdout
    restored = pixels(work / "results" / "p" / "img_0.png")
    (work / "results" / "p" / "img_0.png").unlink()  # a deleted output comes back, without a refit
    proc = snakemake(work)
    rules = re.findall(r"rule (\w+):", proc.stdout + proc.stderr)
    assert "place_packed" in rules and not any(r.startswith("restore") for r in rules), rules
    assert np.array_equal(pixels(work / "results" / "p" / "img_0.png"), restored)


# --- configuration and lint -----------------------------------------------------------------------


@pytest.mark.parametrize(("datasets", "key"), [
    ("  d:\n    input: data\n    preset: huge\n", "datasets.d.preset"),
    ("  d:\n    input: data\n    kind: movie\n", "datasets.d.kind"),
    ("  d:\n    input: no/such/folder\n", "datasets.d.input"),
    ("  d:\n    input: data\n    iterations: 0\n", "datasets.d.iterations"),
    ("  d:\n    input: data\n    batch: 0\n", "datasets.d.batch"),
    ("  d:\n    input: data\n    task: inpaint\n    batch: 4\n", "datasets.d.batch"),
    ("  d:\n    input: data\n    ensemble: 0\n", "datasets.d.ensemble"),
    ("  d:\n    input: data\n    kind: sequence\n    ensemble: 2\n", "datasets.d.ensemble"),
])
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, datasets, key):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=9))
    write_config(work, datasets)
    proc = snakemake(work, check=False)
    assert proc.returncode != 0
    assert f"Invalid configuration: {key}:" in proc.stderr + proc.stdout
    assert not (work / "logs").exists() and not (work / "results").exists()


def test_a_dataset_ensemble_fits_its_members_and_the_sidecar_lists_them(tmp_path):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((12, 12, 3), seed=11))
    write_config(work, dataset("d", "data") + "    ensemble: 2\n    seed: 5\n")
    snakemake(work)
    record = json.loads((work / "results" / "d" / "x.png.json").read_text())
    assert record["ensemble"]["members"] == 2 and record["ensemble"]["seeds"] == [5, 6]
    assert len(record["ensemble"]["stop_reasons"]) == 2 and record["params"]["ensemble"] == 2
    row = read_summary(work / "results" / "d" / "summary.tsv")[0]
    assert row["ensemble"] == "2"
    assert float(row["ensemble_spread"]) == pytest.approx(record["ensemble"]["spread"])
    assert "mean of 2 members (seeds 5, 6" in (work / "results" / "d" / "report.html").read_text()


def test_unknown_top_level_key_is_named(tmp_path):
    work = copy_workflow(tmp_path / "w")
    (work / "config.yaml").write_text("datset: {}\n")
    proc = snakemake(work, "--dry-run", check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0 and "'datset' is not a key here; did you mean datasets?" in out, out
    assert 'File "' not in out and "WorkflowError" not in out  # one line, no stack lines of a crash


def test_lint_is_clean_but_for_the_explained_warning():
    """`snakemake --lint` on the repository; the one remaining lint is explained in restore.smk."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return
    lints = re.findall(r"^Lints for rule (\w+).*?:\n\s+\* (.*?):?\n", out, re.M)
    # restore, and the rules that run dipbatch like it (temporal.smk says they share its note)
    assert {rule for rule, _ in lints} <= {"restore", "temporal", "restore_warm", "restore_video"}, out
    assert {lint for _, lint in lints} == {"Specify a conda environment or container for each rule."}, out
    assert "Lint note" in (REPO / "workflow/rules/restore.smk").read_text()
    documented = re.search(r"On the demo configuration these are (.*?) \((\d) rules\)",
                           " ".join((REPO / "docs/workflow.md").read_text().split()))
    assert documented and int(documented.group(2)) == len(lints), out  # the docs count what it flags
    assert {rule for rule, _ in lints} == set(re.findall(r"`(\w+)`", documented.group(1))), out


def test_the_repository_has_what_the_workflow_catalog_asks_for():
    """The catalog's standardized usage: a licence (the one pyproject names), the catalog file saying
    how to use one's own config, the report, and Snakefiles that snakefmt leaves unchanged."""
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert "--configfile" in usage["mandatory-flags"]["desc"] and usage["report"] is True
    assert set(usage["software-stack-deployment"]) == {"conda", "singularity", "singularity+conda"}
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()
    assert (REPO / "config.yaml").is_file() and (REPO / "workflow/Snakefile").is_file()
    proc = subprocess.run([str(Path(sys.executable).parent / "snakefmt"), "--check", "workflow"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- data safety ----------------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_an_output_folder_over_the_inputs_is_refused_and_the_originals_survive(tmp_path):
    """The issue's reproducer: `output: archive` with a dataset reading archive/probe."""
    work = copy_workflow(tmp_path / "w")
    save_png(work / "archive" / "probe" / "a.png", noisy((12, 12), seed=40))
    save_png(work / "archive" / "probe" / "sub" / "b.png", noisy((12, 12), seed=41))
    before = snapshot(work / "archive")
    (work / "config.yaml").write_text(
        "output: archive\nthreads: 1\ndevice: cpu\ndatasets:\n" + dataset("probe", "archive/probe"))
    for _ in range(2):  # each rerun used to delete more originals
        proc = snakemake(work, "--cores", "1", check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "datasets.probe.input: 'archive/probe' is inside the output folder 'archive'" in out
        assert "rule restore" not in out
        assert snapshot(work / "archive") == before


def _link(path: Path, target: str | Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


#: Ways a planned output can reach the inputs, at every level: (what to make, the output it names).
REACHING_LINKS = {
    "the dataset's folder": (lambda w: _link(w / "results" / "probe", "../in"), "results/probe"),
    "the output folder": (lambda w: _link(w / "results", "in/deeper"), None),  # the folders' own check
    "a subfolder": (lambda w: _link(w / "results" / "probe" / "sub", "../../in/sub"), "results/probe/sub"),
    "an image": (lambda w: _link(w / "results" / "probe" / "a.png", "../../in/a.png"),
                 "results/probe/a.png"),
    "a sidecar": (lambda w: _link(w / "results" / "probe" / "b.png.json", "../../in/b.png"),
                  "results/probe/b.png.json"),
    "the logs": (lambda w: _link(w / "logs" / "probe", "../in"), "logs/probe"),
    "a hard link": (lambda w: (w / "results" / "probe").mkdir(parents=True)
                    or os.link(w / "in" / "a.png", w / "results" / "probe" / "a.png"), "results/probe/a.png"),
    "a link to a linked input": (lambda w: _link(w / "results" / "probe" / "c.png", w / "elsewhere.png"),
                                 "results/probe/c.png"),
}


@pytest.mark.parametrize("level", list(REACHING_LINKS))
def test_a_planned_output_that_reaches_an_input_through_a_link_is_refused(tmp_path, level):
    """The issue's reproducer and its kin: `ln -s ../in results/probe` made Snakemake delete inputs."""
    work = copy_workflow(tmp_path / "w")
    for k, name in enumerate(["a.png", "b.png", "sub/d.png", "deeper/e.png"]):
        save_png(work / "in" / name, noisy((8, 8), seed=80 + k))
    save_png(work / "elsewhere.png", noisy((8, 8), seed=85))
    (work / "in" / "c.png").symlink_to(work / "elsewhere.png")  # an input read through a link
    make, output = REACHING_LINKS[level]
    make(work)
    before = {**snapshot(work / "in"), "elsewhere.png": (work / "elsewhere.png").read_bytes()}
    write_config(work, dataset("probe", "in"))
    # the reproducer twice: each rerun used to delete one more original (the refusal comes
    # before the DAG, so a rerun of the others would only repeat it)
    for _ in range(2 if level == "the dataset's folder" else 1):
        proc = snakemake(work, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "rule restore" not in out, out
        expected = (rf"error: {re.escape(output)}\S*: this planned output (is|lies in|is a hard link to) "
                    if output else "Invalid configuration: datasets.probe.input: 'in' holds the output")
        assert re.search(expected, out), out
        assert {**snapshot(work / "in"), "elsewhere.png": (work / "elsewhere.png").read_bytes()} == before


@pytest.mark.parametrize(("config", "message"), [
    ("output: data/restored\n", "datasets.d.input: 'data' holds the output folder 'data/restored'"),
    ("output: data\n", "datasets.d.input: 'data' is the output folder 'data'"),
    ("logs: data/logs\n", "datasets.d.input: 'data' holds the logs folder 'data/logs'"),
    ("output: .\n", "datasets.d.input: 'data' is inside the output folder '.'"),
    ("output: masks/out\n", "datasets.d.mask_dir: 'masks' holds the output folder 'masks/out'"),
])
def test_every_overlap_of_inputs_and_results_is_refused_before_any_job(tmp_path, config, message):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=9))
    save_png(work / "masks" / "x_mask.png", noisy((8, 8), seed=10))
    before = snapshot(work / "data")
    (work / "config.yaml").write_text(
        config + "threads: 1\ndevice: cpu\ndatasets:\n" + dataset("d", "data")
        + "    task: inpaint\n    mask_dir: masks\n")
    proc = snakemake(work, check=False)
    assert proc.returncode != 0
    assert f"Invalid configuration: {message}" in proc.stdout + proc.stderr
    assert "rule restore" not in proc.stdout + proc.stderr
    assert snapshot(work / "data") == before


@pytest.mark.parametrize(("options", "message"), [
    ("{facter: 4}", "datasets.d.options.facter: dipbatch restore has no option --facter; "
                    "did you mean factor?"),
    ("{sigma-clp: 5}", "datasets.d.options.sigma-clp: dipbatch restore has no option --sigma-clp; "
                       "did you mean sigma_clip?"),
    ("{preset: fast}", "datasets.d.options.preset: the workflow sets --preset itself; "
                       "use datasets.d.preset"),
])
def test_a_misspelt_option_stops_before_any_job_with_the_near_miss(tmp_path, options, message):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=9))
    write_config(work, dataset("d", "data") + f"    task: sr\n    options: {options}\n")
    proc = snakemake(work, check=False)
    assert proc.returncode != 0
    assert f"Invalid configuration: {message}" in proc.stdout + proc.stderr
    assert not (work / "logs").exists() and not (work / "results").exists()


@pytest.mark.parametrize(("task", "options", "message"), [
    ("denoise", "{stop: fixd}", "datasets.d.options.stop: 'fixd' is not one of 'auto', 'fixed', 'sure'."),
    ("denoise", "{sigma: -5}", "datasets.d.options.sigma: -5.0 is not in the range x>0."),
    ("sr", "{factor: 3}", "datasets.d.options.factor 3: the SR factor must be 2, 4 or 8"),
    ("denoise", "{deterministic: 3}", "datasets.d.options.deterministic: 3: --deterministic is a switch: "
                                      "true or false"),
    ("sr", "{stop: sure}", "datasets.d.options.stop sure: SURE stopping needs the denoise task"),
])
def test_a_bad_option_value_stops_before_any_job_naming_its_key(tmp_path, task, options, message):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=9))
    write_config(work, dataset("d", "data") + f"    task: {task}\n    options: {options}\n")
    proc = snakemake(work, check=False)
    assert proc.returncode != 0
    assert f"Invalid configuration: {message}" in proc.stdout + proc.stderr
    assert not (work / "logs").exists() and not (work / "results").exists()


def test_valid_options_pass_the_check(tmp_path):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=9))
    write_config(work, dataset("d", "data")
                 + "    options: {noise: poisson-gaussian, read_noise: 2, protect-stars: 0.5, "
                   "deterministic: true}\n")
    proc = snakemake(work, "--dry-run")
    assert restore_jobs(proc.stdout + proc.stderr) == ["d/x.png"]


def empty_datasets(work: Path) -> str:
    """Two datasets without images: an empty folder, and patterns that match none of its files."""
    (work / "empty").mkdir()
    save_png(work / "pngs" / "x.png", noisy((8, 8), seed=9))
    return dataset("hollow", "empty") + dataset("nomatch", "pngs") + "    patterns: ['*.tif']\n"


def test_a_dataset_without_images_is_a_warning_in_the_log_and_the_report(tmp_path):
    work = copy_workflow(tmp_path / "w")
    write_config(work, empty_datasets(work))
    proc = snakemake(work)
    log = next((work / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    for name, message in (("hollow", "'empty' holds no file matching"),
                          ("nomatch", "'pngs' holds no file matching *.tif")):
        warning = f"warning: datasets.{name}: no images: {message}"
        assert f"dipbatch: {warning}" in proc.stderr
        assert f"dipbatch: {warning}" in log
        assert warning in html.unescape((work / "results" / name / "report.html").read_text())


def test_no_dataset_at_all_is_a_warning(tmp_path):
    work = copy_workflow(tmp_path / "w")
    (work / "config.yaml").write_text("datasets: {}\n")
    proc = snakemake(work)
    assert "dipbatch: warning: datasets: the configuration names no dataset" in proc.stderr


@pytest.mark.parametrize("switch", ["config", "command line"])
def test_strict_turns_an_empty_dataset_into_an_error_before_any_job(tmp_path, switch):
    work = copy_workflow(tmp_path / "w")
    write_config(work, empty_datasets(work))
    if switch == "config":
        (work / "config.yaml").write_text("strict: true\n" + (work / "config.yaml").read_text())
    proc = snakemake(work, *(["--config", "strict=true"] if switch == "command line" else []),
                     check=False)
    assert proc.returncode != 0
    assert ("Invalid configuration (strict: true): datasets.hollow: no images: 'empty' holds no "
            "file matching") in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_strict_refuses_a_configuration_without_datasets(tmp_path):
    work = copy_workflow(tmp_path / "w")
    (work / "config.yaml").write_text("datasets: {}\n")
    proc = snakemake(work, "--config", "strict=true", check=False)
    assert proc.returncode != 0
    assert "(strict: true): datasets: the configuration names no dataset" in proc.stdout + proc.stderr


def report_rows(report: Path) -> dict[str, str]:
    """The status the report's table gives each image, by the image's name."""
    rows = re.findall(r'<tr class="(\w+)(?: warned)?" id="row-\d+"[^>]*>\s*<td[^>]*>\d+</td>\s*'
                      r'<td><a href="#[^"]+">(.*?)</a>', report.read_text(), re.S)
    return {html.unescape(name): status for status, name in rows}


def test_odd_names_and_dangling_links_fail_alone_and_tabs_round_trip(tmp_path):
    """`<b>`, braces and line breaks cannot pass through Snakemake, a dangling link has no image:
    each is its own failed row, while the other images, a tab in a name included, are restored."""
    work = copy_workflow(tmp_path / "w")
    data = work / "data"
    restorable = ["fine.png", "tab\there.png"]
    refused = {"<b>.png": "'<b>'", "new\nline.png": "'\\n'", "{x}.png": "'{'"}
    for k, name in enumerate([*restorable, *refused]):
        save_png(data / name, noisy((8, 8), seed=50 + k))
    (data / "gone.png").symlink_to(work / "nowhere.png")
    write_config(work, dataset("odd", "data"))
    proc = snakemake(work)
    rows = {r["image"]: r for r in read_summary(work / "results" / "odd" / "summary.tsv")}
    assert sorted(rows) == sorted([*restorable, *refused, "gone.png"])
    for name in restorable:
        assert rows[name]["status"] == "ok", name
        assert pixels(work / "results" / "odd" / name).shape == (8, 8)
    for name, what in refused.items():
        assert rows[name]["status"] == "failed", name
        assert f"Snakemake cannot carry a file name holding {what}" in rows[name]["error"]
        assert "\n" not in rows[name]["error"]
    assert rows["gone.png"]["status"] == "failed"
    assert rows["gone.png"]["error"] == (
        f"error: data/gone.png: dangling symbolic link (to {work / 'nowhere.png'}, which does not exist)")
    assert "dipbatch: warning: datasets.odd: refused data/gone.png: dangling" in proc.stderr
    statuses = report_rows(work / "results" / "odd" / "report.html")
    assert statuses == {name: "ok" if name in restorable else "failed" for name in rows}


def test_an_input_folder_named_like_a_workflow_file_fails_alone(tmp_path):
    """summary.tsv/, report.html/, consistent/ or temporal.tsv/ under the input would collide with the
    files the workflow writes in the dataset's results folder: their images fail alone."""
    work = copy_workflow(tmp_path / "w")
    clashing = ["summary.tsv/a.png", "report.html/b.png", "Consistent/c.png", "temporal.tsv/d.png"]
    for k, name in enumerate(["fine.png", "deeper/summary.tsv/e.png", *clashing]):
        save_png(work / "data" / name, noisy((8, 8), seed=60 + k))
    write_config(work, dataset("r", "data"))
    proc = snakemake(work)
    assert "ChildIOException" not in proc.stdout + proc.stderr
    rows = {r["image"]: r for r in read_summary(work / "results" / "r" / "summary.tsv")}
    assert rows["fine.png"]["status"] == rows["deeper/summary.tsv/e.png"]["status"] == "ok"
    for name in clashing:
        folder = name.split("/")[0]
        assert rows[name]["status"] == "failed", name
        assert rows[name]["error"] == (f"error: data/{name}: its folder {folder!r} has the name of a file "
                                       "the workflow writes in the dataset's results folder; rename the "
                                       "folder")
    assert (work / "results" / "r" / "report.html").is_file()


def test_a_dataset_named_like_a_workflow_file_is_refused_before_any_job(tmp_path):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=66))
    write_config(work, dataset("index.html", "data"))
    proc = snakemake(work, check=False)
    assert proc.returncode != 0 and "rule restore" not in proc.stdout + proc.stderr
    assert ("Invalid configuration: datasets.index.html: not a usable dataset name: the workflow writes "
            "a file of that name") in proc.stdout + proc.stderr


def test_a_report_that_cannot_be_rewritten_does_not_stay_behind(tmp_path):
    """A full disk (here: a file size limit) while the report is rewritten: the old report, which
    knows nothing of the new failure, is removed rather than left claiming success."""
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "fine.png", noisy((64, 64, 3), seed=60))  # a report of about 100 KB
    write_config(work, dataset("d", "data"))
    snakemake(work)
    report = work / "results" / "d" / "report.html"
    assert report_rows(report) == {"fine.png": "ok"}
    (work / "data" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a PNG")
    limit = report.stat().st_size // 2  # room for every other file of the run, not the report
    assert limit > 30_000  # Snakemake writes a temporary copy of the rules

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = snakemake(work, "--keep-going", check=False, preexec_fn=full_disk)
    assert proc.returncode != 0
    assert "could not write results/d/report.html" in proc.stderr
    rows = {r["image"]: r["status"] for r in read_summary(work / "results" / "d" / "summary.tsv")}
    assert rows == {"broken.png": "failed", "fine.png": "ok"}
    assert not report.exists()


def start_snakemake(workdir: Path) -> subprocess.Popen:
    """A snakemake controller in the background, in its own process group (to be killed)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_a_killed_controller_is_named_with_the_commands_and_frees_its_output(tmp_path):
    """kill -9 of a run: its locks stay (Snakemake's), and the rerun names the dead controller and
    the commands to run; while it lived, another working folder could not write its output."""
    first = copy_workflow(tmp_path / "first")
    save_png(first / "data" / "slow.png", noisy((16, 16), seed=70))
    write_config(first, dataset("d", "data").replace(f"iterations: {ITERATIONS}", "iterations: 1000000")
                 + "    options: {stop: fixed}\n")  # never done before the kill, however slow the machine
    second = copy_workflow(tmp_path / "second")
    save_png(second / "data" / "x.png", noisy((8, 8), seed=71))
    (second / "config.yaml").write_text(f"output: {first / 'results'}\nthreads: 1\ndevice: cpu\n"
                                        "datasets:\n" + dataset("e", "data"))
    controller = start_snakemake(first)
    try:
        deadline = time.monotonic() + 120
        while not (first / "logs" / "d" / "restore" / "slow.png.log").exists():
            assert controller.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        shared = snakemake(second, "--dry-run", check=False)
        assert shared.returncode != 0
        assert (f"error: {first / 'results'}: is being written by the snakemake run {controller.pid} "
                f"on {socket.gethostname()} in {first}") in shared.stdout + shared.stderr
    finally:
        os.killpg(controller.pid, signal.SIGKILL)
        controller.wait()
    rerun = snakemake(first, check=False)
    assert rerun.returncode != 0 and "LockException" in rerun.stdout + rerun.stderr
    assert (f"dipbatch: the snakemake run {controller.pid} on {socket.gethostname()} in {first} was "
            "killed and left its locks in .snakemake/locks: if no other snakemake runs here, run "
            "`snakemake --unlock`, then `snakemake --rerun-incomplete`") in rerun.stdout + rerun.stderr
    assert "Nothing to be done" not in snakemake(second, "--dry-run").stdout  # the output is free
    snakemake(first, "--unlock")
    assert "d/slow.png" in restore_jobs(snakemake(first, "--dry-run", "--rerun-incomplete").stdout)


@pytest.mark.parametrize("where", ["two working folders", "one working folder"])
def test_two_controllers_started_in_the_same_second_do_not_both_run(tmp_path, where):
    """The output folder is claimed when it is checked: of two controllers started together on one
    output, one runs and the other stops before any job, naming the first."""
    first = copy_workflow(tmp_path / "first")
    save_png(first / "data" / "slow.png", noisy((16, 16), seed=72))
    write_config(first, dataset("d", "data").replace(f"iterations: {ITERATIONS}", "iterations: 1000000")
                 + "    options: {stop: fixed}\n")  # the winner still runs when the loser has given up
    second = first
    if where == "two working folders":
        second = copy_workflow(tmp_path / "second")
        shutil.copytree(first / "data", second / "data")
        (second / "config.yaml").write_text(f"output: {first / 'results'}\n"
                                            + (first / "config.yaml").read_text())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    controllers = [subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=work, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True) for work in (first, second)]
    try:
        deadline = time.monotonic() + 300
        while all(c.poll() is None for c in controllers):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        loser = next(c for c in controllers if c.poll() is not None)
        winner = next(c for c in controllers if c is not loser)
        out = loser.stdout.read()
        assert loser.returncode != 0 and "rule restore" not in out, out
        assert re.search(rf"error: \S*results: is being written by the snakemake run {winner.pid} on "
                         rf"{re.escape(socket.gethostname())} in ", out), out
        assert winner.poll() is None  # and it goes on
    finally:
        for controller in controllers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(controller.pid, signal.SIGKILL)
            controller.wait()


def test_a_full_output_disk_is_one_line_before_any_job(tmp_path, small_disk):
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "x.png", noisy((8, 8), seed=73))
    (work / "config.yaml").write_text(f"output: {small_disk / 'results'}\nthreads: 1\ndevice: cpu\n"
                                      "datasets:\n" + dataset("d", "data"))
    fill(small_disk)
    proc = snakemake(work, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out and "rule restore" not in out, out
    assert (f"error: {small_disk / 'results'}: cannot record this run in the output folder (No space "
            "left on device); free some space there") in out


# --- your own archive -----------------------------------------------------------------------------


def test_a_configfile_naming_datasets_replaces_the_demo_datasets(tmp_path):
    """`snakemake --configfile mine.yaml` restores mine.yaml's datasets, not the demo's as well."""
    work = copy_workflow(tmp_path / "w")
    shutil.copy(REPO / "config.yaml", work / "config.yaml")  # the demo's datasets (no demo/ here)
    save_png(work / "archive" / "first.png", noisy((12, 12), seed=1))
    save_png(work / "archive" / "deeper" / "second.png", noisy((12, 12), seed=2))
    (work / "mine.yaml").write_text("device: cpu\ndatasets:\n  mine:\n    input: archive\n"
                                    "    preset: tiny\n")
    proc = snakemake(work, "--configfile", "mine.yaml", "--dry-run")
    assert sorted(restore_jobs(proc.stdout + proc.stderr)) == ["mine/deeper/second.png", "mine/first.png"]
    # A --configfile without datasets still only changes the keys it names.
    (work / "cpu.yaml").write_text("device: cpu\n")
    proc = snakemake(work, "--configfile", "cpu.yaml", "--dry-run", check=False)
    assert "datasets.photo.input" in proc.stdout + proc.stderr  # the demo's, whose folders are not here


# --- interrupted is not failed; counts, warnings, the index and snakemake --report ---------------


@contextlib.contextmanager
def slow_fit_running(tmp_path: Path, seed: int) -> Iterator[tuple[Path, subprocess.Popen, Path]]:
    """A real `snakemake --cores 1` of one slow fit (100000 fixed iterations) in its own session,
    yielded (its folder, the controller, the image's log) once the fit prints progress; killed on
    the way out if it still runs."""
    work = copy_workflow(tmp_path / "w")
    save_png(work / "data" / "slow.png", noisy((48, 48), seed=seed))
    write_config(work, dataset("d", "data").replace(f"iterations: {ITERATIONS}", "iterations: 100000")
                 + "    options: {stop: fixed}\n")
    # a progress line every second once the fit runs: a signal then comes mid-fit, however slow
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               DIPBATCH_PROGRESS_SECONDS="1")
    controller = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=work, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
    log = work / "logs" / "d" / "restore" / "slow.png.log"
    try:
        # generous deadlines: on a machine under load 7 the controller once took over 120 s to exit
        deadline = time.monotonic() + 300
        while not log.exists() or "progress:" not in log.read_text():
            assert controller.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        yield work, controller, log
    finally:
        if controller.poll() is None:
            os.killpg(controller.pid, signal.SIGKILL)
            controller.wait()


def test_ctrl_c_marks_the_image_interrupted_with_the_command_that_resumes_it(tmp_path):
    """Ctrl-C (SIGINT to the controller's process group, as a terminal sends it) mid-fit: the summary
    and the report say interrupted, not failed, and the controller's log says what to run."""
    with slow_fit_running(tmp_path, seed=80) as (work, controller, _):
        os.killpg(controller.pid, signal.SIGINT)
        output, _ = controller.communicate(timeout=400)
    rows = read_summary(work / "results" / "d" / "summary.tsv")
    assert [(r["image"], r["status"]) for r in rows] == [("slow.png", "interrupted")], output
    assert rows[0]["error"].startswith("interrupted:")
    assert "dipbatch: 1 images in 1 datasets, 0 already done, 1 to restore" in output
    assert "0 ok, 0 failed, 1 interrupted, 0 missing" in output
    assert "1 interrupted: run the same command again to resume them" in output
    report = (work / "results" / "d" / "report.html").read_text()
    assert "interrupted (rerun the same command to resume)" in report
    assert "run the same command again to resume them: snakemake --cores 1" in report
    assert "interrupted" in read_controller_logs(work)


def test_a_retry_does_not_undo_ctrl_c(tmp_path):
    """Snakemake can see a job's exit from Ctrl-C before its own SIGINT and retry the job, which
    would fit on after the user asked everything to stop. SIGINT to the job alone makes that race
    certain: the retries replay the interruption and exit at once, and the run ends."""
    with slow_fit_running(tmp_path, seed=81) as (work, controller, log):
        [job] = restore_processes(controller.pid)
        os.kill(job, signal.SIGINT)
        output, _ = controller.communicate(timeout=300)
    rows = read_summary(work / "results" / "d" / "summary.tsv")
    assert [(r["image"], r["status"]) for r in rows] == [("slow.png", "interrupted")], output
    text = log.read_text()
    assert text.count("=== attempt") == 3, text
    assert text.count("progress:") >= 1 and "dipbatch: attempt 3 ended with exit 130" in text
    assert text.count("not retried: attempt 1 was stopped with Ctrl-C (SIGINT)") == 1
    assert text.count("not retried: attempt 2 was stopped with Ctrl-C (SIGINT)") == 1
    assert not (work / "results" / "d" / "slow.png").exists()


def restore_processes(session: int) -> list[int]:
    """The `dipbatch restore` processes (not their shells) in the process session `session`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            in_session = os.getsid(int(proc.name)) == session
        except (ValueError, OSError):
            continue
        if in_session and b"restore" in argv and any(a.endswith(b"/dipbatch") for a in argv):
            found.append(int(proc.name))
    return found


def read_controller_logs(work: Path) -> str:
    """What the controller wrote to .snakemake/log/, every run."""
    return "".join(p.read_text() for p in sorted((work / ".snakemake" / "log").glob("*.log")))
