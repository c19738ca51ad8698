"""Iterations per second and peak memory of one fit step (forward, backward, Adam) of the paper's net.

Compares dipbatch's Fitter with the reference: a plain fp32 eager loop over the same net, the paper's
way (NCHW, no autocast, no compile), measured in the same process. Prints the ratio per size.

    python benchmarks/speed.py --sizes 128 256 512 --steps 5 [--device cuda] [--compile]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

from dipbatch.fit import Fitter, Problem
from dipbatch.nets import build_generator
from dipbatch.presets import get_preset
from dipbatch.speed import SpeedOptions


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_loop(size: int, steps: int, device: torch.device) -> float:
    """The reference: the original notebook's step, without its per-step PSNR and CPU copies."""
    net = build_generator(get_preset("denoise", "paper").net, 32, 3, [0]).to(device)
    z = torch.rand(1, 32, size, size, device=device) * 0.1
    y = torch.rand(1, 3, size, size, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(z + torch.randn_like(z) / 30), y)
        loss.backward()
        opt.step()

    return timed(step, steps, device)


def fitter_loop(size: int, steps: int, device: torch.device, speed: SpeedOptions,
                members: int = 1) -> float:
    preset = get_preset("denoise", "paper")
    problems = [Problem(torch.rand(3, size, size)) for _ in range(members)]
    fitter = Fitter(problems, preset, [0] * members, device, iterations=10_000, speed=speed)
    return timed(fitter.step, steps, device)


def timed(step, steps: int, device: torch.device) -> float:
    """Seconds per step, after warm-up steps (cuDNN autotuning, compilation)."""
    for _ in range(2):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


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
        plain = plain_loop(size, args.steps, device)
        ours = fitter_loop(size, args.steps, device, speed, args.members)
        print(f"{size:4d}  {plain:10.3f}  {ours:13.3f}  {plain / ours * args.members:5.2f}  "
              f"{args.members / ours:18.2f}  {peak_mb(device):7.0f}", flush=True)


if __name__ == "__main__":
    main()
