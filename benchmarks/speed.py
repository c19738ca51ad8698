"""Iterations per second and peak memory of one fit step (forward, backward, Adam) of the paper's net.

Compares dipbatch's Fitter with the reference: a plain fp32 eager loop over the same net, the paper's
way (NCHW, no autocast, no compile), measured in the same process. Prints the ratio per size.

    python benchmarks/speed.py --sizes 128 256 512 --steps 5 [--device cuda] [--compile]

With --members K..., the cost per image of K members fitted together against K single fits (steps
timed in turns in one process), in the device's own member layout and, with --grouped, in grouped
convolutions too:

    python benchmarks/speed.py --members 2 4 8 --presets paper fast --sizes 64 128 256 --threads 1

With --throughput, images per hour of `dipbatch restore` on 8 images of 128² (`fast`), one process
of 2 threads against --jobs 2 --threads 1 (runs in turns, medians):

    python benchmarks/speed.py --throughput --iterations 100 --steps 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from machine import machine_line

from dipbatch.fit.loop import Fitter
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.speed import SpeedOptions
from dipbatch.nets.build import build_generator
from dipbatch.nets.pointwise import PointwiseConv
from dipbatch.run.device import synchronize


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_plain_convs(net: torch.nn.Module) -> torch.nn.Module:
    """The net with every PointwiseConv swapped for the nn.Conv2d it stands for (same weights)."""
    for name, child in net.named_children():
        if isinstance(child, PointwiseConv):
            plain = torch.nn.Conv2d(child.in_channels, child.out_channels, 1, groups=child.groups,
                                    bias=child.bias is not None)
            plain.load_state_dict(child.state_dict())
            setattr(net, name, plain)
        else:
            with_plain_convs(child)
    return net


def plain_step(size: int, device: torch.device) -> Callable[[], None]:
    """The reference: the original notebook's step, without its per-step PSNR and CPU copies."""
    net = with_plain_convs(build_generator(get_preset("denoise", "paper").net, 32, 3, [0])).to(device)
    z = torch.rand(1, 32, size, size, device=device) * 0.1
    y = torch.rand(1, 3, size, size, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(z + torch.randn_like(z) / 30), y)
        loss.backward()
        opt.step()

    return step


def fitter_step(size: int, device: torch.device, speed: SpeedOptions, members: int = 1,
                preset: str = "paper") -> Callable[[], object]:
    recipe = get_preset("denoise", preset)
    problems = [Problem(torch.rand(3, size, size)) for _ in range(members)]
    return Fitter(problems, recipe, list(range(members)), device, iterations=10_000, speed=speed).step


def interleaved(steps: list[Callable[[], object]], repeats: int,
                device: torch.device) -> tuple[list[float], list[float]]:
    """Median wall and CPU seconds per call of each step, timed in turns so that a slow spell of a
    shared machine hits them alike; after two warm-up calls each (cuDNN autotuning, compilation).
    With one thread, CPU seconds hardly see the other jobs on the machine."""
    for step in steps:
        for _ in range(2):
            step()
    wall: list[list[float]] = [[] for _ in steps]
    cpu: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, record, cpu_record in zip(steps, wall, cpu, strict=True):
            synchronize(device)
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            synchronize(device)
            record.append(time.perf_counter() - start)
            cpu_record.append(time.process_time() - cpu_start)
    return [statistics.median(r) for r in wall], [statistics.median(r) for r in cpu]


def against_plain(args: argparse.Namespace, device: torch.device, speed: SpeedOptions) -> None:
    """dipbatch's step against the paper's plain loop, per size."""
    print("size  plain_s/it  dipbatch_s/it  ratio  images/s(dipbatch)  peak_MB")
    for size in args.sizes:
        (plain, ours), _ = interleaved([plain_step(size, device), fitter_step(size, device, speed)],
                                       args.steps, device)
        print(f"{size:4d}  {plain:10.3f}  {ours:13.3f}  {plain / ours:5.2f}  "
              f"{1 / ours:18.2f}  {peak_mb(device):7.0f}", flush=True)


def members_against_singles(args: argparse.Namespace, device: torch.device, speed: SpeedOptions) -> None:
    """Per image and step, K members together against one single fit (ratio 1.00: no penalty)."""
    layouts = [speed.member_layout(device)] + (["grouped"] if args.grouped else [])
    print("preset  size  K  layout    single_s/it  together_s/it  ratio(wall)  ratio(CPU)")
    for preset in args.presets:
        for size in args.sizes:
            for k in args.members:
                steps = [fitter_step(size, device, speed, 1, preset)]
                steps += [fitter_step(size, device, replace(speed, layout=layout), k, preset)
                          for layout in layouts]
                (single, *together), (single_cpu, *together_cpu) = interleaved(steps, args.steps, device)
                for layout, t, t_cpu in zip(layouts, together, together_cpu, strict=True):
                    print(f"{preset:6s}  {size:4d}  {k}  {layout:8s}  {single:11.3f}  {t:13.3f}  "
                          f"{t / (k * single):11.2f}  {t_cpu / (k * single_cpu):10.2f}", flush=True)
                del steps


def throughput(args: argparse.Namespace) -> None:
    """Images per hour of `dipbatch restore` on 8 images: 1 process × 2 threads against 2 × 1."""
    from PIL import Image

    from dipbatch.physics.synthetic import add_gaussian_noise, scene

    runs = {"sequential, --jobs 1 --threads 2": ["--jobs", "1", "--threads", "2"],
            "--jobs 2 --threads 1": ["--jobs", "2", "--threads", "1"]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images = []
        for i in range(args.images):
            path = folder / f"im{i}.png"
            noisy = add_gaussian_noise(scene(args.size, args.size, 3, seed=i), 25 / 255, seed=i)
            pixels = (np.clip(noisy, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(path)
            images.append(str(path))
        times: dict[str, list[float]] = {name: [] for name in runs}
        dipbatch = str(Path(sys.executable).parent / "dipbatch")
        for repeat in range(args.steps):
            for name, flags in runs.items():
                out = folder / f"out-{repeat}-{len(times[name])}-{flags[1]}"
                start = time.perf_counter()
                subprocess.run([dipbatch, "restore", *images, "-o", f"{out}/",
                                "--preset", "fast", "--iterations", str(args.iterations),
                                "--checkpoint-every", "0", "--quiet", *flags],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - start)
    print(f"{args.images} images of {args.size}², fast, {args.iterations} iterations each; "
          f"median of {args.steps} runs in turns")
    print("run                                 s/run   images/h  ×sequential")
    base = statistics.median(times[next(iter(runs))])
    for name, record in times.items():
        median = statistics.median(record)
        print(f"{name:34s}  {median:6.1f}  {args.images * 3600 / median:9.0f}  {base / median:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--steps", type=int, default=5, help="timed steps (runs, for --throughput)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--members", type=int, nargs="+", help="K: members against K single fits")
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--grouped", action="store_true", help="also time grouped members")
    parser.add_argument("--throughput", action="store_true", help="images/h, --jobs 2 against 1")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="image side for --throughput")
    parser.add_argument("--iterations", type=int, default=1200, help="per image, for --throughput")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    speed = SpeedOptions(precision=args.precision, compile=args.compile,
                         channels_last=True if args.channels_last else None)
    print(f"# {machine_line(device)}; {torch.get_num_threads()} threads, {speed}")
    if args.throughput:
        throughput(args)
    elif args.members:
        members_against_singles(args, device, speed)
    else:
        against_plain(args, device, speed)


if __name__ == "__main__":
    main()
