"""Sequences: temporal consistency after per-frame restoration, its metrics, video, warm start, workflow.

The test sequence is a real photo (scikit-image's astronaut) panned 2 px per frame, 5 frames of
48×48, with independent Gaussian noise per frame, restored frame by frame by the real fit (tiny
preset, the same seed and so the same z for every frame). torch runs on one thread here: on a
shared two-core machine, two threads contend and run several times slower.
"""

from __future__ import annotations

import json
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
from skimage import data
from skimage.transform import resize

from dipbatch.cli import main
from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.io.images import read_image
from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise
from dipbatch.temporal.dvp import DVPOptions, deep_video_prior
from dipbatch.temporal.flowfilter import flow_filter
from dipbatch.temporal.metrics import measure, sequence_flows, static_mask
from dipbatch.temporal.run import raised_metrics
from dipbatch.temporal.sequence import list_frames, numbering_gaps
from dipbatch.temporal.video import VideoInfo, read_video, write_video

REPO = Path(__file__).resolve().parents[1]
FRAMES, SIZE, STEP, SIGMA = 5, 48, 2, 25 / 255
# The stated margin: the consistent result may lose at most this much PSNR against the clean
# frames, compared with the per-frame results.
PSNR_MARGIN_DB = 0.3


pytestmark = pytest.mark.usefixtures("one_thread")


class Panned:
    """Clean frames, noisy input frames, and the per-frame DIP results."""

    def __init__(self) -> None:
        photo = resize(data.astronaut().astype(np.float32) / 255, (160, 160), anti_aliasing=True)
        photo = np.moveaxis(photo.astype(np.float32), -1, 0)
        self.clean = [np.ascontiguousarray(photo[:, 30:30 + SIZE, 20 + STEP * t:20 + STEP * t + SIZE])
                      for t in range(FRAMES)]
        self.noisy = [add_gaussian_noise(c, SIGMA, seed=100 + t) for t, c in enumerate(self.clean)]
        torch.set_num_threads(1)
        preset = get_preset("denoise", "tiny", iterations=200)
        fits = Fitter([Problem(torch.from_numpy(n)) for n in self.noisy], preset, [0] * FRAMES).run()
        self.results = [fit.estimate for fit in fits]
        self.flows = sequence_flows(self.noisy)
        self.static = static_mask(self.noisy)

    def warp_error(self, frames: list[np.ndarray]) -> float:
        return measure(frames, self.flows, self.static).mean_warp_error

    def psnr(self, frames: list[np.ndarray]) -> float:
        return float(np.mean([psnr(c, f) for c, f in zip(self.clean, frames, strict=True)]))


@pytest.fixture(scope="module")
def panned() -> Panned:
    return Panned()


def to_u8(frame: np.ndarray) -> np.ndarray:
    pixels = np.round(np.clip(np.moveaxis(frame, 0, -1), 0, 1) * 255).astype(np.uint8)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def save_frames(folder: Path, names: list[str], frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(names, frames, strict=True):
        Image.fromarray(to_u8(frame)).save(folder / name)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


# --- metrics and sequences ----------------------------------------------------------------------


def test_frames_sort_naturally_and_gaps_are_named(tmp_path: Path) -> None:
    names = ["frame_10.png", "frame_2.png", "frame_1.png", "frame_3.png"]
    save_frames(tmp_path, names, [np.zeros((1, 8, 8), np.float32)] * 4)
    (tmp_path / "frame_1.png.json").write_text("{}")  # a sidecar is not a frame
    ordered = [p.name for p in list_frames(tmp_path)]
    assert ordered == ["frame_1.png", "frame_2.png", "frame_3.png", "frame_10.png"]
    assert numbering_gaps(ordered) == ["6 frames missing between frame_3.png and frame_10.png"]
    assert numbering_gaps(["a_1.png", "a_2.png", "b_7.png"]) == []


def test_warping_error_sees_flicker_not_motion(panned: Panned) -> None:
    """The clean pan moves but does not flicker; independent noise per frame is pure flicker."""
    clean, noisy = (measure(v, panned.flows, panned.static) for v in (panned.clean, panned.noisy))
    assert clean.mean_warp_error < 0.05 * noisy.mean_warp_error
    assert np.isnan(clean.warp_error[0]) and len(clean.warp_error) == FRAMES
    assert panned.static.mean() > 0.05, "no static pixels found"
    assert clean.flicker_index < 0.5 * noisy.flicker_index


@pytest.mark.parametrize("method", ["dvp", "flow"])
def test_consistent_result_flickers_less_and_keeps_psnr(panned: Panned, method: str) -> None:
    if method == "dvp":
        consistent = deep_video_prior(panned.noisy, panned.results)
    else:
        consistent = flow_filter(panned.results)
    assert len(consistent) == FRAMES and consistent[0].shape == panned.results[0].shape
    per_frame, smooth = panned.warp_error(panned.results), panned.warp_error(consistent)
    assert smooth < 0.75 * per_frame, f"{method}: warping error {smooth:.3g} vs {per_frame:.3g}"
    loss = panned.psnr(panned.results) - panned.psnr(consistent)
    assert loss <= PSNR_MARGIN_DB, f"{method}: PSNR {loss:.2f} dB below the per-frame results"


def test_irt_pass_keeps_the_per_frame_results(panned: Panned) -> None:
    """The IRT variant's result (its main head) stays close to what it was trained on: its fidelity,
    PSNR against the per-frame results, is high. With too short a start on the first frame (5 steps)
    the minor head took most pixels and the main head's frames were 16.7 dB from them."""
    consistent = deep_video_prior(panned.noisy, panned.results, DVPOptions(irt=True))
    fidelity = np.mean([psnr(r, f) for r, f in zip(panned.results, consistent, strict=True)])
    assert fidelity > 22, f"IRT: {fidelity:.1f} dB from the per-frame results"


# --- the command ----------------------------------------------------------------------------------


def test_temporal_command_keeps_frame_order_and_count(tmp_path: Path, panned: Panned) -> None:
    names = [f"frame_{n}.png" for n in range(9, 9 + FRAMES)]  # frame_9 comes before frame_10
    save_frames(tmp_path / "in", names, panned.noisy)
    save_frames(tmp_path / "restored", names, panned.results)
    before = {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()}
    code, out, err = run("temporal", tmp_path / "in", tmp_path / "restored", "-o", tmp_path / "out",
                         "--method", "flow")
    assert code == 0, err
    assert "warping error" in out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([*names, "temporal.json", "temporal.svg", "temporal.tsv"])
    rows = (tmp_path / "out" / "temporal.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == names
    record = json.loads((tmp_path / "out" / "temporal.json").read_text())
    assert record["frames"] == FRAMES and record["method"] == "flow" and record["warnings"] == []
    assert record["warp_error_consistent"] < record["warp_error_frames"] < record["warp_error_input"]
    for t, name in enumerate(names):  # each consistent frame is its own frame's, not a neighbour's
        out_frame = read_image(tmp_path / "out" / name).data
        closeness = [psnr(r, out_frame) for r in panned.results]
        assert int(np.argmax(closeness)) == t
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()}


def test_video_in_video_out(tmp_path: Path, panned: Panned) -> None:
    video = tmp_path / "clip.mkv"
    write_video(video, panned.noisy, VideoInfo("ffv1", 12, "yuv444p"))
    code, _, err = run("extract-frames", video, "-o", tmp_path / "frames")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, FRAMES + 1)]
    save_frames(tmp_path / "restored", names, panned.results)
    code, _, err = run("temporal", video, tmp_path / "restored", "-o", tmp_path / "out", "--method", "flow")
    assert code == 0, err
    frames, info = read_video(tmp_path / "out" / "clip.mkv")
    assert len(frames) == FRAMES and frames[0].shape == (3, SIZE, SIZE) and info.rate == 12
    assert psnr(read_image(tmp_path / "out" / names[2]).data, frames[2]) > 30  # the same frames, coded


def test_irt_variant_is_chosen_on_the_command_line(tmp_path: Path) -> None:
    """--irt trains the DVP's two-head IRT variant: recorded in temporal.json, and other frames."""
    names = [f"frame_{n}.png" for n in range(1, 4)]
    rng = np.random.default_rng(5)
    save_frames(tmp_path / "in", names, [rng.random((3, 24, 24), dtype=np.float32) for _ in names])
    save_frames(tmp_path / "restored", names, [rng.random((3, 24, 24), dtype=np.float32) for _ in names])
    written = {}
    for irt in (False, True):
        out = tmp_path / f"out_{irt}"
        code, _, err = run("temporal", tmp_path / "in", tmp_path / "restored", "-o", out, "--method", "dvp",
                           "--epochs", "1", "--device", "cpu", "--quiet", *(["--irt"] if irt else []))
        assert code == 0, err
        assert json.loads((out / "temporal.json").read_text())["options"]["dvp"]["irt"] is irt
        written[irt] = [read_image(out / n).data for n in names]
    assert not all(np.array_equal(a, b) for a, b in zip(written[False], written[True], strict=True))


# --- the pass checks its own result ------------------------------------------------------------------


def test_a_raised_metric_is_named_and_a_lowered_one_is_not() -> None:
    figures = {"warp_error_frames": 1e-3, "warp_error_consistent": 2e-3,
               "flicker_frames": 0.02, "flicker_consistent": 0.0201}  # flicker within the 1 % tolerance
    assert raised_metrics(figures) == {"warping error": (1e-3, 2e-3)}
    figures |= {"flicker_consistent": 0.03, "warp_error_consistent": 5e-4}
    assert raised_metrics(figures) == {"flicker": (0.02, 0.03)}
    assert raised_metrics({**figures, "flicker_frames": float("nan")}) == {}  # no static pixels


@pytest.mark.parametrize("fallback", [False, True])
def test_a_pass_that_adds_flicker_is_flagged_and_can_fall_back(tmp_path: Path, panned: Panned,
                                                               fallback: bool) -> None:
    """Steady per-frame results (one grey frame repeated): a one-epoch DVP pass can only add flicker."""
    names = [f"frame_{n}.png" for n in range(1, 4)]
    grey = np.full((3, 24, 24), 0.5, np.float32)
    save_frames(tmp_path / "in", names, [f[:, :24, :24] for f in panned.noisy[:3]])
    save_frames(tmp_path / "restored", names, [grey] * 3)
    code, _, err = run("temporal", tmp_path / "in", tmp_path / "restored", "-o", tmp_path / "out",
                       "--method", "dvp", "--epochs", "1", "--device", "cpu", "--quiet",
                       *(["--fallback"] if fallback else []))
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "temporal.json").read_text())
    assert record["check"] == ("fell back" if fallback else "raised")
    assert "the dvp pass raised the warping error" in record["warnings"][0]
    assert f"warning: {tmp_path / 'in'}: the dvp pass raised" in err
    written = [read_image(tmp_path / "out" / n).data for n in names]
    per_frame = read_image(tmp_path / "restored" / names[0]).data
    if fallback:  # the per-frame frames, and their metrics as the consistent ones
        assert all(np.array_equal(f, per_frame) for f in written)
        assert record["warp_error_consistent"] == record["warp_error_frames"]
    else:
        assert not all(np.array_equal(f, per_frame) for f in written)
        assert record["warp_error_consistent"] > record["warp_error_frames"]


# --- bad input: one line, naming the file, and nothing half-written ---------------------------------


def _sequence(tmp_path: Path, panned: Panned) -> tuple[Path, Path]:
    names = [f"frame_{n}.png" for n in range(1, FRAMES + 1)]
    save_frames(tmp_path / "in", names, panned.noisy)
    save_frames(tmp_path / "restored", names, panned.results)
    return tmp_path / "in", tmp_path / "restored"


def _spoil(kind: str, seq: Path, restored: Path) -> tuple[Path, str]:
    """Make one kind of bad input; return the SEQUENCE argument and what the error must say."""
    if kind == "size":
        Image.fromarray(np.zeros((SIZE, SIZE + 2, 3), np.uint8)).save(seq / "frame_3.png")
        return seq, r"frame_3\.png is 50×48 with 3 channels, but frame_1\.png is 48×48"
    if kind == "unreadable":
        (seq / "frame_4.png").write_bytes((seq / "frame_4.png").read_bytes()[:200])
        return seq, r"frame_4\.png: truncated or corrupt image"
    if kind == "video":
        bad = seq.parent / "broken.mp4"
        bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
        return bad, r"broken\.mp4: cannot decode the video"
    (restored / "frame_5.png").unlink()
    return seq, r"restored: has no restored frame frame_5\.png"


@pytest.mark.parametrize("kind", ["size", "unreadable", "video", "missing-result"])
def test_bad_sequence_is_one_clear_error(tmp_path: Path, panned: Panned, kind: str) -> None:
    seq, restored = _sequence(tmp_path, panned)
    target, expected = _spoil(kind, seq, restored)
    code, _, err = run("temporal", target, restored, "-o", tmp_path / "out", "--method", "flow")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert re.search(expected, err), err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging left behind


def test_undecodable_video_gives_no_frames(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mov"
    bad.write_bytes(b"not a video at all" * 50)
    code, _, err = run("extract-frames", bad, "-o", tmp_path / "frames")
    assert code == 1 and "broken.mov: cannot decode the video" in err
    assert not (tmp_path / "frames").exists()


def test_numbering_gap_is_a_warning_and_no_frame_is_lost(tmp_path: Path, panned: Panned) -> None:
    seq, restored = _sequence(tmp_path, panned)
    (seq / "frame_3.png").unlink()
    code, _, err = run("temporal", seq, restored, "-o", tmp_path / "out", "--method", "flow")
    assert code == 0, err
    assert "warning: " in err and "1 frame missing between frame_2.png and frame_4.png" in err
    record = json.loads((tmp_path / "out" / "temporal.json").read_text())
    assert record["warnings"] == ["1 frame missing between frame_2.png and frame_4.png"]
    assert sorted(p.name for p in (tmp_path / "out").glob("frame_*.png")) == \
        ["frame_1.png", "frame_2.png", "frame_4.png", "frame_5.png"]


# --- warm start -------------------------------------------------------------------------------------


def test_warm_start_needs_fewer_iterations(tmp_path: Path, panned: Panned) -> None:
    """Frame 2 fitted 25 iterations from frame 1's weights beats 25 iterations from scratch."""
    save_frames(tmp_path, ["f1.png", "f2.png"], panned.noisy[:2])
    fit = ["--preset", "tiny", "--quiet", "--seed", "0"]
    weights = tmp_path / "f1.weights.pt"
    assert run("restore", tmp_path / "f1.png", "-o", tmp_path / "r1.png", *fit, "--iterations", "150",
               "--save-weights", weights)[0] == 0
    assert run("restore", tmp_path / "f2.png", "-o", tmp_path / "warm.png", *fit, "--iterations", "25",
               "--init-weights", weights)[0] == 0
    assert run("restore", tmp_path / "f2.png", "-o", tmp_path / "cold.png", *fit,
               "--iterations", "25")[0] == 0
    warm, cold = (psnr(panned.clean[1], read_image(tmp_path / f"{n}.png").data) for n in ("warm", "cold"))
    assert warm > cold + 1.0, f"warm {warm:.2f} dB, cold {cold:.2f} dB"
    assert json.loads((tmp_path / "warm.png.json").read_text())["init_weights"] == str(weights)


def test_foreign_weights_are_refused(tmp_path: Path, panned: Panned) -> None:
    save_frames(tmp_path, ["f1.png"], panned.noisy[:1])
    code, _, err = run("restore", tmp_path / "f1.png", "-o", tmp_path / "r.png", "--preset", "tiny",
                       "--iterations", "2", "--quiet", "--init-weights", tmp_path / "f1.png")
    assert code == 1 and "f1.png: not a weights file written by dipbatch restore --save-weights" in err


# --- the workflow -----------------------------------------------------------------------------------


def _workflow(tmp_path: Path, dataset: str, frames: int = FRAMES, size: int = 16,
              sequences: tuple[str, ...] = ("clip", "other")) -> Path:
    work = tmp_path / "w"
    shutil.copytree(REPO / "workflow", work / "workflow",
                    ignore=shutil.ignore_patterns("demo", "__pycache__"))
    rng = np.random.default_rng(0)
    for folder in sequences:
        save_frames(work / "data" / folder, [f"frame_{n}.png" for n in range(1, frames + 1)],
                    [rng.random((1, size, size), dtype=np.float32) for _ in range(frames)])
    (work / "config.yaml").write_text(f"threads: 1\ndevice: cpu\ndatasets:\n  seq:\n{dataset}")
    return work


def _snakemake(work: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("SNAKEMAKE_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--scheduler", "greedy",
                           *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _edges(dot: str) -> set[tuple[str, str]]:
    """(producer, consumer) pairs of the DAG, each job named 'rule path' or 'rule sequence'."""
    names = {}
    for number, label in re.findall(r"^\s*(\d+)\[label = \"(.*?)\"", dot, re.M):
        parts = label.split("\\n")
        detail = [p.split(": ", 1)[1] for p in parts[1:] if p.startswith(("path", "sequence"))]
        names[number] = " ".join([parts[0], *detail])
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)}


def test_warm_start_chains_frames_within_chunks(tmp_path: Path) -> None:
    work = _workflow(tmp_path, "    input: data\n    kind: sequence\n    preset: tiny\n"
                                "    warm_start: true\n    warm_chunk: 2\n    warm_iterations: 3\n")
    edges = _edges(_snakemake(work, "--dry-run", "--dag"))
    chained = {(a, b) for a, b in edges if a.startswith("restore_warm") and b.startswith("restore_warm")}
    assert chained == {(f"restore_warm {s}/frame_{a}.png", f"restore_warm {s}/frame_{a + 1}.png")
                       for s in ("clip", "other") for a in (1, 3)}
    for sequence in ("clip", "other"):  # one temporal job per sequence, after all of its frames
        before = {a for a, b in edges if b == f"temporal {sequence}"}
        assert before == {f"restore_warm {sequence}/frame_{n}.png" for n in range(1, FRAMES + 1)}


def test_workflow_passes_the_dvp_settings_to_the_temporal_job(tmp_path: Path) -> None:
    work = _workflow(tmp_path, "    input: data\n    kind: sequence\n    preset: tiny\n"
                                "    temporal: {method: dvp, epochs: 3, irt: true, fallback: true}\n",
                     sequences=("clip",))
    shell = [line for line in _snakemake(work, "--dry-run", "--printshellcmds").splitlines()
             if line.startswith("Shell command: dipbatch temporal")]
    assert len(shell) == 1
    assert "--method dvp --epochs 3 --irt --fallback" in shell[0]


@pytest.mark.slow
def test_workflow_makes_consistent_sequences_of_frames_and_videos(tmp_path: Path) -> None:
    work = _workflow(tmp_path, "    input: data\n    kind: sequence\n    preset: tiny\n    iterations: 2\n"
                                "    warm_start: true\n    temporal: {method: flow}\n",
                     frames=2, sequences=("clip",))
    rng = np.random.default_rng(1)
    write_video(work / "data" / "take.mp4", [rng.random((3, 16, 16), dtype=np.float32) for _ in range(2)],
                VideoInfo("libx264", 10, "yuv420p"))
    _snakemake(work, "results/seq/temporal.tsv")
    table = (work / "results/seq/temporal.tsv").read_text().splitlines()
    assert table[0].split("\t")[:3] == ["sequence", "status", "frames"]
    assert [row.split("\t")[:3] for row in table[1:]] == [["clip", "ok", "2"], ["take.mp4", "ok", "2"]]
    consistent = work / "results/seq/consistent"
    assert sorted(p.name for p in (consistent / "clip").glob("*.png")) == ["frame_1.png", "frame_2.png"]
    assert sorted(p.name for p in (consistent / "take.mp4").glob("*.png")) == \
        ["frame_000001.png", "frame_000002.png"]
    assert len(read_video(consistent / "take.mp4" / "take.mp4")[0]) == 2  # the video, re-encoded
    second = json.loads((work / "results/seq/clip/frame_2.png.json").read_text())
    assert second["init_weights"] == "results/seq/clip/frame_1.png.weights.pt"
    assert not list((work / "results").rglob("*.weights.pt"))  # temporary, removed once used


@pytest.mark.parametrize("guard", [True, False])
def test_the_fidelity_guard_is_recorded_and_can_be_turned_off(tmp_path: Path, panned: Panned,
                                                              guard: bool) -> None:
    names = [f"frame_{n}.png" for n in range(1, FRAMES + 1)]
    save_frames(tmp_path / "in", names, panned.noisy)
    save_frames(tmp_path / "restored", names, panned.results)
    code, _, err = run("temporal", tmp_path / "in", tmp_path / "restored", "-o", tmp_path / "out",
                       "--method", "flow", *([] if guard else ["--no-fidelity-guard"]))
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "temporal.json").read_text())
    assert record["options"]["fidelity_guard"] is guard
    if guard:  # the data-fits it weighed, over the noise floor, and the strength it applied
        assert set(record["fidelity_guard"]) == {"strength", "noise_floor", "datafit_frames", "datafit_pass",
                                                 "datafit_kept"}
        assert record["strength"] == record["fidelity_guard"]["strength"] > 0
    else:
        assert record["fidelity_guard"] == {} and record["strength"] == 1.0
