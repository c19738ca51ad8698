"""Deconvolution with a known PSF: dipbatch's `--task deblur` against Richardson–Lucy and Wiener.

    python benchmarks/deconvolution.py record --shard 0/2 &   # fits not yet cached
    python benchmarks/deconvolution.py record --shard 1/2      # (two processes, one thread each)
    python benchmarks/deconvolution.py report                  # baselines, stop replay, tables
    python benchmarks/deconvolution.py record --seeds 1        # a second member of every case
    python benchmarks/deconvolution.py report --members 2      # their mean, each at its own stop
    python benchmarks/deconvolution.py product --scenes stars-b # dipbatch restore on each case's files

Cases: synthetic star fields (sky and stars as in the demo, Poisson noise of 30 and 300 photons at
the peak) and scikit-image photos (Gaussian σ 15/255), each blurred by a Gaussian PSF (FWHM 2 and
4 px), a Moffat (FWHM 3, β 2.5) and a motion streak, as 128² crops (`--size`). The truth is larger
than the observation by the PSF's radius on each side (the "valid" blur that dipbatch fits). TUNE
scenes are for tuning, HELD_OUT ones are reported; MIXED (`--scenes stars-mixed`, a faint field with
three stars ten times brighter, at 300 photons) checks the contrast rule on a frame of both kinds.

`record` fits dipbatch's CPU recipe for deblurring (`fast`; each seed of `--seeds` apart) for
`--cap` iterations (CAP; the product's cap is 3000) and keeps a snapshot of the smoothed estimate
every SNAPSHOT iterations, with the data-fit of each snapshot through the blur (at 128² the photos
are still fitting at 2000: `--cap 3000`, cached apart; `report --cap 3000` takes those records where
they exist, else the 2000 ones). `report` (of the mean of `--members` seeds) replays the automatic
stop's discrepancy signal on those snapshots (the first check point, every 50 iterations, where the
data-fit is down to the threshold × the noise floor that the fit itself estimates: deblurring's
threshold, chosen by the frame's peak contrast as the fit chooses it, or a fixed `--threshold`; the
variance backup and the guard are not replayed), takes dipbatch's oracle (its best snapshot,
chosen with the truth), and runs the baselines: RL (scikit-image) at its oracle iteration (1–200,
chosen with the truth) and at 30 iterations, and unsupervised Wiener. It prints PSNR on the observed
region, and for star fields the total flux and the aperture photometry of isolated stars against the
truth (each image's sky from its own annulus; the truth's sky level beside it), with its noise
limit: the same figure for the sharp scene under the same photon noise, unblurred. `--headroom N`
fits with the estimate allowed N × the observation's peak (deblur's scale on a float frame; 0, the
default here, is the [0,1] scale of an integer frame); each headroom is cached apart."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
import torch
from astropy.io import fits
from machine import machine_line
from photos import photo_crop
from PIL import Image as PILImage
from scipy.signal import convolve
from skimage.restoration import unsupervised_wiener

from dipbatch.fit.loop import Fitter, StatelessObserver
from dipbatch.fit.presets import get_preset
from dipbatch.fit.problem import Problem
from dipbatch.fit.signals import noise_floor
from dipbatch.fit.stopping import noise_terms, threshold_of
from dipbatch.physics import losses
from dipbatch.physics import psf as psfs
from dipbatch.physics.metrics import noise_sigma, psnr
from dipbatch.physics.operators import Blur
from dipbatch.physics.synthetic import add_gaussian_noise, add_poisson_noise, star_field
from dipbatch.tasks.deblur import DEBLUR_DISCREPANCY, DEBLUR_HEADROOM
from dipbatch.tasks.problems import headroom_scale

HERE = Path(__file__).parent
CACHE = HERE / "deconvolution_cache"
SIZE = 128  # the crops; `--size 64` for a reduced run on a small CPU
CAP = 2000
SNAPSHOT = 50
BLURS = ("gauss2", "gauss4", "moffat3", "motion9")
TUNE = ("stars-a", "camera")
HELD_OUT = ("stars-b", "coffee")
MIXED = ("stars-mixed",)  # a check apart from both halves: a faint field with three bright stars
RL_ITERATIONS = 200
SWEEP = (0.9, 0.94, 0.96, 0.97, 0.98, 0.99, 1.0, 1.03)  # fixed thresholds replayed for the table


@dataclass(frozen=True)
class Case:
    scene: str
    blur: str
    noise: str  # "gauss15" or "poisson30" / "poisson300"
    size: int = SIZE
    headroom: float = 0.0  # N × the peak (Task.headroom), 0 the [0,1] scale; not in the name (it seeds noise)
    seed: int = 0  # the generator's seed (an ensemble's member); not in the name either
    cap: int = CAP  # the iterations recorded; another than CAP is cached apart

    @property
    def name(self) -> str:
        return f"{self.scene}-{self.blur}-{self.noise}-{self.size}"

    @property
    def stars(self) -> bool:
        return self.scene.startswith("stars")


NOISES = ("poisson30", "poisson300", "gauss15")


def half_of(case: Case) -> str:
    return "tuning" if case.scene in TUNE else "held out" if case.scene in HELD_OUT else "mixed"


def cases(args: argparse.Namespace) -> list[Case]:
    """The grid (scenes × blurs × their noises), less what `--blurs` and `--noises` leave out."""
    found = []
    for scene in args.scenes:
        noises = {"stars-mixed": ("poisson300",), "stars-a": ("poisson30", "poisson300"),
                  "stars-b": ("poisson30", "poisson300")}.get(scene, ("gauss15",))
        found += [Case(scene, blur, noise, args.size, args.headroom, seed, args.cap) for blur in BLURS
                  for noise in noises for seed in args.seeds if blur in args.blurs and noise in args.noises]
    return found


def kernel_of(blur: str) -> np.ndarray:
    if blur == "motion9":  # a 9-pixel streak at 30 degrees, as a camera shake draws it
        line = np.zeros((9, 9))
        for t in np.linspace(-4, 4, 33):
            line[round(4 - t * np.sin(np.pi / 6)), round(4 + t * np.cos(np.pi / 6))] = 1.0
        return psfs.normalise(line, "motion9")
    spec = {"gauss2": "gaussian:fwhm=2", "gauss4": "gaussian:fwhm=4", "moffat3": "moffat:fwhm=3,beta=2.5"}
    return psfs.parse_model(spec[blur]).kernel


def truth_of(case: Case, radius: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The sharp scene, size + 2·radius wide, on [0,1]; for stars also their centres."""
    side = case.size + 2 * radius
    if not case.stars:
        return photo_crop(case.scene, side), []
    seed = {"stars-a": 7, "stars-b": 8, "stars-mixed": 9}[case.scene]
    field = star_field(side, side, stars=side // 8, background=20, peak=400, seed=seed)
    centres = star_centres(side, side // 8, seed)
    if case.scene == "stars-mixed":  # three stars ten times the brightest of the faint field's
        bright = star_field(side, side, stars=3, background=0, peak=4000, seed=seed + 10)
        field = field + bright * (4000 / bright.max())
        centres += star_centres(side, 3, seed + 10)
    return (field / field.max()).astype(np.float32), centres


def star_centres(side: int, stars: int, seed: int) -> list[tuple[int, int]]:
    """The centres that `star_field(side, side, stars=stars, seed=seed)` drew, to the nearest pixel."""
    rng = np.random.default_rng(seed)  # star_field's draws, in its order: centre, amplitude, width
    centres = []
    for _ in range(stars):
        cy, cx = rng.uniform(0, side), rng.uniform(0, side)
        rng.uniform(0.1, 1.0), rng.uniform(1.0, 2.5)
        centres.append((round(cy), round(cx)))
    return centres


def observe(case: Case, truth: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    blurred = Blur(kernel)(torch.from_numpy(truth)[None])[0].numpy()
    seed = sum(map(ord, case.name)) % 1000
    if case.noise.startswith("gauss"):
        return add_gaussian_noise(blurred, int(case.noise[5:]) / 255, seed=seed)
    peak = float(case.noise[7:])
    return (add_poisson_noise(blurred * peak, seed=seed) / peak).astype(np.float32)


def problem_of(case: Case, observed: np.ndarray, kernel: np.ndarray) -> tuple[Problem, float]:
    """dipbatch's problem and the noise floor it estimates, as `restore` builds them."""
    y = torch.from_numpy(observed)
    scale = headroom_scale(observed, case.headroom, open_range=True) if case.headroom else 1.0  # 0: as before
    if case.noise.startswith("gauss"):
        sigma = noise_sigma(np.clip(observed, 0, 1)) or 0.0
        return Problem(y, Blur(kernel), scale=scale), noise_floor(observed, "gaussian", sigma=sigma)
    gain = float(case.noise[7:])
    datafit = partial(losses.poisson, photometry=losses.Photometry(gain=gain))
    return (Problem(y, Blur(kernel), datafit=datafit, scale=scale),
            noise_floor(observed, "poisson", gain=gain))


class Snapshots(StatelessObserver):
    """The smoothed estimate every SNAPSHOT iterations, and its data-fit through the blur."""

    def __init__(self, problem: Problem) -> None:
        self.problem, self.estimates, self.fits = problem, [], []

    def observe(self, iteration: int, output: torch.Tensor, smoothed: torch.Tensor) -> None:
        if iteration % SNAPSHOT:
            return
        x = smoothed[:1]
        fit = self.problem.datafit(self.problem.operator(x), self.problem.observation[None], None)
        self.estimates.append(x[0].detach().cpu().numpy().copy())
        self.fits.append(float(fit.mean()))


def cache_path(case: Case) -> Path:
    seed = f"-seed{case.seed}" if case.seed else ""
    cap = f"-cap{case.cap}" if case.cap != CAP else ""
    return CACHE / f"headroom{case.headroom:g}" / f"{case.name}{seed}{cap}.npz"


def record_case(case: Case) -> dict[str, np.ndarray]:
    kernel = kernel_of(case.blur)
    truth, _ = truth_of(case, kernel.shape[0] // 2)
    observed = observe(case, truth, kernel)
    problem, floor = problem_of(case, observed, kernel)
    snapshots = Snapshots(problem)
    preset = get_preset("deblur", "fast", iterations=case.cap)
    started = time.process_time()
    Fitter([problem], preset, [case.seed], torch.device("cpu"), iterations=case.cap,
           observers=[snapshots]).run()
    return {"estimates": np.stack(snapshots.estimates).astype(np.float32),
            "fits": np.asarray(snapshots.fits), "floor": np.float64(floor),
            "cpu_s": np.float64(time.process_time() - started)}


def record(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    index, count = (int(v) for v in args.shard.split("/"))
    todo = [c for c in cases(args) if not cache_path(c).exists()]
    for case in todo[index::count]:
        rec = record_case(case)
        cache_path(case).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache_path(case), **rec)
        print(f"{case.name:28s} {float(rec['cpu_s']):6.1f} CPU s", flush=True)


# ----------------------------------------------------------------------------------------- report


def inner(data: np.ndarray, radius: int) -> np.ndarray:
    return data[..., radius:data.shape[-2] - radius, radius:data.shape[-1] - radius]


def auto_stop(fits: np.ndarray, floor: float, threshold: float) -> int:
    """The snapshot where the discrepancy signal fires (the last one if it never does)."""
    below = np.flatnonzero(fits <= threshold * floor)
    return int(below[0]) if below.size else len(fits) - 1


APERTURE, ANNULUS = 4, (6, 9)  # photometry radii (px): the star's aperture, the local sky's annulus


def aperture(data: np.ndarray, centre: tuple[int, int], sky: float | None) -> float:
    """The star's flux: the sum within APERTURE px of `centre`, less the sky level times its area;
    `sky` None takes the sky from the same image, the median in the ANNULUS (as astronomers measure)."""
    yy, xx = np.mgrid[0:data.shape[-2], 0:data.shape[-1]]
    r2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    if sky is None:
        sky = float(np.median(data[0][(r2 >= ANNULUS[0] ** 2) & (r2 <= ANNULUS[1] ** 2)]))
    return float((data[0][r2 <= APERTURE ** 2] - sky).sum())


def photometry_error(estimate: np.ndarray, truth: np.ndarray, centres: list[tuple[int, int]],
                     radius: int, local_sky: bool = True) -> float:
    """The median |relative error| of aperture fluxes of isolated stars well inside the observed
    region (no other star within 10 px), against the truth's; NaN without such stars. Each image's
    sky is its own annulus's (`local_sky`) or the truth's median level for both."""
    sky = None if local_sky else float(np.median(truth))
    errors = [abs(aperture(estimate, c, sky) / aperture(truth, c, sky) - 1)
              for c in isolated_stars(centres, truth.shape[-1], radius)]
    return float(np.median(errors)) if errors else float("nan")


def photometry_limit(case: Case, truth: np.ndarray, centres: list[tuple[int, int]], radius: int) -> float:
    """The same figure for the sharp scene under the same photon noise, with no blur at all: what a
    perfect deconvolution could reach at best (the mean over 20 draws of the noise)."""
    peak = float(case.noise[7:])
    return float(np.mean([photometry_error(add_poisson_noise(truth * peak, seed=s) / peak, truth, centres,
                                           radius) for s in range(20)]))


def isolated_stars(centres: list[tuple[int, int]], side: int, radius: int) -> list[tuple[int, int]]:
    """The stars with no other within 10 px whose annulus lies inside the observed region."""
    return [c for c in centres if all(radius + ANNULUS[1] <= v < side - radius - ANNULUS[1] for v in c)
            and all(c == o or (c[0] - o[0]) ** 2 + (c[1] - o[1]) ** 2 > 100 for o in centres)]


def baselines(observed: np.ndarray, kernel: np.ndarray, truth_in: np.ndarray) -> dict[str, float]:
    """RL at its oracle iteration and at 30, and unsupervised Wiener, per channel, on the
    observation padded by reflection by the PSF's radius (and cropped back), as one deconvolves a
    crop in practice: without it their circular or zero boundaries ring from the edges."""
    r = kernel.shape[0] // 2
    padded = np.pad(np.clip(observed, 0, None), ((0, 0), (r, r), (r, r)), mode="reflect")

    def crop(data: np.ndarray) -> np.ndarray:
        return data[:, r:data.shape[1] - r, r:data.shape[2] - r]

    rl_psnr = []
    estimate = np.full_like(padded, 0.5)  # scikit-image's start, one step at a time
    for _ in range(RL_ITERATIONS):
        estimate = np.stack([rl_step(o, e, kernel) for o, e in zip(padded, estimate, strict=True)])
        rl_psnr.append(psnr(truth_in, crop(estimate)))
    wiener = np.stack([unsupervised_wiener(c, kernel, rng=np.random.default_rng(0))[0] for c in padded])
    best = int(np.argmax(rl_psnr))
    return {"rl_oracle": rl_psnr[best], "rl_oracle_iter": best + 1, "rl_30": rl_psnr[29],
            "wiener": psnr(truth_in, crop(wiener))}


def rl_step(observed: np.ndarray, estimate: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One Richardson–Lucy step as `skimage.restoration.richardson_lucy` computes it ("same"
    convolutions); run one at a time so that every iteration's PSNR is seen."""
    blurred = convolve(estimate, kernel, mode="same")
    ratio = observed / np.maximum(blurred, 1e-12)
    return estimate * convolve(ratio, kernel[::-1, ::-1], mode="same")


def load_members(case: Case, members: int) -> list[dict[str, np.ndarray]] | None:
    """The recorded fits of the case's first `members` seeds at its cap, else at CAP (a report with
    `--cap 3000` takes the longer records where they exist), or None if one is missing."""
    for cap in dict.fromkeys((case.cap, CAP)):
        paths = [cache_path(replace(case, seed=seed, cap=cap)) for seed in range(members)]
        if all(path.exists() for path in paths):
            break
    else:
        return None
    found = []
    for path in paths:
        with np.load(path) as rec:
            found.append({key: rec[key] for key in ("estimates", "fits", "floor", "cpu_s")})
    return found


def ensemble_at(members: list[dict[str, np.ndarray]], threshold: float) -> tuple[np.ndarray, int]:
    """The mean of the members' estimates, each at its own automatic stop, and the last stop."""
    stops = [auto_stop(m["fits"], float(m["floor"]), threshold) for m in members]
    return np.mean([m["estimates"][stop] for m, stop in zip(members, stops, strict=True)], axis=0), max(stops)


def report(args: argparse.Namespace) -> None:
    print(f"Machine: {machine_line()}; {args.members} member(s) a case")
    rows = []
    for case in cases(args):
        members = load_members(case, args.members)
        if members is None:
            print(f"{case.name}: not recorded ({args.members} members)")
            continue
        kernel = kernel_of(case.blur)
        radius = kernel.shape[0] // 2
        truth, centres = truth_of(case, radius)
        observed = observe(case, truth, kernel)
        truth_in = inner(truth, radius)
        trajectory = np.mean([m["estimates"] for m in members], axis=0)  # the members' mean, each snapshot
        scores = [psnr(truth_in, inner(e, radius)) for e in trajectory]
        problem = problem_of(case, observed, kernel)[0]
        threshold, contrast = threshold_of(noise_terms(problem), DEBLUR_DISCREPANCY)  # as the fit picks it
        threshold = args.threshold or threshold
        auto, stop = ensemble_at(members, threshold)
        row = {"case": case.name, "half": half_of(case), "observed": psnr(truth_in, observed),
               "threshold": threshold, "contrast": contrast,
               "sweep": {t: psnr(truth_in, inner(ensemble_at(members, t)[0], radius)) for t in SWEEP},
               "auto": psnr(truth_in, inner(auto, radius)), "auto_iter": (stop + 1) * SNAPSHOT,
               "oracle": max(scores), "oracle_iter": (int(np.argmax(scores)) + 1) * SNAPSHOT,
               "cpu_s": sum(float(m["cpu_s"]) for m in members), **baselines(observed, kernel, truth_in)}
        if case.stars:
            row["flux"] = float(inner(auto, radius).sum() / truth_in.sum() - 1)
            row["photometry"] = photometry_error(auto, truth, centres, radius)
            row["photometry_true_sky"] = photometry_error(auto, truth, centres, radius, local_sky=False)
            row["stars"] = len(isolated_stars(centres, truth.shape[-1], radius))
            row["photometry_limit"] = photometry_limit(case, truth, centres, radius)
        rows.append(row)
        print(_line(row), flush=True)
    for half in ("tuning", "held out", "mixed"):
        chosen = [r for r in rows if r["half"] == half]
        if chosen:
            keys = ("auto", "oracle", "rl_oracle", "rl_30", "wiener", "observed")
            mean = {k: float(np.mean([r[k] for r in chosen])) for k in keys}
            gap = [r["oracle"] - r["auto"] for r in chosen]
            over_rl = [r["auto"] - r["rl_oracle"] for r in chosen]
            sweep = ", ".join(f"{t:g}: {np.mean([r['oracle'] - r['sweep'][t] for r in chosen]):.2f} "
                              f"(worst {max(r['oracle'] - r['sweep'][t] for r in chosen):.2f})"
                              for t in SWEEP)
            print(f"{half}: oracle − auto by fixed threshold {sweep}")
            print(f"{half}: {len(chosen)} cases; mean PSNR auto "
                  f"{mean['auto']:.2f}, oracle {mean['oracle']:.2f}, RL oracle {mean['rl_oracle']:.2f}, "
                  f"RL 30 {mean['rl_30']:.2f}, Wiener {mean['wiener']:.2f}, observed "
                  f"{mean['observed']:.2f}; auto − RL oracle "
                  f"{np.mean(over_rl):+.2f} dB (worst {min(over_rl):+.2f}); oracle − auto "
                  f"{np.mean(gap):.2f} dB (worst {max(gap):.2f})")


def _line(row: dict) -> str:
    stars = (f" flux {row['flux']:+.2%} phot {row['photometry']:.1%} (true sky "
             f"{row['photometry_true_sky']:.1%}, {row['stars']} stars; noise limit "
             f"{row['photometry_limit']:.1%})" if "flux" in row else "")
    return (f"{row['case']:28s} obs {row['observed']:5.2f} contrast {row['contrast']:4.1f} auto "
            f"{row['auto']:5.2f}@{row['auto_iter']:4d} (×{row['threshold']:.2f}) "
            f"oracle {row['oracle']:5.2f}@{row['oracle_iter']:4d} RLo {row['rl_oracle']:5.2f}"
            f"@{row['rl_oracle_iter']:3d} RL30 {row['rl_30']:5.2f} Wiener {row['wiener']:5.2f} "
            f"{row['cpu_s']:5.0f} CPU s{stars}")


def product(args: argparse.Namespace) -> None:
    """The product end to end on each case: the observation written as the file a user has (a 16-bit
    TIFF of photon counts, `--noise poisson --gain 1`; an 8-bit PNG for a photo), the PSF as a FITS
    file, and `dipbatch restore --task deblur` with every default (`fast`, two members, the automatic
    stop with its variance backup and cap extension; a 16-bit frame's estimate reaches 4× its
    brightest count): its PSNR against the truth, its stops and its CPU seconds."""
    print(f"Machine: {machine_line()}; dipbatch restore, its defaults, one thread")
    index, count = (int(v) for v in args.shard.split("/"))
    for case in cases(args)[index::count]:
        kernel = kernel_of(case.blur)
        radius = kernel.shape[0] // 2
        truth, _ = truth_of(case, radius)
        observed = observe(case, truth, kernel)
        with tempfile.TemporaryDirectory() as tmp:
            frame, psf, out = Path(tmp, "frame.tif"), Path(tmp, "psf.fits"), Path(tmp, "sharp.tif")
            if case.stars:
                unit, extra = float(case.noise[7:]), ["--noise", "poisson", "--gain", "1"]
                tifffile.imwrite(frame, np.rint(observed[0] * unit).astype(np.uint16))
            else:
                frame, out, unit, extra = frame.with_suffix(".png"), out.with_suffix(".png"), 255.0, []
                PILImage.fromarray(np.rint(observed[0] * 255).astype(np.uint8)).save(frame)
            fits.PrimaryHDU(kernel.astype(np.float32)).writeto(psf)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            command = [shutil.which("dipbatch") or "dipbatch", "restore", str(frame), "-o", str(out),
                       "--task", "deblur", "--psf", str(psf), "--threads", "1", "--quiet", *extra]
            done = subprocess.run(command, capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode:
                print(f"{case.name}: failed: {done.stderr.strip()}", flush=True)
                continue
            estimate = (tifffile.imread(out) if case.stars else np.asarray(PILImage.open(out))) / unit
            record = json.loads(Path(f"{out}.json").read_text())
        members = record.get("ensemble", {})
        settings = record.get("stop_settings", {})
        reasons = [r.split(":")[1].strip() if ":" in r else r for r in members.get("stop_reasons", [])]
        iterations = members.get("stop_iterations", [])
        stops = ", ".join(f"{i}: {r}" for i, r in zip(iterations, reasons, strict=False))
        print(f"{case.name:34s} obs {psnr(inner(truth, radius), observed):5.2f} product "
              f"{psnr(inner(truth, radius), estimate[None].astype(np.float32)):5.2f} contrast "
              f"{settings.get('contrast') or 0:4.1f} (×{settings.get('discrepancy')}) stops [{stops}] "
              f"{after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime:5.0f} CPU s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="fit the cases not yet cached")
    rec.add_argument("--shard", default="0/1", help="i/n: this process's share of the cases")
    rec.add_argument("--seeds", type=int, nargs="+", default=[0], help="the generator seeds to fit")
    run = sub.add_parser("product", help="dipbatch restore itself on each case's files")
    run.add_argument("--shard", default="0/1", help="i/n: this process's share of the cases")
    run.set_defaults(seeds=[0], cap=CAP)
    rep = sub.add_parser("report", help="baselines, the stop's replay and the tables")
    rep.set_defaults(seeds=[0])  # a report's cases are seed 0's; `--members` adds the others
    rep.add_argument("--threshold", type=float, default=None,
                     help="a fixed discrepancy threshold (default: deblurring's, by the frame's contrast)")
    rep.add_argument("--members", type=int, default=1,
                     help="average seeds 0..K-1, each at its own automatic stop (an ensemble)")
    for each in (rec, rep, run):
        each.add_argument("--size", type=int, default=SIZE)
        each.add_argument("--blurs", nargs="+", default=list(BLURS), choices=BLURS)
        each.add_argument("--noises", nargs="+", default=list(NOISES), choices=NOISES)
        each.add_argument("--scenes", nargs="+", default=list(TUNE + HELD_OUT),
                          choices=TUNE + HELD_OUT + MIXED)
        each.add_argument("--headroom", type=float, default=0.0,
                          help=f"the estimate's reach: N × the observation's peak (a float frame: "
                          f"{DEBLUR_HEADROOM:g}), or 0, the [0,1] scale (an integer frame); cached apart")
        each.add_argument("--cap", type=int, default=CAP,
                          help="iterations to record (the product's `fast` cap is 3000); cached apart")
    args = parser.parse_args()
    {"record": record, "report": report, "product": product}[args.command](args)


if __name__ == "__main__":
    main()
