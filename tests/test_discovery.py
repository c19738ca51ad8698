"""Image discovery and the workflow's file layout (dipbatch.workflow.discovery, .layout), and the summary."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from dipbatch.errors import DipbatchError
from dipbatch.io import images as imageio
from dipbatch.io.results import read_table as read_summary
from dipbatch.io.sidecar import FORMAT as SIDECAR_FORMAT
from dipbatch.workflow.attempts import CANCELLED, CTRL_C, begin, cause_of, end, history, scaling_attempt
from dipbatch.workflow.discovery import (
    DEFAULT_PATTERNS,
    IMAGE_PATH_REGEX,
    IMAGE_SUFFIXES,
    discover,
    is_skipped,
    mask_for,
    mask_regex,
    natural_key,
    pack,
    refusal,
    unsupported,
)
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.summary import (
    COLUMNS,
    Row,
    ended_lines,
    error_line,
    job_end,
    result_warnings,
    summarize_after_error,
    summarize_dataset,
    write_summary,
)


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_suffixes_match_the_image_reader():
    assert set(IMAGE_SUFFIXES) == set(imageio.SUPPORTED_SUFFIXES)


def test_natural_order():
    names = ["frame_10.png", "frame_2.png", "Frame_1.png", "frame_1.png", "a/b_3.tif", "a/b_20.tif"]
    assert sorted(names, key=natural_key) == [
        "a/b_3.tif", "a/b_20.tif", "Frame_1.png", "frame_1.png", "frame_2.png", "frame_10.png",
    ]


def test_recursive_case_insensitive_and_skips(tmp_path):
    touch(
        tmp_path,
        "b.PNG", "a.jpg", "deep/er/c.TiFf", "stars.fits.gz",
        "notes.txt", "a.jpg.json",              # not images / dipbatch sidecars
        ".hidden.png", ".cache/x.png",          # hidden file and hidden folder
        ".a.png.abc123.part.png",               # dipbatch's temporary file
        "with space/ünïcødé 1.png",
    )
    assert discover(tmp_path) == [
        "a.jpg", "b.PNG", "deep/er/c.TiFf", "stars.fits.gz", "with space/ünïcødé 1.png",
    ]


def test_natural_order_of_a_sequence(tmp_path):
    touch(tmp_path, *(f"seq/frame_{i}.png" for i in (10, 2, 1, 11, 3)))
    assert discover(tmp_path) == [f"seq/frame_{i}.png" for i in (1, 2, 3, 10, 11)]


def test_patterns_on_names_and_on_paths(tmp_path):
    touch(tmp_path, "x/a.png", "y/b.png", "y/c.TIF")
    assert discover(tmp_path, ["*.tif"]) == ["y/c.TIF"]
    assert discover(tmp_path, ["y/*.png"]) == ["y/b.png"]
    assert discover(tmp_path, ["**/*.PNG"]) == ["x/a.png", "y/b.png"]


def test_masks_are_excluded_and_found(tmp_path):
    touch(tmp_path, "a.png", "a_mask.png", "sub/b.jpg", "sub/b_mask.png")
    excl = [mask_regex("{stem}_mask.png")]
    assert discover(tmp_path, exclude=excl) == ["a.png", "sub/b.jpg"]
    assert mask_for("sub/b.jpg") == "sub/b_mask.png"
    assert mask_for("c.fits.gz", "{stem}.mask.tif") == "c.mask.tif"
    with pytest.raises(DipbatchError):
        mask_regex("mask.png")


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DipbatchError, match="is not a folder"):
        discover(tmp_path / "nope")


def test_helpers():
    assert is_skipped(".x.png") and is_skipped("a.png.json") and not is_skipped("a.png")
    assert unsupported(["a.png", "b.bmp", "c.FITS.GZ"]) == ["b.bmp"]
    rx = re.compile(IMAGE_PATH_REGEX)
    assert rx.fullmatch("d/ü 1.JPEG") and rx.fullmatch("x.fits.gz")
    assert not rx.fullmatch("summary.tsv") and not rx.fullmatch("a.png.json")
    assert all(p.startswith("*.") for p in DEFAULT_PATTERNS)
    lay = Layout("out", "lg")
    assert lay.image("d", "s/a.png") == "out/d/s/a.png"
    assert lay.sidecar("d", "a.png") == "out/d/a.png.json"
    assert lay.log("d", "a.png") == "lg/d/restore/a.png.log"
    assert lay.summary("d") == "out/d/summary.tsv"


def test_ten_thousand_files_are_listed_fast(tmp_path):
    for i in range(100):
        folder = tmp_path / f"night_{i}"
        folder.mkdir()
        for j in range(100):
            (folder / f"frame_{j}.fits").touch()
    start = time.perf_counter()
    found = discover(tmp_path)
    assert len(found) == 10_000
    assert time.perf_counter() - start < 5
    assert found[:3] == ["night_0/frame_0.fits", "night_0/frame_1.fits", "night_0/frame_2.fits"]


# --- the summary table ----------------------------------------------------------------------------


def _sidecar(**extra) -> str:
    meta = {"format": SIDECAR_FORMAT,
            "task": "denoise", "preset": "tiny", "iterations": 40, "stop_reason": "budget",
            "stop_iteration": 40, "wall_time_s": 1.25, "sigma_input": 0.1, "sigma_output": 0.01,
            "final_loss": 0.002}
    meta.update(extra)
    return json.dumps(meta)


def test_summary_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lay = Layout()
    images = ["ok.png", "sub/bad.png", "never.png", "crash.png"]
    Path(lay.image("d", "ok.png")).parent.mkdir(parents=True)
    Path(lay.image("d", "ok.png")).write_bytes(b"img")
    Path(lay.sidecar("d", "ok.png")).write_text(_sidecar())
    Path(lay.log("d", "ok.png")).parent.mkdir(parents=True)
    Path(lay.log("d", "ok.png")).write_text("started\n")
    Path(lay.log("d", "sub/bad.png")).parent.mkdir(parents=True)
    Path(lay.log("d", "sub/bad.png")).write_text(
        "dipbatch restore on vm\nerror: in/sub/bad.png: not a PNG file\n")
    Path(lay.log("d", "crash.png")).write_text("progress\nKilled\n\n")

    rows = summarize_dataset("d", images, lay)
    table = read_summary(lay.summary("d"))
    assert list(table[0]) == list(COLUMNS)
    by = {r["image"]: r for r in table}
    assert [r["image"] for r in table] == images
    assert by["ok.png"]["status"] == "ok" and by["ok.png"]["output"] == "results/d/ok.png"
    assert by["ok.png"]["iterations"] == "40" and by["ok.png"]["stop_reason"] == "budget"
    assert by["ok.png"]["sigma_input"] == "0.1" and by["ok.png"]["wall_time_s"] == "1.25"
    assert by["sub/bad.png"]["status"] == "failed"
    assert by["sub/bad.png"]["error"] == "error: in/sub/bad.png: not a PNG file"
    assert by["never.png"]["status"] == "missing" and by["never.png"]["error"] == ""
    assert by["crash.png"]["status"] == "failed" and by["crash.png"]["error"] == "Killed"
    assert [r.status for r in rows] == ["ok", "failed", "missing", "failed"]


def test_provisional_summary_after_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lay = Layout()
    Path(lay.log("d", "a.png")).parent.mkdir(parents=True)
    Path(lay.log("d", "a.png")).write_text("error: a.png: truncated\n")
    Path(lay.image("d", "b.png")).parent.mkdir(parents=True, exist_ok=True)
    Path(lay.image("d", "b.png")).write_bytes(b"img")
    Path(lay.sidecar("d", "b.png")).write_text(_sidecar())
    os.utime(lay.sidecar("d", "b.png"), (1_800_000_000, 1_800_000_000))  # in 2027
    messages = summarize_after_error({"d": ["a.png", "b.png"], "untouched": ["c.png"]}, lay)
    assert messages == ["dipbatch: results/d/summary.tsv: 1 ok, 1 failed, 0 interrupted, 0 missing, "
                        "0 with warnings",
                        "dipbatch:   d/a.png: error: a.png: truncated (log: logs/d/restore/a.png.log)"]
    assert not Path(lay.summary("untouched")).exists()
    # A second older than its newest input, so the summary rule rebuilds it on the next run; a
    # real date, not the epoch (which ZIP archives refuse and backups misread).
    assert os.stat(lay.summary("d")).st_mtime == 1_800_000_000 - 1


def test_error_line_of_a_missing_log(tmp_path):
    assert error_line(tmp_path / "none.log") == ""


@pytest.mark.parametrize("size", [1, 2, 8])
def test_pack_keeps_order_and_bounds(size: int) -> None:
    images = [f"frames/img_{k:04d}.png" for k in range(2000)]
    chunks = pack(images, size)
    assert [rel for chunk in chunks for rel in chunk] == images
    assert all(1 <= len(chunk) <= 2 * size for chunk in chunks)
    assert 0.8 * size <= len(images) / len(chunks) <= 1.2 * size


def test_adding_or_removing_an_image_changes_only_its_own_chunk() -> None:
    images = [f"img_{k:04d}.png" for k in range(2000)]
    before = {tuple(chunk) for chunk in pack(images, 8)}
    for k in (0, 700, 1999):
        added = {tuple(c) for c in pack([*images[:k], "new.png", *images[k:]], 8)}
        removed = {tuple(c) for c in pack(images[:k] + images[k + 1:], 8)}
        assert len(added - before) <= 2 and len(removed - before) <= 2


def test_links_to_files_are_followed_folder_links_not_and_dangling_ones_refused(tmp_path):
    outside = tmp_path / "outside"
    touch(outside, "far.png", "deep/x.png")
    root = tmp_path / "root"
    touch(root, "a.png")
    (root / "far.png").symlink_to(outside / "far.png")
    (root / "deep").symlink_to(outside / "deep", target_is_directory=True)
    (root / "gone.png").symlink_to(tmp_path / "missing.png")
    assert discover(root) == ["a.png", "far.png", "gone.png"]
    assert refusal(root, "a.png") is None and refusal(root, "far.png") is None
    assert refusal(root, "gone.png") == (
        f"error: {root}/gone.png: dangling symbolic link (to {tmp_path}/missing.png, which does not exist)")


@pytest.mark.parametrize(("name", "held"), [("<b>.png", "'<b>'"), ("a\nb.png", "'\\n'"),
                                            ("{x}.png", "'{'"), ("x}.png", "'}'")])
def test_names_snakemake_cannot_carry_are_refused(tmp_path, name, held):
    touch(tmp_path, name)
    error = refusal(tmp_path, name)
    assert error is not None and f"cannot carry a file name holding {held}" in error
    assert "\n" not in error


def test_odd_but_legal_names_are_kept(tmp_path):
    names = ["tab\there.png", "a<b.png", "<B>.png", "quote\"d.png", "semi;colon $x.png"]
    touch(tmp_path, *names)
    assert all(refusal(tmp_path, name) is None for name in names)


def test_summary_round_trips_every_legal_name(tmp_path):
    names = ["tab\there.png", "new\nline.png", 'quo"te.png', '"start.png', "  spaced  .png",
             "crlf\r\n.png", "back\\slash.png"]
    rows = [Row(image=name, status="failed", output="", error=f"error: {name}: bad") for name in names]
    write_summary(tmp_path / "summary.tsv", rows)
    table = read_summary(tmp_path / "summary.tsv")
    assert [r["image"] for r in table] == names
    assert [r["error"] for r in table] == [f"error: {name}: bad" for name in names]


def test_refused_files_are_failed_rows_in_natural_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = summarize_dataset("d", ["a_1.png", "a_10.png"], Layout(),
                             refused={"a_2.png": "error: in/a_2.png: dangling symbolic link"})
    assert [(r.image, r.status) for r in rows] == [
        ("a_1.png", "missing"), ("a_2.png", "failed"), ("a_10.png", "missing")]
    assert read_summary(Layout().summary("d"))[1]["error"] == "error: in/a_2.png: dangling symbolic link"


def test_a_job_ended_by_a_signal_is_interrupted_not_failed(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("dipbatch restore on node1\nerror: earlier attempt\n"
                   "interrupted: the job stopped on signal 15; run the same snakemake command again\n")
    assert job_end(log) == ("interrupted", "interrupted: the job stopped on signal 15; "
                                           "run the same snakemake command again")
    log.write_text("Traceback (most recent call last):\n  File \"x\", line 1\nKeyboardInterrupt\n")
    assert job_end(log)[0] == "interrupted"
    log.write_text("dipbatch restore on node1\n\nAborted!\n")  # click's words for a Ctrl-C at start-up
    assert job_end(log)[0] == "interrupted"
    log.write_text("error: a.png: not an image\n")
    assert job_end(log) == ("failed", "error: a.png: not an image")


def test_only_the_last_attempt_of_a_log_says_how_the_job_ended(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("=== attempt 1: dipbatch restore on n1, SLURM job 7\n"
                   "interrupted: the job stopped on signal 15; run the same snakemake command again\n"
                   "dipbatch: attempt 1 ended with exit 143\n"
                   "=== attempt 2: dipbatch restore on n2, SLURM job 8\nKilled\n"
                   "dipbatch: attempt 2 ended with exit 137\n")
    assert job_end(log) == ("failed", "Killed")  # the closing line is the shell's, not the job's


def test_an_attempt_after_a_data_error_replays_it_and_a_new_run_starts_afresh(tmp_path):
    log = tmp_path / "a.png.log"
    assert begin(log, 1, "n1", "") == 0 and scaling_attempt(log, 1) == 1
    with log.open("a") as out:
        out.write("error: a.png: truncated\ndipbatch: attempt 1 ended with exit 1\n")
    history(log).write_text(log.read_text())  # what the shell keeps: Snakemake empties the log
    log.write_text("")
    assert scaling_attempt(log, 2) == 1  # no more memory or time for a replay
    assert begin(log, 2, "n1", "9") == 1
    lines = log.read_text().splitlines()
    assert lines[3:] == ["=== attempt 2: dipbatch restore on n1, SLURM job 9",
                         "dipbatch: not retried: attempt 1 ended with a data error (exit 1), which a "
                         "retry cannot fix", "error: a.png: truncated",
                         "dipbatch: attempt 2 ended with exit 1"]
    history(log).write_text("=== attempt 1\nKilled\ndipbatch: attempt 1 ended with exit 137\n")
    assert scaling_attempt(log, 2) == 2 and begin(log, 2, "n1", "") == 0  # out of memory: retried
    history(log).write_text("error: a.png: truncated\ndipbatch: attempt 3 ended with exit 1\n")
    assert begin(log, 1, "n1", "") == 0 and not history(log).exists()  # tonight's run: afresh


@pytest.mark.parametrize(("meta", "expected"), [
    ({"stop_reason": "cap: reached 600 iterations", "stop_iteration": 600},
     ["ran to the cap (600 iterations): no stop fired"]),
    ({"stop_reason": "fixed: ran all 600 iterations", "stop_iteration": 600}, []),
    ({"guard_restores": 2}, ["guard restored the weights 2 times"]),
    ({"sigma_input": 0.05, "sigma_output": 0.08}, ["output sigma 0.08 above the input's 0.05"]),
    ({"sigma_input": 0.08, "sigma_output": 0.01, "guard_restores": 0}, []),
    ({"datafit_ratio": 3680.4}, ["the data-fit ended at 3.68e+03× the noise floor: the fit never reached the "
                                 "noise (try a larger preset, or the noise model the data have)"]),
    ({"datafit_ratio": 0.97}, []),
])
def test_result_warnings(meta, expected):
    assert result_warnings(meta) == expected


def test_the_schema_refuses_the_names_the_layout_reserves() -> None:
    import yaml

    from dipbatch.workflow.config import SCHEMA
    from dipbatch.workflow.layout import RESERVED_DATASET_NAMES

    names = yaml.safe_load(SCHEMA.read_text())["properties"]["datasets"]["propertyNames"]
    assert tuple(names["not"]["enum"]) == RESERVED_DATASET_NAMES


def test_the_docs_list_every_summary_column_in_order():
    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "workflow.md").read_text().split())
    listed = re.search(r"with the columns `([^`]*)`", text)
    assert listed and listed.group(1).split() == list(COLUMNS)


def test_a_signal_closes_the_attempt_with_slurms_reason_and_only_a_cancel_is_final(tmp_path):
    """A time limit is retried with more time; a scancel is replayed, with its `interrupted:` line,
    and asks for nothing more. A job killed before it could say `interrupted:` gets the line."""
    assert cause_of("TimeLimit") == "SLURM: time limit" and cause_of("None") == CANCELLED
    assert cause_of("Preempted") == "SLURM: Preempted"
    log = tmp_path / "a.png.log"
    begin(log, 1, "n1", "7")
    end(log, 1, 143, "SLURM: time limit")
    assert log.read_text().splitlines()[1:] == [
        "interrupted: the job stopped on signal 15 (SLURM: time limit); run the same snakemake "
        "command again to resume", "dipbatch: attempt 1 ended with exit 143 (SLURM: time limit)"]
    assert history(log).read_text() == log.read_text()
    assert scaling_attempt(log, 2) == 2  # a time limit: retried, with more time

    log.write_text("")
    begin(log, 1, "n1", "7")
    with log.open("a") as out:
        out.write("interrupted: a.png (SIGTERM; checkpoint saved at iteration 40); rerun ...\n")
    end(log, 1, 143, CANCELLED)
    assert scaling_attempt(log, 2) == 1
    log.write_text("")  # Snakemake empties the log before the retry
    assert begin(log, 2, "n1", "8") == 143
    end(log, 2, 143, CANCELLED)  # the replay closed itself: nothing more
    lines = log.read_text().splitlines()
    assert lines[3:] == ["=== attempt 2: dipbatch restore on n1, SLURM job 8",
                         f"dipbatch: not retried: attempt 1 was {CANCELLED}, which a retry must not "
                         "undo", lines[1], f"dipbatch: attempt 2 ended with exit 143 ({CANCELLED})"]
    assert lines[1].startswith("interrupted: a.png (SIGTERM")
    assert scaling_attempt(log, 3) == 1


def test_an_attempt_stopped_by_ctrl_c_is_replayed_not_refitted(tmp_path):
    """Snakemake may retry a job whose exit from Ctrl-C it saw before its own SIGINT: the retry
    replays the interruption at once instead of fitting on."""
    log = tmp_path / "a.png.log"
    begin(log, 1, "laptop", "")
    with log.open("a") as out:
        out.write("interrupted: a.png (SIGINT; checkpoint saved at iteration 40); rerun ...\n")
    end(log, 1, CTRL_C, None)
    assert scaling_attempt(log, 2) == 1
    log.write_text("")
    assert begin(log, 2, "laptop", "") == CTRL_C
    lines = log.read_text().splitlines()
    assert lines[-3:] == ["dipbatch: not retried: attempt 1 was stopped with Ctrl-C (SIGINT), which a "
                          "retry must not undo", lines[1], "dipbatch: attempt 2 ended with exit 130"]
    assert lines[1].startswith("interrupted: a.png (SIGINT")


def test_an_attempt_ended_by_a_data_error_is_closed_without_a_cause(tmp_path):
    log = tmp_path / "a.png.log"
    begin(log, 1, "n1", "")
    with log.open("a") as out:
        out.write("error: a.png: truncated\n")
    end(log, 1, 1, "SLURM: time limit")  # a cause is only a signal's
    assert log.read_text().splitlines()[-1] == "dipbatch: attempt 1 ended with exit 1"
    assert scaling_attempt(log, 2) == 1


def test_the_run_ends_with_a_line_per_failed_or_interrupted_image_and_counts_the_rest():
    rows = [Row(image=f"{i}.png", status="failed", output="", error=f"error: {i}.png: not an image")
            for i in range(12)]
    rows[1] = Row(image="1.png", status="ok", output="")
    rows[2] = Row(image="2.png", status="interrupted", output="", error="interrupted: 2.png (SIGTERM; ...)")
    lines = ended_lines("d", rows, Layout(), limit=10)
    assert lines[0] == "dipbatch:   d/0.png: error: 0.png: not an image (log: logs/d/restore/0.png.log)"
    assert lines[1].startswith("dipbatch:   d/2.png: interrupted: 2.png (SIGTERM")
    assert len(lines) == 11 and lines[-1] == "dipbatch:   ... and 1 more in results/d/summary.tsv"
