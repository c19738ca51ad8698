"""The per-dataset HTML quality report: its parts, the `dipbatch report` command, and the reports a
tiny real workflow run writes (after a failure, after the fix, and through `snakemake --report`)."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from dipbatch.cli import main
from dipbatch.io.images import read_image
from dipbatch.io.sidecar import FORMAT as SIDECAR_FORMAT
from dipbatch.physics.metrics import psnr, ssim
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, scene, star_field
from dipbatch.report import build, pictures, plots
from dipbatch.report.collect import Locations
from dipbatch.report.render import duration, number, sort_value
from dipbatch.workflow.summary import Row, write_summary

DATASET = "photos"
IMAGES = ["a.png", "broken.png", "sub/b.tif"]  # the summary's (natural) order
ITERATIONS = 8


# --- reading the report back --------------------------------------------------------------------


class TableReader(HTMLParser):
    """The body rows of one table of the report: per cell, its `data-sort` value and its text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body = table_id, False, False
        self.rows: list[list[dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag == "td":
            self.rows[-1].append({"sort": attributes.get("data-sort") or "", "text": ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.inside:
            self.inside = self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.in_body and self.rows and self.rows[-1]:
            self.rows[-1][-1]["text"] += data


def table(html: str, table_id: str = "images") -> list[list[dict[str, str]]]:
    reader = TableReader(table_id)
    reader.feed(html)
    for cell in (c for row in reader.rows for c in row):
        cell["text"] = " ".join(cell["text"].split())
    return reader.rows


def picture_sources(html: str) -> dict[str, str]:
    """The `src` of every picture, by its `alt` text."""
    return {alt: src for src, alt in re.findall(r'<img [^>]*src="([^"]+)"[^>]* alt="([^"]*)"', html)}


def decoded(src: str) -> Image.Image:
    import base64

    header, _, payload = src.partition(",")
    assert header in ("data:image/png;base64", "data:image/jpeg;base64"), header
    picture = Image.open(io.BytesIO(base64.b64decode(payload)))
    picture.load()
    return picture


# --- pictures and plots -----------------------------------------------------------------------------


def test_detailed_window_finds_the_textured_patch():
    image = np.full((3, 80, 120), 0.5)
    image[:, 40:60, 70:100] += np.random.default_rng(0).normal(0, 0.2, (3, 20, 30))
    top, left, h, w = pictures.detailed_window(image, 24)
    assert (h, w) == (24, 24)
    assert 36 <= top <= 40 + 20 - 24 + 4 and 66 <= left <= 100 - 24 + 4
    assert pictures.detailed_window(image[:, :10, :16], 24) == (0, 0, 10, 16)


def test_display_window_stretches_a_dim_frame_but_not_a_photo():
    dim = star_field(48, 48, seed=3) / 65535  # a 16-bit frame using under 1 % of its range
    lo, hi = pictures.display_window(dim)
    assert 0 < lo < hi < 0.01
    assert pictures.display_window(scene(48, 48, 3, seed=1)) == (0.0, 1.0)
    assert pictures.to_display(dim, (lo, hi)).max() == 255


def test_to_display_keeps_colour_drops_alpha_and_shows_nan_as_black():
    rgba = np.ones((4, 5, 6), np.float32)
    assert pictures.to_display(rgba).shape == (5, 6, 3)
    gray = np.full((1, 5, 6), 0.5, np.float32)
    gray[0, 0, 0] = np.nan
    shown = pictures.to_display(gray)
    assert shown.shape == (5, 6) and shown[0, 0] == 0 and shown[1, 1] == 128


def png(payload: bytes | None) -> Image.Image:
    assert payload is not None and payload.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(payload))


def test_curves_plot_needs_a_curve_and_draws_the_stopping_panel_when_recorded():
    loss = [[i, 1 / i] for i in range(1, 50)]
    assert plots.curves_plot({}) is None
    assert plots.curves_plot({"loss_curve": "not a curve"}) is None
    one = png(plots.curves_plot({"loss_curve": loss, "stop_iteration": 30}))
    two = png(plots.curves_plot({"loss_curve": loss, "stop_iteration": 30,
                                 "stop_curve": [[i, 0.1] for i in range(10, 50)],
                                 "stop_curve_name": "windowed variance"}))
    assert two.height > one.height  # a second panel
    three = png(plots.curves_plot({"loss_curve": loss, "stop_iteration": 30,
                                   "stop_curve": [[i, 0.1] for i in range(10, 50)],
                                   "datafit_curve": [[i, 0.02 / i] for i in range(10, 50, 5)],
                                   "noise_floor": 0.001, "stop_settings": {"discrepancy": 0.97}}))
    assert three.height > two.height  # the data-fit against the noise floor, a third panel
    for image, line in ((two, False), (three, True)):  # the dotted grey line the signal stops at
        pixels = np.asarray(image.convert("RGB")).astype(int)
        grey = (pixels.max(-1) - pixels.min(-1) < 8) & (pixels[..., 0] > 40) & (pixels[..., 0] < 190)
        assert (grey.sum(1).max() > 100) == line  # a row of grey dots across the panel
    assert png(plots.curves_plot({"loss_curve": loss, "datafit_curve": [[10, 0.1]],
                                  "noise_floor": 0})).height == one.height  # no floor: no panel


def test_a_fit_stopped_before_its_cap_shows_the_stop_inside_the_plot():
    record = {"loss_curve": [[i, 1 / i] for i in range(1, 1051)], "stop_iteration": 1050,
              "params": {"preset": {"fit": {"iterations": 3000}}}}
    for cap, inside in ((3000, True), (1050, False)):  # stopped by a signal; run to the cap
        record["params"]["preset"]["fit"]["iterations"] = cap
        pixels = np.asarray(png(plots.curves_plot(record)).convert("RGB")).astype(int)
        red = (pixels[..., 0] > 180) & (pixels[..., 1:] < 150).all(-1)  # the stop line, antialiased
        column = np.median(np.nonzero(red.sum(0) > 20)[0]) / pixels.shape[1]
        assert (column < 0.5) == inside, (cap, column)


def test_long_curves_are_thinned_keeping_spikes_and_the_minimum():
    x = np.arange(1, 3001, dtype=float)
    y = 1 / x
    y[1234] = 50.0  # a blow-up the guard undid
    tx, ty = plots._thin(x, y)
    assert len(tx) <= 2 * plots.MAX_POINTS and np.all(np.diff(tx) > 0)
    assert 50.0 in ty and ty.min() == y.min() and tx[0] == 1 and tx[-1] == 3000


def test_spectral_plot_degrades_to_nothing_on_missing_or_malformed_fields():
    good = {"band_edges": [0, 0.125, 0.25, 0.375, 0.5], "iterations": [25, 50, 75],
            "energy": [[0.2, 0.1, 0.0, 0.0], [0.6, 0.3, 0.1, 0.0], [0.9, 0.7, 0.4, 0.2]]}
    assert png(plots.spectral_plot({"spectral": good, "stop_iteration": 60, "cutoff_frequency": 0.3}))
    assert plots.spectral_plot({}) is None
    assert plots.spectral_plot({"spectral": {**good, "energy": [[1.0]]}}) is None
    assert plots.spectral_plot({"spectral": {"iterations": [1]}}) is None


def test_cell_formats():
    assert number(0.123456) == "0.1235" and number(None) == "" and number(float("inf")) == "∞"
    assert sort_value(float("inf")) == "Infinity" and sort_value(float("nan")) == "" and sort_value(3) == "3"
    assert duration(5.25) == "5.25 s" and duration(125) == "2 min 05 s" and duration(7380) == "2 h 03 min"


# --- the command on hand-made results ----------------------------------------------------------------


def save_png(path: Path, data: np.ndarray) -> None:
    """A C×H×W float image in [0,1] as an 8-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(np.clip(data, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(pixels[0] if pixels.shape[0] == 1 else np.moveaxis(pixels, 0, -1)).save(path)


def old_results(tmp_path: Path) -> Path:
    """A results folder of one image whose sidecar has only the fields of the first dipbatch."""
    results = tmp_path / "results" / "old"
    save_png(tmp_path / "in" / "x.png", add_gaussian_noise(scene(40, 40, 3, seed=4), 0.1, seed=5))
    save_png(results / "x.png", scene(40, 40, 3, seed=4))
    (results / "x.png.json").write_text(json.dumps({
        "format": SIDECAR_FORMAT,
        "input": str(tmp_path / "in" / "x.png"), "iterations": 100, "stop_iteration": 100,
        "stop_reason": "fixed", "wall_time_s": 3.5}))
    write_summary(results / "summary.tsv", [Row(image="x.png", status="ok", output=str(results / "x.png"))])
    return results


def test_report_of_an_old_sidecar_without_curves(tmp_path):
    results = old_results(tmp_path)
    out = tmp_path / "old.html"
    proc = CliRunner().invoke(main, ["report", str(results), "-o", str(out)])
    assert proc.exit_code == 0, proc.output
    html = out.read_text()
    assert [row[1]["text"] for row in table(html)] == ["x.png"]
    assert "loss and stopping curves" not in html and "spectral band" not in html
    shown = picture_sources(html)
    assert decoded(shown["x.png before"]).size == decoded(shown["x.png after"]).size == (40, 40)


def test_an_inpainted_image_shows_its_mask_with_its_share_of_holes(tmp_path):
    results = old_results(tmp_path)
    mask = np.ones((1, 40, 40))
    mask[:, 10:30, 10:30] = 0.0  # a 20×20 hole: 25 % of the pixels
    save_png(tmp_path / "masks" / "x.png", mask)
    sidecar = results / "x.png.json"
    record = json.loads(sidecar.read_text())
    record.update(task="inpaint", params={"task_options": {"mask": str(tmp_path / "masks" / "x.png")}})
    sidecar.write_text(json.dumps(record))
    build.write_report(Locations(results=results), tmp_path / "inpaint.html")
    html = (tmp_path / "inpaint.html").read_text()
    shown = decoded(picture_sources(html)["x.png mask"])
    assert shown.size == (40, 40) and (np.asarray(shown.convert("L")) < 128).mean() == 0.25
    assert "mask: known pixels white, holes black (25 % holes)" in html


def test_a_declipped_image_says_how_much_was_clipped_and_with_which_sigma(tmp_path):
    results = old_results(tmp_path)
    sidecar = results / "x.png.json"
    record = json.loads(sidecar.read_text())
    record.update(task="denoise", declip={"applied": True, "clipped_low": 0.3, "clipped_high": 0.002,
                                          "sigma": 0.0981, "sigma_from": "censored likelihood"})
    sidecar.write_text(json.dumps(record))
    build.write_report(Locations(results=results), tmp_path / "declip.html")
    html = (tmp_path / "declip.html").read_text()
    assert "clipped noise" in html and "30 % of the samples at black, 0.2 % at white" in html
    assert "σ 0.0981 (0–1 scale, censored likelihood)" in html
    record["declip"] = {"applied": False, "reason": "the noise model is not Gaussian"}
    sidecar.write_text(json.dumps(record))
    build.write_report(Locations(results=results), tmp_path / "plain.html")
    assert "clipped noise" not in (tmp_path / "plain.html").read_text()


def test_pictures_go_beside_a_report_of_many_images(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "INLINE_MAX_IMAGES", 0)
    build.write_report(Locations(results=old_results(tmp_path)), tmp_path / "many.html")
    sources = picture_sources((tmp_path / "many.html").read_text())
    assert sources and all(src.startswith("many_files/") for src in sources.values())
    assert all((tmp_path / src).is_file() for src in sources.values())
    # pictures beside the page load as they scroll into view, not all at once
    html = (tmp_path / "many.html").read_text()
    assert html.count('loading="lazy"') == html.count("<img ") >= len(sources)


@pytest.mark.parametrize(("args", "message"), [
    (["no/such/results"], "no/such/results: is not a results folder"),
    (["{results}", "--config", "{config}"], "has no dataset 'empty' under datasets:"),
    (["{results}", "--reference", "no/such/ref"], "no/such/ref: --reference: is not a folder"),
])
def test_bad_input_is_one_error_line(tmp_path, args, message):
    results = tmp_path / "empty"
    results.mkdir()
    write_summary(results / "summary.tsv", [])
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  other:\n    input: x\n")
    argv = [a.format(results=results, config=config) for a in args]
    proc = CliRunner().invoke(main, ["report", *argv])
    assert proc.exit_code == 1
    assert proc.output.count("\n") == 1 and proc.output.startswith("error: ")
    assert message in proc.output


def test_results_without_a_summary_are_refused(tmp_path):
    proc = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert proc.exit_code == 1 and "has no summary.tsv" in proc.output


# --- a tiny real workflow run -------------------------------------------------------------------------


def make_inputs(work: Path) -> None:
    """Two noisy images with clean references (an RGB photo, a dim 16-bit star field) and a corrupt one."""
    clean_photo = scene(40, 48, 3, seed=1)
    save_png(work / "data" / "noisy" / "a.png", add_gaussian_noise(clean_photo, 0.1, seed=2))
    save_png(work / "data" / "clean" / "a.png", clean_photo)
    stars = star_field(32, 40, seed=3)
    for folder, counts in (("noisy", add_poisson_noise(stars, seed=4)), ("clean", np.round(stars))):
        path = work / "data" / folder / "sub" / "b.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, counts[0].astype(np.uint16))
    (work / "data" / "noisy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a PNG at all")
    (work / "config.yaml").write_text(
        f"threads: 1\ndevice: cpu\ndatasets:\n  {DATASET}:\n    input: data/noisy\n"
        f"    reference: data/clean\n    preset: tiny\n    iterations: {ITERATIONS}\n")


def workflow_reports(tmp_path_factory) -> Path:
    """A workdir after three snakemake runs, made once per test session (the browser test shares it).

    1. `--keep-going` with a corrupt image: the onerror handler writes the report, kept as
       `after-failure.html`; 2. the image is fixed and the workflow rerun: the rule rewrites it;
    3. `snakemake --report snake.html`.
    """
    from test_workflow import copy_workflow, snakemake

    work = tmp_path_factory.getbasetemp() / "report-workflow"
    if (work / "done").exists():
        return work
    shutil.rmtree(work, ignore_errors=True)
    copy_workflow(work)
    make_inputs(work)
    report = work / "results" / DATASET / "report.html"
    proc = snakemake(work, "--keep-going", check=False)
    assert proc.returncode != 0 and report.is_file(), proc.stdout + proc.stderr
    shutil.copy2(report, work / "after-failure.html")
    # `snakemake --report x.zip` after the failure: the provisional files carry real dates, which
    # ZIP archives need (the epoch made it fail: "ZIP does not support timestamps before 1980")
    zipped = snakemake(work, "--report", "after-failure.zip", check=False)
    assert zipped.returncode == 0 and zipfile.is_zipfile(work / "after-failure.zip"), zipped.stderr[-2000:]
    save_png(work / "data" / "noisy" / "broken.png", add_gaussian_noise(scene(40, 48, 3, seed=6), 0.1))
    snakemake(work)
    snakemake(work, "--report", "snake.html")
    (work / "done").touch()
    return work


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return workflow_reports(tmp_path_factory)


def column(rows: list[list[dict[str, str]]], index: int, key: str = "text") -> list[str]:
    return [row[index][key] for row in rows]


@pytest.mark.slow
def test_report_after_a_failure_lists_it_with_its_error_and_log(work):
    html = (work / "after-failure.html").read_text()
    sidecars = [(work / "results" / DATASET / f"{name}.json").stat().st_mtime
                for name in ("a.png", "sub/b.tif")]
    # provisional: dated a second before its newest input, so the rule rebuilds it
    assert (work / "after-failure.html").stat().st_mtime < max(sidecars)
    rows = table(html)
    assert column(rows, 1) == IMAGES
    assert column(rows, 4) == ["ok", "failed", "ok"]
    header = re.search(r'<ul class="facts" id="overview">(.*?)</ul>', html, re.S).group(1)
    assert re.search(r"<b>2</b> images done", header) and re.search(r"<b>1</b> failed", header)
    (failure,) = table(html, "failures")
    assert failure[0]["text"] == "broken.png"
    assert failure[2]["text"].startswith("error: ") and "broken.png" in failure[2]["text"]
    log = failure[3]["text"]
    assert log == f"logs/{DATASET}/restore/broken.png.log" and (work / log).is_file()


@pytest.mark.slow
def test_report_rule_rebuilds_the_report_once_every_image_succeeded(work):
    report = work / "results" / DATASET / "report.html"
    html = report.read_text()
    assert report.stat().st_mtime >= (work / "results" / DATASET / "summary.tsv").stat().st_mtime
    assert (work / "logs" / DATASET / "report.log").read_text().strip().endswith("3 images")
    rows = table(html)
    assert column(rows, 4) == ["ok", "ok", "ok"]
    assert 'id="failures"' not in html
    sidecar = json.loads((work / "results" / DATASET / "a.png.json").read_text())
    assert column(rows, 7, "sort")[0] == str(sidecar["iterations"])
    assert float(column(rows, 11, "sort")[0]) == sidecar["wall_time_s"]
    assert float(column(rows, 5, "sort")[0]) == pytest.approx(sidecar["sigma_input"])


@pytest.mark.slow
def test_report_scores_against_the_reference(work):
    rows = {row[1]["text"]: row for row in table((work / "results" / DATASET / "report.html").read_text())}
    for image in ("a.png", "sub/b.tif"):
        reference = read_image(work / "data" / "clean" / image).data
        noisy = read_image(work / "data" / "noisy" / image).data
        restored = read_image(work / "results" / DATASET / image).data
        cells = [float(c["sort"]) for c in rows[image][12:16]]
        assert cells == pytest.approx([psnr(reference, noisy), psnr(reference, restored),
                                       ssim(reference, noisy), ssim(reference, restored)], rel=1e-9)
    assert [c["sort"] for c in rows["broken.png"][12:16]] == ["", "", "", ""]  # no reference


@pytest.mark.slow
def test_report_is_self_contained(work):
    html = (work / "results" / DATASET / "report.html").read_text()
    assert "default-src 'none'" in html  # the browser refuses any fetch
    assert not re.search(r'(src|href)="(https?:)?//', html)
    sources = picture_sources(html)
    for image in IMAGES:  # the crop is left out when the image is smaller than the crop
        for picture in ("before", "after", "loss and stopping curves"):
            assert decoded(sources[f"{image} {picture}"]).width > 0
    stars = np.asarray(decoded(sources["sub/b.tif before"]).convert("L"))
    # the 16-bit frame uses under 1 % of its range; stretched for display, its stars are bright
    assert stars.max() > 200 and np.median(stars) < 80


@pytest.mark.slow
def test_report_command_on_workflow_results_with_pictures_beside(work, tmp_path, monkeypatch):
    monkeypatch.chdir(work)
    out = tmp_path / "beside.html"
    proc = CliRunner().invoke(main, ["report", f"results/{DATASET}", "-o", str(out),
                                     "--config", "config.yaml", "--beside"])
    assert proc.exit_code == 0, proc.output
    html = out.read_text()
    assert "PSNR after" in html and "preset: tiny" in html  # reference and config from --config
    sources = picture_sources(html).values()
    assert sources and not any(s.startswith("data:") for s in sources)
    for src in sources:
        assert src.startswith("beside_files/") and Image.open(tmp_path / src).width > 0


@pytest.mark.slow
def test_snakemake_report_includes_images_and_quality_reports(work):
    html = (work / "snake.html").read_text()
    assert "Quality reports" in html and "Restored images" in html
    assert "no downloaded weights were used" in html  # the workflow description
    assert f"results/{DATASET}/report.html" in html and f"results/{DATASET}/sub/b.tif" in html


@pytest.mark.slow
def test_the_curves_caption_names_the_data_fit_panel(work):
    html = (work / "results" / DATASET / "report.html").read_text()
    sidecar = json.loads((work / "results" / DATASET / "a.png.json").read_text())
    assert sidecar.get("datafit_curve") and sidecar.get("noise_floor")
    assert "the data-fit of the smoothed estimate over the noise floor, the discrepancy signal" in html
