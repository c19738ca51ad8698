"""The fast paths run on the CPU too: bf16 autocast, channels_last, compilation off by default;
several members run grouped on a GPU and separately on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.speed import SpeedOptions
from dipbatch.physics.metrics import psnr
from dipbatch.run.restore import RestoreOptions, restore_files


def test_bf16_autocast_and_channels_last_on_cpu(clean_rgb: np.ndarray, noisy_rgb: np.ndarray) -> None:
    preset = get_preset("denoise", "tiny", iterations=120)
    problem = Problem(torch.from_numpy(noisy_rgb))
    plain = Fitter([problem], preset, [0]).run()[0]
    fast = Fitter([problem], preset, [0],
                  speed=SpeedOptions(precision="bf16", channels_last=True))
    assert fast.autocast == torch.bfloat16
    assert fast.net[1].weight.is_contiguous(memory_format=torch.channels_last)
    amp = fast.run()[0]
    assert amp.estimate.dtype == np.float32
    # bf16 follows the same trajectory closely enough that the quality is the same
    assert abs(psnr(clean_rgb, amp.estimate) - psnr(clean_rgb, plain.estimate)) < 0.5
    assert psnr(clean_rgb, amp.estimate) > psnr(clean_rgb, noisy_rgb) + 2


def test_auto_precision_is_fp32_on_cpu_and_bf16_on_cuda() -> None:
    options = SpeedOptions()
    assert options.autocast_dtype(torch.device("cpu")) is None
    assert options.autocast_dtype(torch.device("cuda")) == torch.bfloat16
    assert not options.use_channels_last(torch.device("cpu"))
    assert options.use_channels_last(torch.device("cuda"))
    assert SpeedOptions(precision="fp32").autocast_dtype(torch.device("cuda")) is None


def test_members_run_grouped_on_cuda_and_separately_on_cpu() -> None:
    assert SpeedOptions().member_layout(torch.device("cpu")) == "separate"
    assert SpeedOptions().member_layout(torch.device("cuda")) == "grouped"
    assert SpeedOptions(layout="grouped").member_layout(torch.device("cpu")) == "grouped"


def _restore_two(folder: Path, noisy_rgb: np.ndarray) -> list[dict]:
    pairs = []
    for name, image in (("a", noisy_rgb), ("b", noisy_rgb[:, ::-1])):
        tifffile.imwrite(folder / f"{name}.tif", np.round(np.moveaxis(image, 0, -1) * 255).astype(np.uint8),
                         photometric="rgb")
        pairs.append((folder / f"{name}.tif", folder / f"{name}-out.tif"))
    options = RestoreOptions(preset="tiny", iterations=5, device="cpu", show_progress=False,
                             checkpoint_every=0, overwrite=True)
    outcomes = restore_files(pairs, options)
    assert all(o.error is None for o in outcomes)
    return [json.loads(Path(f"{o.output}.json").read_text()) for o in outcomes]


def test_sidecar_records_the_member_layout_chosen_for_the_device(
        tmp_path: Path, noisy_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """On this CPU the members run separately; where the device decision says CUDA (mocked: no GPU
    here), the same CPU maths runs as one grouped net, and the sidecar says so."""
    records = _restore_two(tmp_path, noisy_rgb)
    assert [r["batch_size"] for r in records] == [2, 2]
    assert [r["member_layout"] for r in records] == ["separate", "separate"]
    decide = SpeedOptions.member_layout
    monkeypatch.setattr(SpeedOptions, "member_layout",
                        lambda self, device: decide(self, torch.device("cuda")))
    fitter = Fitter([Problem(torch.rand(3, 32, 32))] * 2, get_preset("denoise", "tiny"), [0, 1])
    assert [(net, members) for net, members, _ in fitter.passes] == [(fitter.net, range(2))]  # one pass
    assert [r["member_layout"] for r in _restore_two(tmp_path, noisy_rgb)] == ["grouped", "grouped"]


def test_separate_members_are_views_of_the_grouped_net() -> None:
    preset = get_preset("denoise", "tiny")
    fitter = Fitter([Problem(torch.rand(3, 32, 32)) for _ in range(3)], preset, [0, 1, 2])
    assert [members for _, members, _ in fitter.passes] == [range(0, 1), range(1, 2), range(2, 3)]
    for lone, _, _ in fitter.passes:
        assert not list(lone.parameters())  # the grouped net owns every parameter
    before = [p.detach().clone() for p in fitter.net.parameters()]
    fitter.step()
    fitter.step()
    assert all(not torch.equal(p, b) for p, b in zip(fitter.net.parameters(), before, strict=True))
