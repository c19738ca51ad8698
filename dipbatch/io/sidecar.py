"""The JSON sidecar written beside every output: what was done, how, and how it went.

One typed record, tagged with its format (`dipbatch-sidecar-1`), written and read here only; a
sidecar without the tag (an older dipbatch's) or with another one is refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, TypedDict

from dipbatch.errors import DipbatchError

FORMAT = "dipbatch-sidecar-1"


class EnsembleRecord(TypedDict):
    """A seed ensemble (`ensemble` K > 1): its members, whose mean is the output, and their spread."""

    members: int
    seeds: list[int]
    stop_iterations: list[int]
    stop_reasons: list[str]
    spread: float  # the per-pixel std across members, averaged over the image, on the [0,1] scale
    spread_stored: float  # the same in the image's stored units


class FusionRecord(TypedDict, total=False):
    """Denoising's blend with a classical estimate (dipbatch.fit.fusion), or why there was none."""

    method: str  # "nl-means", "nl-means+dct", "bm3d"; "off" with a reason where it could not be fused
    chosen: str  # "auto" where `--fusion auto` chose the method for the image's noise
    reason: str
    weight: float  # the fit's share of the blend
    domain: str  # where the classical denoiser ran: "gaussian", or the Anscombe domain of "poisson"...
    sigma: float  # the noise σ there (1 in the Anscombe domain)
    refined: str  # the empirical Wiener filter (its patch sides) that the blend was the pilot of
    disagreement: float  # the RMS difference of the fit's and the classical estimate, in units of σ
    disagrees: bool  # far more than the benchmark saw: at least one of them is wrong
    seconds: float


class DeclipRecord(TypedDict, total=False):
    """Denoising's last step where the noise was clipped at the range's ends (dipbatch.fit.declip)."""

    applied: bool
    reason: str  # why not, where not applied
    clipped_low: float  # the fraction of the observation's samples at 0
    clipped_high: float  # and at the top of the range
    sigma: float  # the noise's σ before the clip, on the [0,1] scale
    sigma_from: str  # "given" (--sigma) or "censored likelihood"
    mean_shift: float  # the mean change of the estimate, on the [0,1] scale
    seconds: float


class DipSureRecord(TypedDict):
    """An ensemble's DIP-SURE members (dipbatch.fit.dipsure): which, and how they were fitted."""

    members: list[int]  # their indices in the ensemble's seeds and stops
    sigma: float  # the Gaussian σ of their SURE loss, on the [0,1] scale
    iterations: int  # their fixed budget
    tau: float  # the divergence's finite-difference step
    input: str
    loss: str


class Sidecar(TypedDict, total=False):
    """The record of one restored image (the fit's own curves and choices are added to it)."""

    format: str
    dipbatch_version: str
    input: str
    input_sha256: str
    output: str
    task: str
    preset: str
    params: dict[str, Any]  # every option that decided the result, and the preset verbatim
    seed: int
    device: str
    batch_size: int
    iterations: int
    stop_iteration: int
    stop_reason: str  # in words
    stop_kind: str  # "signal", "cap" or "fixed" (dipbatch.fit.signals.STOP_KINDS)
    stop_signal: str  # the signal that fired: "discrepancy", "variance plateau", "SURE", ...
    stop_rule: str
    wall_time_s: float
    final_loss: float
    guard_restores: int
    loss_curve: list[tuple[int, float]]
    sigma_input: float | None
    sigma_output: float | None
    ensemble: EnsembleRecord  # only when K > 1; the stop and curves above are then member 0's
    fusion: FusionRecord  # denoising: the output is the fit's estimate blended with a classical one
    dip_sure: DipSureRecord  # denoising at low noise: the ensemble's DIP-SURE members
    declip: DeclipRecord  # denoising: the estimate's clipped-noise bias undone, or why not
    psf: dict[str, Any]  # deblurring: the PSF's source, size, FWHM (px) and SHA-256 of its kernel
    # The fit's own curves and choices (dipbatch.fit: the loop, the stopping rule, the recorders),
    # which the report plots; each only where it applies.
    member_layout: str  # "grouped" or "separate": how several members were computed
    noise_floor: float  # the data-fit the truth would have (`--stop auto`, where the noise is known)
    datafit_curve: list[list[float]]  # [iteration, data-fit of the smoothed estimate], subsampled
    datafit_ratio: float | None  # the returned estimate's data-fit over the noise floor
    stop_curve: list[list[float]]  # [iteration, the rule's criterion] (windowed variance, SURE)
    stop_curve_name: str
    stop_settings: dict[str, Any]  # the rule's settings (patience, warm-up, window, thresholds)
    cap_extended: dict[str, int]  # from, to, limit: the cap grew while the data-fit was far off
    spectral: dict[str, Any]  # band_edges, iterations, energy: the spectral trajectory
    cutoff_frequency: float | None  # the first band reproduced below half its power, at the stop
    tiling: dict[str, Any]  # a frame fitted in tiles: the plan, batches resumed, overlap disagreement
    astro: dict[str, Any]  # the stretch and the samples protected, bad or blank (astronomy)
    resumed_from_iteration: int  # the fit resumed from its checkpoint
    init_weights: str  # a warm start's weights
    sure_sigma: float  # SURE's σ in stored units, and whether it was given or estimated
    sure_sigma_source: str


def sidecar_path(output: str | Path) -> Path:
    return Path(f"{output}.json")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_bytes(record: Sidecar | dict[str, Any]) -> bytes:
    """The record as strict JSON with the format tag first (NaN and infinities become null)."""
    tagged = {"format": FORMAT, **{k: v for k, v in record.items() if k != "format"}}
    return (json.dumps(_strict(tagged), indent=2, allow_nan=False) + "\n").encode()


def read_sidecar(output: str | Path) -> Sidecar:
    """The sidecar of OUTPUT; a missing, unreadable or untagged one raises a DipbatchError naming it."""
    path = sidecar_path(output)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DipbatchError(path, f"cannot read the sidecar ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise DipbatchError(path, f"unreadable sidecar ({exc})") from None
    found = record.get("format") if isinstance(record, dict) else None
    if found != FORMAT:
        what = f"format {found!r}" if found else "no format tag (an older dipbatch's)"
        raise DipbatchError(path, f"not a {FORMAT} sidecar: it has {what}; restore the image again")
    return record


def _strict(value: Any) -> Any:
    """`value` with plain JSON types only: arrays as lists, paths as text, non-finite floats as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")



def stop_kind(record: Sidecar | dict[str, Any]) -> str:
    """How the fit ended (`stop_kind`: signal, cap or fixed). A record written before the field
    existed has only its reason, whose first word is the kind ("cap: ...", "fixed: ...")."""
    if "stop_kind" in record:
        return str(record["stop_kind"])
    first = str(record.get("stop_reason", "")).partition(":")[0]
    return first if first in ("cap", "fixed") else "signal"
