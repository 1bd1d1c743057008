"""Speed and accuracy of the virtual-trial path (issue 6). Not a test: prints measured numbers.

    .venv/bin/python benchmarks/trial.py [--quick]

- exposure table: build time with the PK engine, and the interpolation error of 5-FU (saturable) at the
  dose midpoints of the default grid, against the engine;
- a trial run (``examples/seed_study.toml``): replicates x patients per second, fast and outcomes paths;
- the calibration objective: seconds per evaluation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from isoperf.trial import interpolation_error, patient_noise, run_trial, setup_trial, simulate_batch
from isoperf.trial._exposure import _protocol, _tumour_auc, patient_for_bsa

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer replicates")
    args = ap.parse_args()
    reps = 20 if args.quick else 200

    t = time.perf_counter()
    setup = setup_trial(ROOT / "examples" / "seed_study.toml")
    print(f"setup (exposure tables with the PK engine): {time.perf_counter() - t:.1f} s")
    arm = setup.arms[0]
    proc = {"type": "ilp", **(setup.spec.arms[0].ilp or {})}
    for tf in (0.05, 0.6):
        e = interpolation_error(arm.ilp_table, proc, arm.doses, "fluorouracil", tumour_fraction=tf, bsa=1.9)
        print(f"5-FU ILP tumour AUC interpolation, tumour fraction {tf}: max rel. error "
              f"{e['max_relative_error']:.2e}, mean {e['mean_relative_error']:.2e} ({e['points']} midpoints)")
    e = interpolation_error(arm.ilp_table, proc, arm.doses, "mitomycin_c", tumour_fraction=0.3, bsa=1.9)
    print(f"mitomycin C (linear) interpolation: max rel. error {e['max_relative_error']:.2e}")
    # linear interpolation between tumour fractions, and the body-size effect the table leaves out
    for drug, dose in (("fluorouracil", 1250.0), ("mitomycin_c", 50.0)):
        for tf in (0.175, 0.45):
            ds = [{"drug": drug, "amount": f"{dose} mg", "over": "5 min"}]
            truth = _tumour_auc(_protocol(proc, ds, patient_for_bsa(1.9), tf))[drug]
            approx = float(arm.ilp_table(drug, np.array(dose), np.array(tf), np.array(1.9)))
            print(f"{drug} {dose:g} mg, tumour fraction {tf}: rel. error {abs(approx - truth) / truth:.2e}")
        for b in (1.775, 2.025):
            truth = _tumour_auc(_protocol(proc, ds, patient_for_bsa(b), 0.3))[drug]
            approx = float(arm.ilp_table(drug, np.array(dose), np.array(0.3), np.array(b)))
            print(f"{drug} {dose:g} mg, BSA {b} m2 (between grid points): rel. error {abs(approx - truth) / truth:.2e}")
        lo = _tumour_auc(_protocol(proc, ds, patient_for_bsa(1.4), 0.3))[drug]
        hi = _tumour_auc(_protocol(proc, ds, patient_for_bsa(2.4), 0.3))[drug]
        print(f"{drug}: tumour AUC at BSA 1.4 vs 2.4 m2 differs by {abs(hi - lo) / lo:.1%} (why BSA is an axis)")

    for analysis in ("fast", "outcomes"):
        t = time.perf_counter()
        run_trial(setup, replicates=reps, seed=1, analysis=analysis)
        dt = time.perf_counter() - t
        print(f"trial, {analysis} analysis: {reps} replicates x {setup.patients} patients in {dt:.2f} s "
              f"({reps * setup.patients / dt:,.0f} virtual patients/s)")

    noise = np.concatenate([patient_noise(1, r, setup.patients) for r in range(100)])
    t = time.perf_counter()
    for _ in range(10):
        simulate_batch(setup, noise)
    print(f"calibration evaluation (100 replicates x {setup.patients} patients): "
          f"{(time.perf_counter() - t) / 10 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
