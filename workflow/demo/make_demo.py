"""Make the workflow's demo inputs, reproducibly (fixed seeds, no downloads).

    python workflow/demo/make_demo.py          # rewrites the files beside this script

- photo/astronaut.png        noisy 8-bit RGB photo (scikit-image's bundled astronaut), 96×96
- astro/stars.tif            16-bit star field with Poisson noise, 96×96
- sequence/clip/frame_N.png  5 noisy 8-bit frames of a slow pan over scikit-image's camera, 64×64
- inpaint/chelsea.png        8-bit RGB photo with 40 % of its pixels lost (set to 0), 64×64, and
  inpaint/chelsea_mask.png   its mask: white = known pixel
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from skimage import data
from skimage.transform import resize

from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, star_field

HERE = Path(__file__).resolve().parent
SIGMA = 25 / 255


def _small(image: np.ndarray, size: int) -> np.ndarray:
    """HWC or HW uint8 → float32 in [0,1] at size×size."""
    out = resize(image.astype(np.float32) / 255.0, (size, size), anti_aliasing=True)
    return out.astype(np.float32)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _save_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, optimize=True)


def photo() -> None:
    clean = _small(data.astronaut(), 96)
    _save_png(HERE / "photo" / "astronaut.png", _to_u8(add_gaussian_noise(clean, SIGMA, seed=1)))


def astro() -> None:
    counts = add_poisson_noise(star_field(96, 96, stars=14, seed=2), seed=3)[0]
    frame = np.clip(np.round(counts * 100.0), 0, 65535).astype(np.uint16)
    path = HERE / "astro" / "stars.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, frame, photometric="minisblack")


def sequence(frames: int = 5, size: int = 64) -> None:
    camera = data.camera()  # 512×512 gray
    base = _small(camera[96:352, 128:384], 128)
    for i in range(frames):
        crop = base[20:20 + size, 16 + 3 * i:16 + 3 * i + size]
        noisy = add_gaussian_noise(crop, SIGMA, seed=10 + i)
        _save_png(HERE / "sequence" / "clip" / f"frame_{i + 1}.png", _to_u8(noisy))


def inpaint(size: int = 64, lost: float = 0.4) -> None:
    clean = _small(data.chelsea(), size)
    known = np.random.default_rng(4).random((size, size)) >= lost
    observed = np.where(known[..., None], clean, 0.0)
    _save_png(HERE / "inpaint" / "chelsea.png", _to_u8(observed))
    _save_png(HERE / "inpaint" / "chelsea_mask.png", np.where(known, 255, 0).astype(np.uint8))


def main() -> None:
    photo()
    astro()
    sequence()
    inpaint()


if __name__ == "__main__":
    main()
