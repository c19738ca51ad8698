"""The stopping benchmark's trajectory cache: a cached case is reused, and a rerun reproduces it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from trajectories import Case, load_cache, record_batch, record_cases


def test_a_rerun_reproduces_the_cached_record(tmp_path: Path) -> None:
    cases = [Case("astronaut", "gauss25", size=32, preset="tiny", cap=40),
             Case("astronaut", "poisson30", size=32, preset="tiny", cap=40)]
    cache = tmp_path / "cache.npz"
    first = record_cases(cases, cache)
    assert set(first) == {c.key("cpu") for c in cases}
    assert set(load_cache([cache])) == set(first)
    gauss = first[cases[0].key("cpu")]
    assert np.isfinite(gauss["psnr"]).all() and np.isfinite(gauss["divergence"][1:]).all()
    assert np.isnan(first[cases[1].key("cpu")]["divergence"]).all()  # no SURE twin for photons
    again = record_batch(cases)
    for key, record in first.items():
        for field in ("psnr", "loss", "fit", "variance", "divergence"):
            np.testing.assert_array_equal(again[key][field], record[field], err_msg=f"{key} {field}")
    assert Case("astronaut", "gauss25", size=32, preset="tiny", cap=41).key("cpu") not in first
    assert Case("astronaut", "gauss25", size=32, preset="tiny", cap=40).key("cuda") not in first


def test_a_record_without_twins_is_keyed_apart_and_fits_the_same(tmp_path: Path) -> None:
    case = Case("astronaut", "gauss25", size=32, preset="tiny", cap=40)
    with_twin = record_batch([case])[case.key("cpu")]
    alone = record_cases([case], tmp_path / "cache.npz", twins=False)
    assert set(alone) == {case.key("cpu", twins=False)} != {case.key("cpu")}
    record = alone[case.key("cpu", twins=False)]
    assert np.isnan(record["divergence"]).all() and int(record["members"]) == 1
    np.testing.assert_array_equal(record["psnr"], with_twin["psnr"])  # members fit apart on a CPU
