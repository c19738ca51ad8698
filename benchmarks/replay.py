"""Replay stop rules on recorded trajectories and print the stopping benchmark's tables."""

from __future__ import annotations

import statistics
from dataclasses import replace

import numpy as np
from classical_report import bm3d_baseline
from trajectories import Case, case_floor

from dipbatch.fit.signals import AutoRule, replay
from dipbatch.fit.stopping import StopOptions

CHECK_EVERY = 50  # the fit's check points (Fitter.check_every)


def rules(cap: int) -> dict[str, AutoRule]:
    """The rules compared: the new `auto`, each of its signals alone, and the old plateau rule."""
    _, patience, min_start = StopOptions().resolved(cap)
    auto = AutoRule(patience, min_start)
    return {"auto": auto,
            "discrepancy alone": replace(auto, guard=0.0),
            "plateau + guard": replace(auto, discrepancy=None),
            "plateau (before)": replace(auto, discrepancy=None, guard=float("inf"))}


def evaluate(case: Case, record: dict[str, np.ndarray], rule: AutoRule) -> dict:
    floor = case_floor(case)[1]
    returned, ran, reason = replay(record["variance"], record["fit"], floor, rule, case.cap, CHECK_EVERY)
    return {"psnr": float(record["psnr"][returned - 1]), "returned": returned, "ran": ran,
            "reason": reason.split(":")[0]}


def report(records: dict, case_sets: dict[str, list[Case]], tune: tuple[str, ...], device: str) -> None:
    for name, cases in case_sets.items():
        found = [(c, records[c.key(device)]) for c in cases if c.key(device) in records]
        if not found:
            continue
        cap = found[0][0].cap
        compared = rules(cap)
        for half, keep in (("tuning", True), ("held out", False)):
            rows = [(c, r) for c, r in found if (c.scene in tune) == keep]
            if not rows:
                continue
            print(f"\n### {name}: {half} ({rows[0][0].size} px, `{rows[0][0].preset}`, cap {cap})\n")
            print("| scene | noise | noisy | CBM3D (CPU s) | oracle (it) | " + " | ".join(
                f"{r} (returned / ran)" for r in compared) + " |")
            print("|---|---|---|---|---|" + "---|" * len(compared))
            results = {r: [] for r in compared}
            baselines = []
            for case, rec in rows:
                baseline = bm3d_baseline(case)
                baselines += [baseline] if baseline else []
                peak = int(np.nanargmax(rec["psnr"]))
                oracle = float(rec["psnr"][peak])
                cells = []
                for rname, rule in compared.items():
                    out = evaluate(case, rec, rule)
                    out["gap"] = oracle - out["psnr"]
                    results[rname].append(out)
                    cells.append(f"{out['psnr']:.2f} ({out['returned']} / {out['ran']})")
                cbm3d = f"{baseline[0]:.2f} ({baseline[1]:.1f})" if baseline else "-"
                print(f"| {case.scene} | {case.noise} | {float(rec['noisy_psnr']):.2f} | {cbm3d} | "
                      f"{oracle:.2f} ({peak + 1}) | " + " | ".join(cells) + " |")
            print("\n| rule | mean gap | worst gap | mean iterations run | ran to the cap |")
            print("|---|---|---|---|---|")
            if baselines:
                print(f"\nCBM3D (bm3d_rgb; GAT + BM3D for counts), the classical baseline: mean "
                      f"{statistics.mean(b[0] for b in baselines):.2f} dB at "
                      f"{statistics.mean(b[1] for b in baselines):.1f} CPU s per image; the rules: "
                      + ", ".join(f"{r} {statistics.mean(o['psnr'] for o in outs):.2f} dB"
                                  for r, outs in results.items()) + "\n")
            for rname, outs in results.items():
                gaps = [o["gap"] for o in outs]
                capped = sum(o["reason"] == "cap" for o in outs)
                print(f"| {rname} | {statistics.mean(gaps):.2f} dB | {max(gaps):.2f} dB | "
                      f"{statistics.mean(o['ran'] for o in outs):.0f} of {cap} | {capped} of {len(outs)} |")
