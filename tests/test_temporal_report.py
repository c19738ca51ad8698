"""Temporal metrics in the summary and the report of a sequence dataset.

The results folder is made by the real commands: a synthetic 3-frame sequence (a scene panned 2 px
per frame, 32×32, independent noise per frame, a gap in the numbering) restored by `dipbatch
restore` (tiny preset, few iterations), made consistent by `dipbatch temporal --method flow`, and a
second sequence whose frames differ in size, so that its temporal pass fails. The dataset's temporal
table is written by the workflow's own functions, as the temporal_table rule does.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from dipbatch.cli import main
from dipbatch.io.results import read_table as read_summary
from dipbatch.physics.synthetic import add_gaussian_noise, scene
from dipbatch.workflow.layout import Layout
from dipbatch.workflow.sequences import sequence_row, write_temporal_table
from dipbatch.workflow.summary import COLUMNS, TEMPORAL_COLUMNS, summarize_dataset

REPO = Path(__file__).resolve().parents[1]
DATASET, SIZE, STEP = "seq", 32, 2
NAMES = ["frame_1.png", "frame_2.png", "frame_4.png"]  # frame 3 is missing: a warning
GAP = "1 frame missing between frame_2.png and frame_4.png"


def save(path: Path, frame: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.moveaxis(frame, 0, -1) * 255).astype(np.uint8)).save(path)


def run(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


class Results:
    """results/seq/ of a workflow run over data/clip (good) and data/broken (frames of two sizes)."""

    def __init__(self, root: Path) -> None:
        photo = scene(SIZE, SIZE + STEP * len(NAMES), 3, seed=3)
        for t, name in enumerate(NAMES):
            clean = photo[:, :, STEP * t:STEP * t + SIZE]
            save(root / "data" / "clip" / name, add_gaussian_noise(clean, 25 / 255, seed=10 + t))
        for name, size in (("frame_1.png", 16), ("frame_2.png", 20)):
            save(root / "data" / "broken" / name, scene(size, size, 3, seed=4))
        self.layout = Layout(results=str(root / "results"), logs=str(root / "logs"))
        self.results = root / "results" / DATASET
        self.consistent = self.results / "consistent"
        self.consistent.mkdir(parents=True)  # as Snakemake makes an output's folder
        run("restore", *(root / "data" / "clip" / n for n in NAMES), "-o", self.results / "clip",
            "--preset", "tiny", "--iterations", "10", "--seed", "0",
            "--fusion", "off")  # 10 iterations: a fit too rough to fuse; this page is about the table
        run("temporal", root / "data" / "clip", self.results / "clip", "-o", self.consistent / "clip",
            "--method", "flow")
        broken = CliRunner().invoke(main, ["temporal", str(root / "data" / "broken"), str(root / "nowhere"),
                                           "-o", str(self.consistent / "broken"), "--method", "flow"])
        assert broken.exit_code == 1
        log = root / "logs" / DATASET / "temporal" / "broken.log"
        log.parent.mkdir(parents=True)
        log.write_text(broken.output)  # the temporal job's log holds the command's error line
        rows = [sequence_row(name, self.consistent / name, log.parent / f"{name}.log")
                for name in ("broken", "clip")]
        write_temporal_table(self.results / "temporal.tsv", rows)
        self.table = {row["sequence"]: row for row in read_summary(self.results / "temporal.tsv")}
        self.frames = {row["frame"]: row for row in read_summary(self.consistent / "clip" / "temporal.tsv")}
        self.summary = summarize_dataset(DATASET, [f"clip/{n}" for n in NAMES], self.layout)
        run("report", self.results)
        self.html = (self.results / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Results:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # on two shared cores, two threads contend and run slower
    try:
        return Results(tmp_path_factory.mktemp("temporal_report"))
    finally:
        torch.set_num_threads(before)


def cells(html: str, table_id: str) -> tuple[list[str], list[list[str]]]:
    """The headings and the body rows (each cell's text) of one table of the report."""
    body = re.search(rf'<table id="{table_id}".*?</table>', html, re.S)
    assert body, f"no table {table_id}"
    text = body.group(0)

    def clean(cell: str) -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", cell.replace("<br>", "\n")).split())

    headings = [clean(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", text, re.S)]
    rows = [[clean(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", text.split("<tbody>")[1], re.S)]
    return headings, rows


def test_the_inputs_are_a_real_temporal_run(made: Results) -> None:
    clip, broken = made.table["clip"], made.table["broken"]
    assert clip["status"] == "ok" and clip["frames"] == "3" and clip["method"] == "flow"
    assert clip["warnings"] == GAP
    assert float(clip["warp_error_consistent"]) < float(clip["warp_error_frames"])
    assert broken["status"] == "failed" and "all frames of a sequence must match" in broken["error"]


def test_report_shows_the_temporal_table(made: Results) -> None:
    assert '<h2 id="temporal">Temporal consistency</h2>' in made.html
    assert "The delivered frames of each sequence are in <code>consistent/</code>" in made.html
    headings, rows = cells(made.html, "temporal-table")
    shown = {row[0]: dict(zip(headings, row, strict=True)) for row in rows}
    assert list(shown) == ["broken", "clip"]  # the table's order
    clip, source = shown["clip"], made.table["clip"]
    assert clip["status"] == "ok" and clip["frames"] == "3" and clip["method"] == "flow"
    for heading, column in (("warp in", "warp_error_input"), ("warp per-frame", "warp_error_frames"),
                            ("warp out", "warp_error_consistent"), ("flicker in", "flicker_input"),
                            ("flicker per-frame", "flicker_frames"), ("flicker out", "flicker_consistent"),
                            ("fidelity dB", "fidelity_psnr")):
        assert float(clip[heading]) == pytest.approx(float(source[column]), rel=1e-3), heading
    assert clip["check"] == "ok" and clip["warnings, error"] == GAP
    assert shown["broken"]["status"] == "failed"
    assert shown["broken"]["warnings, error"] == made.table["broken"]["error"]
    assert shown["broken"]["warp out"] == ""


def test_temporal_table_fits_the_page(made: Results) -> None:
    """Short headers that may wrap, in a scrolling box: no column pushes the table past the page."""
    headings, _ = cells(made.html, "temporal-table")
    assert max(len(h) for h in headings) <= 20, headings
    table = r'<div class="scroll">\s*<table id="temporal-table" class="sortable compact">'
    assert re.search(table, made.html)
    assert "table.compact th { white-space: normal; }" in made.html


def test_report_embeds_each_sequence_plot(made: Results) -> None:
    pictures = re.findall(r'<img [^>]*src="([^"]+)" width="(\d+)" height="(\d+)" alt="([^"]*)"', made.html)
    plots = {alt: (src, int(w), int(h)) for src, w, h, alt in pictures if "temporal" in alt}
    assert list(plots) == ["clip per-frame temporal metrics"]  # the failed sequence has no plot
    src, width, height = plots["clip per-frame temporal metrics"]
    header, _, payload = src.partition(",")
    assert header == "data:image/svg+xml;base64"
    assert base64.b64decode(payload) == (made.consistent / "clip" / "temporal.svg").read_bytes()
    assert 400 < width < 1200 and 0.5 < height / width < 1  # matplotlib's 7×5 in figure
    assert 'href="#sequence-2"' in made.html and 'id="sequence-2"' in made.html


def test_report_without_a_temporal_table_has_no_section(made: Results, tmp_path: Path) -> None:
    copy = tmp_path / DATASET
    shutil.copytree(made.results, copy)
    (copy / "temporal.tsv").unlink()
    run("report", copy)
    html = (copy / "report.html").read_text(encoding="utf-8")
    assert "Temporal consistency" not in html and "image/svg+xml" not in html
    assert "3</b> images done" in html


def test_summary_gives_each_frame_its_sequence_figures(made: Results) -> None:
    table = read_summary(made.layout.summary(DATASET))
    assert list(table[0]) == [*COLUMNS, *TEMPORAL_COLUMNS]
    assert [row["image"] for row in table] == [f"clip/{n}" for n in NAMES]
    for row in table:
        frame = made.frames[row["image"].split("/")[1]]
        assert row["status"] == "ok" and row["sequence"] == "clip"
        for column in TEMPORAL_COLUMNS[1:-1]:
            assert row[column] == frame[column], column
        assert row["temporal_warnings"] == GAP
    assert table[0]["warp_error_frames"] == ""  # frame 1 has no previous frame
    assert float(table[1]["warp_error_consistent"]) > 0


def test_summary_of_images_has_no_temporal_columns(made: Results, tmp_path: Path) -> None:
    layout = Layout(results=str(tmp_path / "results"), logs=str(tmp_path / "logs"))
    shutil.copytree(made.results / "clip", tmp_path / "results" / "photos")
    summarize_dataset("photos", NAMES, layout)
    assert list(read_summary(layout.summary("photos"))[0]) == list(COLUMNS)


def _summary_inputs(work: Path) -> dict[str, set[str]]:
    """For each dataset's summary job in a dry run's DAG: the rules of the jobs it waits for, and
    'report' when the report waits for it. (The DAG labels only some jobs with their dataset: a
    summary is known by the dataset of the restore jobs before it.)"""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("SNAKEMAKE_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run", "--dag"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(.*?)"', proc.stdout, re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, re.M)
    found: dict[str, set[str]] = {}
    for summary in (n for n, label in labels.items() if label == "summary"):
        before = [labels[a] for a, b in edges if b == summary]
        dataset = {m for label in before for m in re.findall(r"\\ndataset: ([^\\]+)", label)}
        assert len(dataset) == 1, before
        after = {labels[b] for a, b in edges if a == summary}
        found[dataset.pop()] = {label.split("\\n")[0] for label in before} | (after & {"report"})
    return found


def test_workflow_builds_summary_and_report_after_the_temporal_table(made: Results, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(REPO / "workflow", work / "workflow",
                    ignore=shutil.ignore_patterns("demo", "__pycache__"))
    frames = made.results.parents[1] / "data" / "clip"
    shutil.copytree(frames, work / "frames" / "clip")
    shutil.copytree(frames, work / "photos")
    (work / "config.yaml").write_text(
        "threads: 1\ndevice: cpu\ndatasets:\n"
        "  seq:\n    input: frames\n    kind: sequence\n    preset: tiny\n    temporal: {method: flow}\n"
        "  photos:\n    input: photos\n    preset: tiny\n")
    # a sequence's frames are warm-started by default (restore_warm); photos are restored alone
    assert _summary_inputs(work) == {"seq": {"restore_warm", "temporal_table", "report"},
                                     "photos": {"restore", "report"}}
