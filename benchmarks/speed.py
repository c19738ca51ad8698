"""Iterations per second and peak memory of one fit step (forward, backward, Adam) of the paper's net.

Compares dipbatch's Fitter with the reference: a plain fp32 eager loop over the same net, the paper's
way (NCHW, no autocast, no compile), measured in the same process. Prints the ratio per size.

    python benchmarks/speed.py --sizes 128 256 512 --steps 5 [--device cuda] [--compile]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from collections.abc import Callable

import torch

from dipbatch.fit import Fitter, Problem
from dipbatch.nets import build_generator
from dipbatch.nets.pointwise import PointwiseConv
from dipbatch.presets import get_preset
from dipbatch.speed import SpeedOptions


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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


def fitter_step(size: int, device: torch.device, speed: SpeedOptions,
                members: int = 1) -> Callable[[], object]:
    preset = get_preset("denoise", "paper")
    problems = [Problem(torch.rand(3, size, size)) for _ in range(members)]
    return Fitter(problems, preset, [0] * members, device, iterations=10_000, speed=speed).step


def interleaved(steps: list[Callable[[], object]], repeats: int,
                device: torch.device) -> list[float]:
    """Median seconds per call of each step, timed in turns so that a slow spell of a shared
    machine hits them alike; after two warm-up calls each (cuDNN autotuning, compilation)."""
    for step in steps:
        for _ in range(2):
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, record in zip(steps, times, strict=True):
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            record.append(time.perf_counter() - start)
    return [statistics.median(record) for record in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--members", type=int, default=1, help="images fitted together")
    args = parser.parse_args()
    device = torch.device(args.device)
    speed = SpeedOptions(precision=args.precision, compile=args.compile,
                         channels_last=True if args.channels_last else None)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}, {speed}")
    print("size  plain_s/it  dipbatch_s/it  ratio  images/s(dipbatch)  peak_MB")
    for size in args.sizes:
        plain, ours = interleaved([plain_step(size, device),
                                   fitter_step(size, device, speed, args.members)], args.steps, device)
        print(f"{size:4d}  {plain:10.3f}  {ours:13.3f}  {plain / ours * args.members:5.2f}  "
              f"{args.members / ours:18.2f}  {peak_mb(device):7.0f}", flush=True)


if __name__ == "__main__":
    main()
