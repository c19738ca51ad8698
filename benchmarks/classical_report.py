"""The tables of `classical.py report`: baselines, levers and the fusion's weights, tuned and held out."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from importlib.util import find_spec

import numpy as np
from classical import CACHE, TUNE_SCENES, cases, member_path
from machine import machine_line
from skimage.restoration import denoise_wavelet
from trajectories import NOISES, Case, clean_image, noisy_image, problem_for

from dipbatch.fit.declip import declip
from dipbatch.fit.dipsure import member_sigma
from dipbatch.fit.fusion import RECIPES, FusionOptions, NoiseDomain, fuse, noise_domain
from dipbatch.fit.loop import FitResult
from dipbatch.fit.presets import get_preset
from dipbatch.physics.classical import blend, dct_threshold, disagreement, nl_means, wiener
from dipbatch.physics.metrics import psnr

WEIGHTS = np.round(np.arange(0.0, 1.01, 0.05), 2)  # the fit's share, on the tuning half
REFINE_WEIGHTS = np.round(np.arange(0.3, 1.01, 0.1), 1)  # the same, for the Wiener filter's pilot
REFINED = ("nlm h=0.7", "dct", "bm3d")  # the partners whose blends are refined
STRENGTHS = (0.5, 0.6, 0.7, 0.8, 1.0)  # NL-means h / σ
DEFAULT = "the default's fusion"  # dipbatch's own `fuse` (--fusion auto, the estimated σ), then `declip`
BY_NLM = "dipbatch --fusion nl-means"  # the same with NL-means alone (the default before nl-means+dct)
BY_BM3D = "dipbatch --fusion bm3d"  # the same fused with CBM3D (the bench extra), then declipped
UNDECLIPPED = "the default's fusion, not declipped"  # --declip off
BM3D_DECLIPPED = "bm3d declipped"  # CBM3D, then Foi's inverse of the clipped mean (true σ)


def wavelet(noisy: np.ndarray, sigma: float) -> np.ndarray:
    hwc = np.moveaxis(noisy, 0, -1)
    out = denoise_wavelet(hwc, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True,
                          convert2ycbcr=hwc.shape[-1] == 3, channel_axis=-1)
    return np.moveaxis(out.reshape(hwc.shape), -1, 0)


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    from dipbatch.physics.classical import bm3d
    return bm3d(noisy, sigma)


def bm3d_baseline(case: Case) -> tuple[float, float] | None:
    """CBM3D's PSNR and CPU seconds on a case (GAT + BM3D for counts), cached; None without the
    `bm3d` package (the bench extra), for the stopping and frontier benchmarks' baseline."""
    if find_spec("bm3d") is None:
        return None
    clean = clean_image(case.scene, case.size)
    estimate, seconds = classical_estimate("bm3d", cbm3d, case, noisy_image(case, clean))
    return psnr(clean, estimate), seconds


def domain_of(case: Case, noisy: np.ndarray) -> NoiseDomain:
    sigma = int(case.noise[5:]) / 255 if case.gaussian else None  # BM3D is given the true σ, as usual
    domain = noise_domain(problem_for(case, noisy), sigma)
    assert not isinstance(domain, str), domain
    return domain


def classical_estimate(name: str, run: Callable[[np.ndarray, float], np.ndarray], case: Case,
                       noisy: np.ndarray) -> tuple[np.ndarray, float]:
    """A classical denoiser's estimate in [0,1] (through the Anscombe domain for counts), cached with
    its CPU seconds."""
    path = CACHE / f"{case.scene}-{case.noise}-{case.size}-{name}.npz"
    CACHE.mkdir(exist_ok=True)
    if path.exists():
        cached = np.load(path)
        return cached["estimate"], float(cached["cpu_s"])
    domain = domain_of(case, noisy)
    started = time.process_time()
    estimate = domain.inverse(run(domain.forward(noisy), domain.sigma)).astype(np.float32)
    seconds = time.process_time() - started
    np.savez_compressed(path, estimate=estimate, cpu_s=np.float64(seconds))
    return estimate, seconds


def case_rows(case: Case, have_bm3d: bool, members: int) -> dict[str, tuple[float, float]] | None:
    """Method -> (PSNR, CPU seconds) for one case: the fit, the classical denoisers, and every lever
    over the weight grid (a blend with a partner, and the blend refined by the Wiener filter); the
    fit is the mean of `members` members (seeds 0, 1, …)."""
    paths = [member_path(case, s) for s in range(members)]
    if not all(p.exists() for p in paths):
        return None
    clean = clean_image(case.scene, case.size)
    noisy = noisy_image(case, clean)
    fits = [np.load(p) for p in paths]
    dip = np.mean([m["estimate"] for m in fits], axis=0)
    dip_s = sum(float(m["cpu_s"]) for m in fits)
    rows = {"noisy": (psnr(clean, noisy), 0.0), "dip K=1": (psnr(clean, fits[0]["estimate"]),
                                                             float(fits[0]["cpu_s"])),
            f"dip K={members}": (psnr(clean, dip), dip_s)}
    partners = {f"nlm h={h}": (lambda y, s, h=h: nl_means(y, s, h)) for h in STRENGTHS}
    partners["wavelet"] = wavelet
    partners["dct"] = dct_threshold
    if have_bm3d:
        partners["bm3d"] = cbm3d
    domain = domain_of(case, noisy)
    observed = domain.forward(noisy)
    started = time.process_time()
    rows["wiener(dip)"] = (psnr(clean, refine(domain, observed, dip)), dip_s)
    wiener_s = time.process_time() - started
    for name, run in partners.items():
        estimate, seconds = classical_estimate(name, run, case, noisy)
        rows[name] = (psnr(clean, estimate), seconds)
        for w in WEIGHTS:
            rows[f"dip+{name} w={w}"] = (psnr(clean, blend(dip, estimate, w)), dip_s + seconds)
        if name in REFINED:
            for w in REFINE_WEIGHTS:
                pilot = blend(dip, estimate, w)
                refined = refine(domain, observed, pilot)
                rows[f"wiener(dip+{name} w={w})"] = (psnr(clean, refined), dip_s + seconds + wiener_s)
                rows[f"mean(wiener, dip+{name} w={w})"] = (psnr(clean, (refined + pilot) / 2),
                                                          dip_s + seconds + wiener_s)
        rows[f"disagreement {name}"] = (disagreement(domain.forward(dip), domain.forward(estimate),
                                                     domain.sigma), 0.0)
    fit = FitResult(dip, 0, 0, "", 0.0, [], 0, {"dip_sure": {}} if has_dip_sure(case, noisy) else {})
    problem = problem_for(case, noisy)
    for row, method in ((DEFAULT, "auto"), (BY_NLM, "nl-means"), *([(BY_BM3D, "bm3d")] if have_bm3d else [])):
        started = time.process_time()  # CPU seconds, as the members' (the sidecar's `seconds` is wall time)
        fused = fuse(fit, problem, FusionOptions(fusion=method))
        if method == "auto":
            rows[UNDECLIPPED] = (psnr(clean, fused.estimate), dip_s + time.process_time() - started)
        fused = declip(fused, problem, "auto")
        rows[row] = (psnr(clean, fused.estimate), dip_s + time.process_time() - started)
    rows[f"dip K={members} declipped"] = (psnr(clean, declip(fit, problem, "auto").estimate), dip_s)
    if have_bm3d:  # Foi's recipe: BM3D, then the inverse of the clipped mean, with BM3D's true σ
        estimate, seconds = classical_estimate("bm3d", cbm3d, case, noisy)
        sigma = domain_of(case, noisy).sigma
        declipped = declip(replace(fit, estimate=estimate), problem, "auto", sigma).estimate
        rows[BM3D_DECLIPPED] = (psnr(clean, declipped), seconds)
    return rows


def has_dip_sure(case: Case, noisy: np.ndarray) -> bool:
    """Whether the case's recorded ensemble had DIP-SURE members (`record --ensemble 2`, low noise)."""
    return case.preset.startswith("fast-k") and member_sigma(
        "auto", get_preset("denoise", "fast"), problem_for(case, noisy), 2, "auto") is not None


def refine(domain: NoiseDomain, observed: np.ndarray, pilot: np.ndarray) -> np.ndarray:
    """The empirical Wiener filter of the observation with `pilot` as its signal estimate."""
    return domain.inverse(wiener(observed, domain.forward(pilot), domain.sigma))


def mean_of(rows: list[dict[str, tuple[float, float]]], method: str, index: int = 0) -> float:
    return statistics.mean(r[method][index] for r in rows)


def best_weight(rows: list[dict[str, tuple[float, float]]], lever: str, grid: np.ndarray) -> float:
    """The weight of `lever` (a name with `{w}` for the weight) of best mean PSNR over `rows`."""
    return float(max(grid, key=lambda w: mean_of(rows, lever.format(w=w))))


LEVERS = {  # name: (row name with {w}, weight grid)
    **{f"dip+{p}": (f"dip+{p} w={{w}}", WEIGHTS)
       for p in (*(f"nlm h={h}" for h in STRENGTHS), "wavelet", "dct")},
    "dip+bm3d": ("dip+bm3d w={w}", WEIGHTS),
    "wiener(dip+nlm)": ("wiener(dip+nlm h=0.7 w={w})", REFINE_WEIGHTS),
    "wiener(dip+bm3d)": ("wiener(dip+bm3d w={w})", REFINE_WEIGHTS),
    "mean(wiener, dip+nlm)": ("mean(wiener, dip+nlm h=0.7 w={w})", REFINE_WEIGHTS),
    "mean(wiener, dip+dct)": ("mean(wiener, dip+dct w={w})", REFINE_WEIGHTS),
}


def report(size: int, members: int, recipe: str = "fast") -> None:
    have_bm3d = find_spec("bm3d") is not None
    results = {c: case_rows(c, have_bm3d, members) for c in cases(size, recipe)}
    done = {c: r for c, r in results.items() if r is not None}
    missing = [f"{c.scene}/{c.noise}" for c, r in results.items() if r is None]
    print(machine_line())
    print(f"recipe {recipe}, {members} member(s); cases: {len(done)} of {len(results)} recorded"
          + (f"; missing {', '.join(missing)}" if missing else ""))
    levers = {k: v for k, v in LEVERS.items() if have_bm3d or "bm3d" not in k}
    tuning = {c: done[c] if c in done else case_rows(c, have_bm3d, members)  # 128 px, whatever `size`
              for c in cases(128, recipe) if c.scene in TUNE_SCENES}
    print("\n## The weight (the fit's share) chosen on the tuning half (128 px), per noise\n")
    print("| lever | " + " | ".join(NOISES) + " |\n|---|" + "---|" * len(NOISES))
    chosen: dict[tuple[str, str], float] = {}
    for lever, (row, grid) in levers.items():
        for noise in NOISES:
            tune = [r for c, r in tuning.items() if r is not None and c.noise == noise]
            chosen[lever, noise] = best_weight(tune, row, grid) if tune else float("nan")
        print(f"| {lever} | " + " | ".join(f"{chosen[lever, n]:.2f}" for n in NOISES) + " |")
    print(f"\n(dipbatch's recipes: {RECIPES})")
    base = "bm3d" if have_bm3d else "nlm h=0.7"
    print(f"\n## Held-out scenes: mean PSNR (dB), Δ to {base}, worst case Δ, CPU s per crop\n")
    print(f"| method | noise | mean PSNR | Δ {base} | worst Δ | CPU s |\n|---|---|---|---|---|---|")
    for noise in NOISES:
        held = [r for c, r in done.items() if c.noise == noise and c.scene not in TUNE_SCENES]
        if not held:
            continue
        methods = ["noisy", "dip K=1", f"dip K={members}", "wiener(dip)", "nlm h=0.7", "wavelet", "dct"]
        methods += ["bm3d", BM3D_DECLIPPED] if have_bm3d else []
        methods += [row.format(w=chosen[lever, noise]) for lever, (row, _) in levers.items()]
        methods += [f"dip K={members} declipped", UNDECLIPPED]
        methods += [BY_NLM, *([BY_BM3D] if have_bm3d else []), DEFAULT]  # the default, and the others
        for method in dict.fromkeys(methods):
            gaps = [r[method][0] - r[base][0] for r in held]
            print(f"| {method} | {noise} | {mean_of(held, method):.2f} | {statistics.mean(gaps):+.2f} | "
                  f"{min(gaps):+.2f} | {mean_of(held, method, 1):.1f} |")
    print(f"\n## dipbatch's fusion on both halves: mean Δ to {base} (worst case)\n")
    print("| method | noise | tuning | held out |\n|---|---|---|---|")
    for noise in NOISES:
        for method in (UNDECLIPPED, BY_NLM, DEFAULT, *([BY_BM3D, BM3D_DECLIPPED] if have_bm3d else [])):
            halves = [[r[method][0] - r[base][0] for c, r in done.items() if c.noise == noise
                       and (c.scene in TUNE_SCENES) == tuned] for tuned in (True, False)]
            if all(halves):
                print(f"| {method} | {noise} | " + " | ".join(f"{statistics.mean(h):+.2f} ({min(h):+.2f})"
                                                              for h in halves) + " |")
    print("\n## Disagreement between DIP and the classical estimate (RMS / σ), all cases\n")
    for partner in ("nlm h=0.7", "dct", "bm3d" if have_bm3d else "wavelet"):
        values = [r[f"disagreement {partner}"][0] for r in done.values()]
        print(f"{partner}: median {statistics.median(values):.2f}, max {max(values):.2f}")
