"""Denoising quality at σ=25: noisy input, dipbatch's `paper` and `fast` presets, and scikit-image's
TV (Chambolle) and non-local means, on crops of scikit-image's photos. Prints PSNR and wall time.

    python benchmarks/denoise_quality.py --size 128 --photos astronaut coffee chelsea camera
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from photos import photo_crop
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma

from dipbatch.physics.metrics import psnr
from dipbatch.physics.synthetic import add_gaussian_noise
from dipbatch.run.restore import restore_array


def hwc(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 0, -1)


def methods(args: argparse.Namespace) -> dict:
    def dip(preset: str):
        return lambda noisy: restore_array(noisy, preset=preset, iterations=args.cap.get(preset),
                                           device="cpu").estimate

    def tv(noisy):
        return np.moveaxis(denoise_tv_chambolle(hwc(noisy), weight=0.08, channel_axis=-1), -1, 0)

    def nlm(noisy):
        sigma = float(np.mean(estimate_sigma(hwc(noisy), channel_axis=-1)))
        out = denoise_nl_means(hwc(noisy), h=0.8 * sigma, sigma=sigma, fast_mode=True,
                               patch_size=5, patch_distance=6, channel_axis=-1)
        return np.moveaxis(out, -1, 0)

    table = {"noisy": lambda noisy: noisy, "tv_chambolle": tv, "nl_means": nlm, "dip fast": dip("fast")}
    if not args.skip_paper:
        table["dip paper"] = dip("paper")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--photos", nargs="+", default=["astronaut", "coffee", "chelsea", "camera"])
    parser.add_argument("--paper-cap", type=int, default=None, help="iteration cap of `paper`")
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()
    args.cap = {"paper": args.paper_cap}
    scores: dict[str, list[tuple[float, float]]] = {}
    for name in args.photos:
        clean = photo_crop(name, args.size)
        noisy = add_gaussian_noise(clean, 25 / 255, seed=0)
        for method, run in methods(args).items():
            start = time.perf_counter()
            estimate = run(noisy)
            seconds = time.perf_counter() - start
            scores.setdefault(method, []).append((psnr(clean, estimate), seconds))
            print(f"{name:12s} {method:12s} {psnr(clean, estimate):6.2f} dB {seconds:8.1f} s", flush=True)
    print("\n| method | mean PSNR (dB) | mean wall time (s) |\n|---|---|---|")
    for method, values in scores.items():
        print(f"| {method} | {statistics.mean(v[0] for v in values):.2f} | "
              f"{statistics.mean(v[1] for v in values):.1f} |")


if __name__ == "__main__":
    main()
