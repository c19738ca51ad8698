"""Task quality on crops of scikit-image's photos, each against a classical baseline run in the same go:
SR ×4 against bicubic upscaling, inpainting of 50 % dropped pixels against scikit-image's
inpaint_biharmonic, and the Deep Decoder against the skip net on σ=25 denoising. Prints PSNR (RGB,
peak 1) and wall time, and the gain over each baseline.

    python benchmarks/tasks_quality.py --size 64 --photos astronaut coffee --preset fast
    python benchmarks/tasks_quality.py --size 256 --preset paper     # the paper's recipes (GPU)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from machine import machine_line
from photos import photo_crop
from PIL import Image
from skimage.restoration import inpaint_biharmonic

from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise
from dipbatch.run.restore import restore_array


def resized(x: np.ndarray, size: int, method: Image.Resampling) -> np.ndarray:
    """Resize each channel of C×H×W floats with Pillow (the paper made its LR inputs this way)."""
    planes = [np.asarray(Image.fromarray(p, mode="F").resize((size, size), method)) for p in x]
    return np.clip(np.stack(planes), 0.0, 1.0).astype(np.float32)


def dropped(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 1×H×W mask keeping half the pixels, independently (the paper's barbara restoration)."""
    return (np.random.default_rng(seed).random((1, *clean.shape[1:])) >= 0.5).astype(np.float32)


Case = Callable[[np.ndarray, argparse.Namespace], dict[str, tuple[np.ndarray, float]]]


def timed(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = run()
    return out, time.perf_counter() - start


def super_resolution(clean: np.ndarray, args: argparse.Namespace) -> dict[str, tuple[np.ndarray, float]]:
    low = resized(clean, clean.shape[-1] // 4, Image.Resampling.LANCZOS)
    return {
        "bicubic": timed(lambda: resized(low, clean.shape[-1], Image.Resampling.BICUBIC)),
        "dip sr x4": timed(lambda: restore_array(low, task="sr", factor=4, preset=args.preset,
                                                 iterations=args.iterations, device=args.device).estimate),
    }


def inpainting(clean: np.ndarray, args: argparse.Namespace) -> dict[str, tuple[np.ndarray, float]]:
    mask = dropped(clean)
    observed = clean * mask
    holes = np.broadcast_to(mask == 0, clean.shape)

    def biharmonic() -> np.ndarray:
        out = inpaint_biharmonic(np.moveaxis(observed, 0, -1), mask[0] == 0, channel_axis=-1)
        return np.moveaxis(out, -1, 0).astype(np.float32)

    def dip() -> np.ndarray:
        fit = restore_array(observed, task="inpaint", mask=mask, preset=args.preset,
                            iterations=args.iterations, device=args.device).estimate
        return np.where(holes, fit, observed)  # as `dipbatch restore` writes it: known pixels kept

    return {"biharmonic": timed(biharmonic), "dip inpaint": timed(dip)}


def decoder_vs_skip(clean: np.ndarray, args: argparse.Namespace) -> dict[str, tuple[np.ndarray, float]]:
    noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
    return {net: timed(lambda net=net: restore_array(noisy, net=net, preset=args.preset,
                                                    iterations=args.iterations, device=args.device).estimate)
            for net in ("skip", "deep-decoder")}


CASES: dict[str, Case] = {"SR x4": super_resolution, "inpainting, 50 % missing": inpainting,
                          "denoising σ=25": decoder_vs_skip}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="side of the (high-resolution) crops")
    parser.add_argument("--photos", nargs="+", default=["astronaut", "coffee"])
    parser.add_argument("--preset", default="fast", choices=["paper", "fast", "tiny"])
    parser.add_argument("--iterations", type=int, default=None, help="override every preset's count")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"crops {args.size}², photos {', '.join(args.photos)}, preset {args.preset}, "
          f"iterations: {args.iterations or 'the preset'}, {args.threads} thread(s); "
          f"{machine_line(args.device)}")
    rows = []
    for case, run in CASES.items():
        scores: dict[str, list[tuple[float, float]]] = {}
        for name in args.photos:
            clean = photo_crop(name, args.size)
            for method, (estimate, seconds) in run(clean, args).items():
                scores.setdefault(method, []).append((psnr(clean, estimate), seconds))
                print(f"{case:26s} {name:10s} {method:14s} {psnr(clean, estimate):6.2f} dB {seconds:7.1f} s",
                      flush=True)
        (baseline, base), *others = scores.items()
        base_db = statistics.mean(v[0] for v in base)
        for method, values in [(baseline, base), *others]:
            db = statistics.mean(v[0] for v in values)
            rows.append(f"| {case} | {method} | {db:.2f} | {db - base_db:+.2f} | "
                        f"{statistics.mean(v[1] for v in values):.1f} |")
    print("\n| case | method | mean PSNR dB | Δ vs the case's baseline (first row) | mean wall s |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
