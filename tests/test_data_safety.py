"""Data safety (issue 17, library side): inputs are never touched, checkpoints never run code,
bombs and full disks fail one file with a one-line error, outputs and sidecars come in pairs."""

from __future__ import annotations

import copy
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from cli_lines import closing_line
from click.testing import CliRunner
from disks import fill
from PIL import Image as PILImage

from dipbatch.cli import main
from dipbatch.errors import DipbatchError
from dipbatch.fit.checkpoint import MAGIC, load_checkpoint, save_checkpoint
from dipbatch.fit.loop import Fitter
from dipbatch.io.filenames import checkpoint_path
from dipbatch.io.images import DEFAULT_MAX_PIXELS, read_image, write_image
from dipbatch.io.sidecar import sidecar_bytes, sidecar_path
from dipbatch.run.restore import SIDECAR_ALLOWANCE, check_free_space, output_bytes
from dipbatch.tasks import TaskOptions
from dipbatch.tasks.problems import make_problem, task_preset

FAST = ["--preset", "tiny", "--iterations", "20", "--quiet"]


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def _png(path: Path, seed: int, size: tuple[int, int] = (32, 32)) -> Path:
    rng = np.random.default_rng(seed)
    PILImage.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- 1. inputs are untouchable ---------------------------------------------------------------


def test_an_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive" / "probe"
    archive.mkdir(parents=True)
    _png(archive / "a.png", 1), _png(archive / "b.png", 2)
    before = _snapshot(tmp_path)
    for output in (archive / "restored", archive / "a.png", archive / "deeper" / "x.png"):
        code, err = run("restore", archive / "a.png", "-o", output, "--input-folder", archive,
                        "--overwrite", *FAST)
        assert code == 1 and err.count("\n") == 1, err
        assert str(output) in err and str(archive) in err and "Traceback" not in err
    code, err = run("restore", archive / "a.png", archive / "b.png", "-o", archive / "restored",
                    "--input-folder", archive, *FAST)
    assert code == 1 and "inside the input folder" in err
    assert _snapshot(tmp_path) == before  # byte for byte, and nothing new beside them
    assert sorted(p.name for p in archive.iterdir()) == ["a.png", "b.png"]


def test_one_input_is_never_another_inputs_output(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 2)
    before = _snapshot(tmp_path)
    code, err = run("restore", a, b, "-o", b, "-o", a, "--overwrite", *FAST)
    assert code == 1 and err.count("\n") == 1 and f"is the input {b}" in err, err
    assert _snapshot(tmp_path) == before


# ---- 2. checkpoints are data, not code --------------------------------------------------------


class _Planted:
    """A pickle that, once unpickled, makes the marker folder (as os.system would run a command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _job_key_of(noisy: Path, iterations: int) -> str:
    """The key the CLI run below gives its checkpoint (so the planted file passes the key check)."""
    from dipbatch.io.sidecar import sha256_of
    from dipbatch.run.ensembles import default_ensemble
    from dipbatch.run.restore import RestoreOptions, _job_key

    options = RestoreOptions(preset="tiny", iterations=iterations, ensemble=default_ensemble("cpu"))
    return _job_key([sha256_of(noisy)], task_preset(TaskOptions(), "tiny", iterations), options)


@pytest.mark.parametrize("header", [False, True], ids=["bare pickle", "behind the right key"])
def test_a_planted_checkpoint_never_runs(tmp_path: Path, header: bool) -> None:
    noisy, out = _png(tmp_path / "noisy.png", 3), tmp_path / "out.png"
    marker = tmp_path / "pwned"
    key = _job_key_of(noisy, 20)
    planted = checkpoint_path(out)
    with open(planted, "wb") as fh:
        if header:
            fh.write(MAGIC + key.encode() + b"\n")
        torch.save({"key": key, "state": _Planted(marker), "iteration": 10}, fh)
    code, err = run("restore", noisy, "-o", out, *FAST)
    assert not marker.exists(), "the planted checkpoint ran code"
    assert code == 0, err
    assert f"warning: {planted}" in err and "starts over" in err
    assert ("cannot load the checkpoint" if header else "not a checkpoint of this job") in err
    assert read_image(out).data.shape == (3, 32, 32)
    assert "resumed_from_iteration" not in json.loads(sidecar_path(out).read_text())
    assert not planted.exists()  # removed with the output written


def test_a_checkpoint_of_another_job_is_ignored_with_a_warning(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / ".x.png.ckpt"
    save_checkpoint(path, "a" * 64, {"iteration": 5, "w": torch.ones(3)})
    assert load_checkpoint(path, "a" * 64)["iteration"] == 5
    assert capsys.readouterr().err == ""
    assert load_checkpoint(path, "b" * 64) is None
    assert "not a checkpoint of this job" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:200])  # cut short
    assert load_checkpoint(path, "a" * 64) is None
    assert "cannot load the checkpoint" in capsys.readouterr().err


def _foreign_states() -> dict[str, dict]:
    """States that pass the header check but are not the job's: another image's fit (1 channel of
    16², one member), and one whose values have unexpected types."""
    opts = TaskOptions()
    other = Fitter([make_problem(np.full((1, 16, 16), 0.5, np.float32), opts)],
                   task_preset(opts, "tiny", 20), [0], "cpu")
    other.run(checkpoint=lambda s: None)
    odd = {**other.state_dict(), "iteration": "ten", "loss_log": [1.0, 2.0]}
    return {"another image": other.state_dict(), "odd types": odd}


@pytest.mark.parametrize("kind", ["another image", "odd types"])
def test_a_checkpoint_holding_another_fits_state_is_a_warning_among_good_inputs(tmp_path: Path,
                                                                                kind: str) -> None:
    a, b = _png(tmp_path / "a.png", 11), _png(tmp_path / "b.png", 12, (24, 24))
    out = tmp_path / "out"
    out.mkdir()
    planted = checkpoint_path(out / "a.png")
    with open(planted, "wb") as fh:  # the job's own header: only the state is wrong
        fh.write(MAGIC + _job_key_of(a, 20).encode() + b"\n")
        torch.save(_foreign_states()[kind], fh)
    code, err = run("restore", a, b, "-o", out, "--jobs", "1", *FAST)
    assert code == 0 and "Traceback" not in err, err
    lines = err.splitlines()
    assert lines[-1] == closing_line(lines, 2, 0, out)
    assert [line.endswith("ignored, the fit starts over") for line in lines
            if line.startswith(f"warning: {planted}: cannot resume from the checkpoint")] == [True]
    assert "resumed_from_iteration" not in json.loads(sidecar_path(out / "a.png").read_text())
    assert read_image(out / "a.png").data.shape == (3, 32, 32)
    assert not planted.exists()  # so a rerun is not stuck on it either


def test_a_state_that_does_not_fit_leaves_the_fitter_as_it_was() -> None:
    fitter = _fitter()
    before = copy.deepcopy(fitter.state_dict())
    for state in _foreign_states().values():
        with pytest.raises(ValueError, match="the saved state is not this fit's"):
            fitter.load_state_dict(state)
    after = fitter.state_dict()
    assert after["iteration"] == 0 and after["ema"] is None
    for (name, was), now in zip(before["net"].items(), after["net"].values(), strict=True):
        assert torch.equal(was, now), name
    fitter.run()  # and it still fits


# ---- 3. --checkpoint-every N means every N iterations -----------------------------------------


def _fitter(seed: int = 0) -> Fitter:
    opts = TaskOptions()
    noisy = np.random.default_rng(seed).random((1, 32, 32), dtype=np.float32)
    return Fitter([make_problem(noisy, opts)], task_preset(opts, "tiny", 120), [0], "cpu")


@pytest.mark.parametrize(("every", "saved_at"), [(20, [20, 40, 60, 80, 100]), (60, [60])])
def test_checkpoints_come_every_n_iterations_whatever_the_check_interval(
        every: int, saved_at: list[int], one_thread: None) -> None:
    fitter = _fitter()
    assert fitter.check_every == 50 and fitter.cap == 120
    saves: list[dict] = []
    straight = fitter.run(checkpoint=lambda s: saves.append(copy.deepcopy(s)), checkpoint_every=every)[0]
    assert [s["iteration"] for s in saves] == saved_at
    resumed = _fitter()  # from the first save, off the check points: the same result
    resumed.load_state_dict(saves[0])
    np.testing.assert_array_equal(resumed.run()[0].estimate, straight.estimate)


# ---- 4. one pixel limit for every format, from the header -------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png16_bomb(path: Path, side: int = 20000) -> Path:
    """A 16-bit gray PNG claiming side² pixels; only its first rows are there (no decoder gets to them)."""
    rows = zlib.compress(b"\0" * (1 + 2 * side) * 4)
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows)
                     + _png_chunk(b"IEND", b""))
    return path


def _tiff_claiming(path: Path, width: int, length: int, tile: int | None = None, samples: int = 1) -> Path:
    """A tiny hand-made little-endian TIFF header claiming a width×length image of `samples` 8-bit
    samples per pixel (one byte of data)."""
    tags = {256: (4, width), 257: (4, length), 258: (3, 8), 259: (3, 1), 262: (3, 1), 277: (3, samples)}
    data_at = 8 + 2 + 12 * (len(tags) + 3) + 4
    if tile is None:
        tags.update({273: (4, data_at), 278: (4, length), 279: (4, 1)})
    else:
        tags.update({322: (4, tile), 323: (4, tile), 324: (4, data_at), 325: (4, 1)})
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value)  # a SHORT sits in the first 2 bytes
                       for tag, (kind, value) in sorted(tags.items()))
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries
                     + struct.pack("<I", 0) + b"\0")
    return path


def _fits_claiming(path: Path, side: int) -> Path:
    from astropy.io import fits

    header = fits.PrimaryHDU(np.zeros((2, 2), np.int16)).header
    header["NAXIS1"], header["NAXIS2"] = side, side
    path.write_bytes(header.tostring().encode("ascii"))  # the header alone: its data never came
    return path


BOMBS = {
    "16-bit PNG 20000²": lambda tmp: _png16_bomb(tmp / "bomb.png"),
    "TIFF 100000²": lambda tmp: _tiff_claiming(tmp / "bomb.tif", 100000, 100000),
    "TIFF of 16² in one 65536² tile": lambda tmp: _tiff_claiming(tmp / "tile.tif", 16, 16, tile=65536),
    "FITS 100000²": lambda tmp: _fits_claiming(tmp / "bomb.fits", 100000),
    "TIFF 2000² of 250 samples": lambda tmp: _tiff_claiming(tmp / "deep.tif", 2000, 2000, samples=250),
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path: Path, kind: str) -> None:
    bomb = BOMBS[kind](tmp_path)
    assert bomb.stat().st_size < 3000
    with pytest.raises(DipbatchError, match="too large") as caught:
        read_image(bomb)
    assert caught.value.where == str(bomb) and f"{DEFAULT_MAX_PIXELS:,}" in str(caught.value)


def test_samples_and_bits_count_in_the_pixel_limit(tmp_path: Path) -> None:
    deep = _tiff_claiming(tmp_path / "deep.tif", 2000, 2000, samples=250)
    with pytest.raises(DipbatchError) as caught:
        read_image(deep)
    assert str(caught.value) == (
        f"{deep}: image too large: 2000×2000 = 4,000,000 pixels of 250 × 8-bit samples, which count as "
        f"250,000,000, over the limit of {DEFAULT_MAX_PIXELS:,} (max_pixels)")
    rgba16 = tmp_path / "rgba16.tif"  # 64 bits a pixel count twice; 32 bits or fewer once
    tifffile.imwrite(rgba16, np.zeros((10, 10, 4), np.uint16), photometric="rgb", extrasamples=["unassalpha"])
    assert read_image(rgba16, max_pixels=200).data.shape == (3, 10, 10)
    with pytest.raises(DipbatchError, match="count as 200, over the limit of 199"):
        read_image(rgba16, max_pixels=199)


def _png_with_metadata_bomb(path: Path, kind: bytes, inflated: int) -> Path:
    """A small 8-bit PNG whose zTXt or iCCP chunk inflates to `inflated` bytes of zeros."""
    deflate, chunks = zlib.compressobj(9), []
    for _ in range(inflated >> 20):
        chunks.append(deflate.compress(b"\0" * (1 << 20)))
    payload = b"".join(chunks) + deflate.flush()
    body = (b"Comment\0\0" if kind == b"zTXt" else b"ICC profile\0\0") + payload
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 5 * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(kind, body)
                     + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("kind", [b"zTXt", b"iCCP"])
def test_a_metadata_chunk_that_inflates_without_bound_is_refused_in_bounded_memory(tmp_path: Path,
                                                                                  kind: bytes) -> None:
    bomb = _png_with_metadata_bomb(tmp_path / "bomb.png", kind, 512 << 20)
    assert bomb.stat().st_size < 1 << 20
    probe = ("import resource, sys\nfrom dipbatch.errors import DipbatchError\n"
             "from dipbatch.io.images import read_image\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             "try:\n    read_image(sys.argv[1])\nexcept DipbatchError as exc:\n    print(exc)\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    out = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == (f"{bomb}: its {kind.decode()} metadata chunk inflates past 16 MiB; refused as a "
                      "decompression bomb")
    assert int(out[1]) < 100, f"reading grew by {out[1]} MiB"
    small = _png_with_metadata_bomb(tmp_path / "ok.png", b"zTXt", 1 << 20)  # 1 MiB of text is fine
    assert read_image(small).source.metadata["text"]["Comment"] == "\0" * (1 << 20)


def test_an_output_that_cannot_hold_the_channels_is_refused_before_the_fit(tmp_path: Path) -> None:
    five = tmp_path / "five.tif"
    tifffile.imwrite(five, np.random.default_rng(0).integers(0, 255, (24, 24, 5), np.uint8),
                     photometric="minisblack", planarconfig="contig")
    out = tmp_path / "out.png"
    code, err = run("restore", five, "-o", out, "--checkpoint-every", "1", "--stop", "fixed", *FAST)
    assert code == 1 and err == (f"error: {out}: PNG holds 1 (gray) or 3 (RGB) colour channels, not 5; "
                                 "write a .tif or .fits instead\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five.tif"]  # no fit ran: no checkpoint


def test_the_pixel_limit_is_an_option_for_every_format(tmp_path: Path) -> None:
    gray = (np.arange(64 * 48).reshape(1, 64, 48) % 251 / 250).astype(np.float32)
    for suffix, dtype in ((".png", "uint16"), (".png", "uint8"), (".jpg", "uint8"), (".tif", "float32"),
                          (".fits", "int16")):
        path = tmp_path / f"img{dtype}{suffix}"
        source = read_image(_png(tmp_path / "src.png", 0, (64, 48))).source
        write_image(path, gray, source, dtype=dtype)
        assert read_image(path, max_pixels=64 * 48).data.shape[1:] == (64, 48)
        with pytest.raises(DipbatchError, match="64×48 = 3,072 pixels, over the limit of 3,071"):
            read_image(path, max_pixels=64 * 48 - 1)


def test_a_bomb_among_several_inputs_fails_only_itself(tmp_path: Path) -> None:
    good, bomb = _png(tmp_path / "good.png", 4), _png16_bomb(tmp_path / "bomb.png")
    small = _png(tmp_path / "small.png", 5, (16, 16))
    code, err = run("restore", bomb, good, small, "-o", tmp_path / "out", "--max-pixels", "1024", *FAST)
    assert code == 1
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        f"error: {bomb}: image too large: 20000×20000 = 400,000,000 pixels, "
        "over the limit of 1,024 (--max-pixels)"]
    assert lines[-1] == closing_line(lines, 2, 1, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good.png", "good.png.json", "small.png", "small.png.json"]


# ---- 5. full disks and partial writes ---------------------------------------------------------


def test_a_full_disk_is_found_before_the_fit(tmp_path: Path, small_disk: Path) -> None:
    noisy, out = _png(tmp_path / "noisy.png", 6, (96, 96)), small_disk / "out.png"
    fill(small_disk, leave=64 * 1024)
    code, err = run("restore", noisy, "-o", out, "--checkpoint-every", "5", *FAST)
    assert code == 1 and err.count("\n") == 1 and err.startswith(f"error: {out}: not enough free space")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no fit, so no checkpoint


def test_the_free_space_probe_compares_the_expected_size(tmp_path: Path) -> None:
    assert output_bytes(3, (100, 200), "uint16") == 3 * 100 * 200 * 2 + SIDECAR_ALLOWANCE
    check_free_space(tmp_path / "x.png", 1)
    with pytest.raises(DipbatchError, match="not enough free space") as caught:
        check_free_space(tmp_path / "x.png", 1 << 62)
    assert caught.value.where == str(tmp_path / "x.png")


def test_a_disk_that_fills_during_the_fit_keeps_the_old_pair(tmp_path: Path, small_disk: Path) -> None:
    noisy, out = _png(tmp_path / "noisy.png", 7), small_disk / "out.png"
    assert run("restore", noisy, "-o", out, *FAST)[0] == 0
    before = _snapshot(small_disk)
    assert sorted(before) == ["out.png", "out.png.json"]
    args = ["restore", str(noisy), "-o", str(out), "--overwrite", "--preset", "tiny", "--iterations", "400",
            "--checkpoint-every", "10", "--threads", "1", "--quiet", "--stop", "fixed"]
    proc = subprocess.Popen([sys.executable, "-c", "from dipbatch.cli import main; main()", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not checkpoint_path(out).exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    fill(small_disk)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines[-1] == f"error: {out}: cannot write the file: No space left on device"
    assert any(line.startswith(f"warning: {checkpoint_path(out)}: cannot write the checkpoint")
               for line in lines[:-1])  # and the fit went on to its end
    (small_disk / "filler").unlink()
    after = _snapshot(small_disk)
    assert {k: after[k] for k in before} == before  # the old image beside its own sidecar
    assert sorted(after) == [".out.png.ckpt", "out.png", "out.png.json"]  # no temporary left


def test_a_pair_reaches_the_disk_before_its_renames_and_in_pair_order(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A power cut cannot be staged here, so the system calls are watched: each file's data are
    flushed before it is renamed into place, and the folder after each step, the image first."""
    out = tmp_path / "out.png"
    sidecar = sidecar_path(out)
    source = read_image(_png(tmp_path / "in.png", 13)).source
    write_image(out, np.zeros((3, 32, 32), np.float32), source, companions={sidecar: b"{}"})  # an old pair
    events: list[tuple[str, str]] = []
    opened: dict[int, str] = {}
    real_open, real_fsync, real_replace, real_unlink = os.open, os.fsync, os.replace, os.unlink

    def name(path: object) -> str:
        shown = Path(os.fsdecode(path))  # type: ignore[arg-type]
        return "folder" if shown == tmp_path else "part" if shown.name.endswith(".part.png") or \
            shown.name.endswith(".part.json") else shown.name

    def spy_open(path, flags, *rest, **kw):  # type: ignore[no-untyped-def]
        fd = real_open(path, flags, *rest, **kw)
        opened[fd] = name(path)
        return fd

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", opened[fd]))
        real_fsync(fd)

    def spy_replace(src, dst) -> None:  # type: ignore[no-untyped-def]
        events.append(("rename", name(dst)))
        real_replace(src, dst)

    def spy_unlink(path, *rest, **kw) -> None:  # type: ignore[no-untyped-def]
        events.append(("unlink", name(path)))
        real_unlink(path, *rest, **kw)

    spies = {"open": spy_open, "fsync": spy_fsync, "replace": spy_replace, "unlink": spy_unlink}
    for call, spy in spies.items():
        monkeypatch.setattr(os, call, spy)
    write_image(out, np.ones((3, 32, 32), np.float32), source, companions={sidecar: b"{}"})
    done = [e for e in events if e != ("unlink", "part")]  # the clean-up of temporaries already renamed
    assert done == [("fsync", "part"), ("fsync", "part"), ("unlink", sidecar.name), ("fsync", "folder"),
                    ("rename", out.name), ("fsync", "folder"), ("rename", sidecar.name), ("fsync", "folder")]
    assert read_image(out).data.min() == 1.0 and sidecar.read_bytes() == b"{}"


# ---- 6. the minor points ----------------------------------------------------------------------


def test_sidecars_are_strict_json() -> None:
    record = {"loss": float("nan"), "curve": [(1, float("inf")), (2, 0.5)], "arr": np.array([np.nan, 1.0]),
              "f32": np.float32("-inf"), "where": Path("a/b.png")}
    text = sidecar_bytes(record).decode()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the sidecar")) == {
        "format": "dipbatch-sidecar-1", "loss": None, "curve": [[1, None], [2, 0.5]], "arr": [None, 1.0],
        "f32": None, "where": "a/b.png"}


def test_an_all_nan_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, np.full((16, 16), np.nan, np.float32))
    out = tmp_path / "out.tif"
    code, err = run("restore", path, "-o", out, *FAST)
    assert code == 1 and err == f"error: {path}: no finite sample: every pixel is NaN or infinite\n"
    assert not out.exists() and not sidecar_path(out).exists()


def test_a_too_long_file_name_is_refused_before_the_fit(tmp_path: Path) -> None:
    noisy = _png(tmp_path / "noisy.png", 8)
    out = tmp_path / ("x" * 240 + ".png")  # a legal name; its temporary files' names are not
    started = time.monotonic()
    code, err = run("restore", noisy, "-o", out, "--preset", "tiny", "--iterations", "100000", "--quiet")
    assert code == 1 and err == f"error: {out}: file name too long: the temporary files beside it " \
                                "need about 30 more characters; shorten it\n"
    assert time.monotonic() - started < 60  # 100,000 iterations would take far longer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.png"]


def test_stale_checkpoints_go_when_their_image_is_done(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "a.png", 9), _png(tmp_path / "b.png", 10)
    out = tmp_path / "out"
    out.mkdir()
    stale = [checkpoint_path(out / "b.png"), out / ".b.png.0.ckpt", out / ".b.png.1.ckpt"]
    for path in stale:  # left by a killed run that fitted b on its own, or in tiles
        save_checkpoint(path, "0" * 64, {"iteration": 10})
    code, err = run("restore", a, b, "-o", out, *FAST)  # one batch, checkpointed as a's
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a.png.json", "b.png", "b.png.json"]
