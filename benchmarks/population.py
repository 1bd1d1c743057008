"""Population throughput benchmark on the reference ILP model (../shared/bench/reference_model.md).

Run on demand (not part of ``make test``)::

    .venv/bin/python benchmarks/population.py            # full run (a few minutes)
    .venv/bin/python benchmarks/population.py --quick    # < 1 min
    .venv/bin/python benchmarks/population.py --format json
    .venv/bin/python benchmarks/population.py --million  # 1,000,000 patients of variant A, metrics only

For variants A (linear hepatic clearance) and B (Michaelis-Menten) it measures, in the same run, patients/s of

* isoperf, batched: the population drawn as the reference defines it (``default_rng(12345)``), pushed through
  the ordinary protocol builder (``examples/reference_model*.toml`` + IIV factors) and the batched solvers, in
  chunks with a reused curve buffer; "curves" = concentrations of circuit, liver, tumour, systemic on the
  1-min grid (N x 4 x 1441 float64) plus all metrics; "metrics" = the per-patient metrics only;
* scipy ``solve_ivp`` LSODA, one patient at a time (rtol 1e-8, atol 1e-10, the reference settings);
* libRoadRunner (CVODE) on the SBML of the same model (``reference_sbml.py``), one instance reused. It is
  installed only for the benchmark: if ``import roadrunner`` fails, ``pip install libroadrunner`` is tried
  once; if that fails too the engine is skipped with a message.

and checks that AUC_tum and AUC_sys agree between the engines (relative difference < 1e-4 on the patients
both computed). Ratios are against scipy LSODA measured in the same run (the machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

OMEGA = math.sqrt(math.log(1 + 0.3**2))
COLUMNS = ("Q_ha", "Q_pv", "CL_int", "CL_sys", "V_sys", "Q_leak")
#: reference column -> isoperf IIV target
TARGET = {"Q_ha": "hepatic_artery_flow", "Q_pv": "portal_vein_flow", "CL_int": "hepatic_intrinsic_clearance",
          "CL_sys": "extrahepatic_clearance", "V_sys": "central_volume", "Q_leak": "leak"}
GRID = np.arange(1441, dtype=float)


def population(n: int) -> np.ndarray:
    """The reference population's z (N, 6); patient i's parameters: typical * exp(omega * z[i, k])."""
    return np.random.default_rng(12345).standard_normal((n, 6))


# --- isoperf --------------------------------------------------------------------------------------

class IsoperfRunner:
    def __init__(self, variant: str, chunk: int, saturable: str = "exponential") -> None:
        import isoperf
        from isoperf.population import Sample, build_batch, solve_drug

        self.Sample, self.build_batch, self.solve_drug = Sample, build_batch, solve_drug
        path = ROOT / "examples" / ("reference_model.toml" if variant == "A" else "reference_model_mm.toml")
        self.plan = isoperf.build_plan(isoperf.load_protocol(path))
        self.variant = variant
        self.chunk = chunk
        self.saturable = saturable  # kernel for the saturable segments (variant B): "exponential" or "dp5"
        self.solver = ""
        self.buf = np.ones((chunk, 4, self.plan.grid.size))  # pre-filled: no fresh-page writes while timed
        self.work: dict = {}  # assembly buffers, reused between chunks
        assert np.array_equal(self.plan.grid, GRID)

    def run(self, z: np.ndarray, curves: bool, keep_auc: int = 0) -> tuple[float, np.ndarray]:
        """Seconds for all patients of ``z`` and (AUC_tum, AUC_sys) of the first ``keep_auc``."""
        n = z.shape[0]
        aucs = []
        t0 = time.perf_counter()
        for a in range(0, n, self.chunk):
            b = min(a + self.chunk, n)
            factors = {TARGET[c]: np.exp(OMEGA * z[a:b, k]) for k, c in enumerate(COLUMNS)
                       if not (self.variant == "B" and c == "CL_int")}  # drawn, not used, in B
            sample = self.Sample(np.arange(a, b), {}, factors)
            models, _, _ = self.build_batch(self.plan, sample)
            model = models["reference_drug"]
            out = self.solve_drug(model, self.plan.grid, b - a, curves=self.buf[: b - a] if curves else None,
                                  work=self.work, saturable=self.saturable)
            self.solver = out.solver
            if a < keep_auc:
                lay = out.layout
                aucs.append(out.final[:, [lay.auc["tumour"], lay.auc["systemic"]]].copy())
        dt = time.perf_counter() - t0
        auc = np.concatenate(aucs)[:keep_auc] if aucs else np.zeros((0, 2))
        return dt, auc


# --- scipy LSODA ----------------------------------------------------------------------------------

def _theta(z_row: np.ndarray) -> dict[str, float]:
    from reference_sbml import TYPICAL

    th = dict(TYPICAL)
    for k, c in enumerate(COLUMNS):
        th[c] = TYPICAL[c] * math.exp(OMEGA * z_row[k])
    return th


def scipy_patient(th: dict[str, float], variant: str) -> tuple[np.ndarray, float, float]:
    from scipy.integrate import solve_ivp

    v_c, v_l, v_t, v_s, v_p = th["V_circ"], th["V_liv"] * th["Kp_liv"], th["V_tum"] * th["Kp_tum"], th["V_sys"], \
        th["V_per"]
    f, q_ha, q_pv, q_h = th["f_tum"], th["Q_ha"], th["Q_pv"], th["Q_h"]
    cl_int, cl_sys, q_per, q_leak, vmax, km = th["CL_int"], th["CL_sys"], th["Q_per"], th["Q_leak"], th["Vmax"], \
        th["Km"]

    def rhs(_t: float, y: np.ndarray, p: float) -> list[float]:
        c_c, c_l, c_t, c_s, c_p = y[0] / v_c, y[1] / v_l, y[2] / v_t, y[3] / v_s, y[4] / v_p
        qcl, qct, ql = p * ((1 - f) * q_ha + q_pv), p * f * q_ha, p * q_leak
        qsl, qst = (1 - p) * q_h, (1 - p) * f * 0.25 * q_h
        e = cl_int * c_l if variant == "A" else vmax * c_l / (km + c_l)
        return [qcl * (c_l - c_c) + qct * (c_t - c_c) - ql * (c_c - c_s),
                qcl * (c_c - c_l) + qsl * (c_s - c_l) - e,
                qct * (c_c - c_t) + qst * (c_s - c_t),
                ql * (c_c - c_s) - qsl * (c_s - c_l) - qst * (c_s - c_t) - cl_sys * c_s - q_per * (c_s - c_p),
                q_per * (c_s - c_p), e + cl_sys * c_s, 0.0, c_t, c_s]

    y0 = np.zeros(9)
    y0[0] = 1000.0
    s1 = solve_ivp(rhs, (0, 60), y0, method="LSODA", t_eval=GRID[:61], rtol=1e-8, atol=1e-10, args=(1.0,))
    y1 = s1.y[:, -1].copy()
    y1[6] += y1[0]
    y1[0] = 0.0
    s2 = solve_ivp(rhs, (60, 1440), y1, method="LSODA", t_eval=GRID[61:], rtol=1e-8, atol=1e-10, args=(0.0,))
    y = np.hstack([s1.y, s2.y])
    vols = np.array([v_c, v_l, v_t, v_s])
    curves = y[:4] / vols[:, None]
    return curves, float(s2.y[7, -1]), float(s2.y[8, -1])


def run_scipy(z: np.ndarray, variant: str) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    aucs = [scipy_patient(_theta(row), variant)[1:] for row in z]
    return time.perf_counter() - t0, np.array(aucs)


# --- libRoadRunner --------------------------------------------------------------------------------

def roadrunner_module(allow_install: bool) -> object | None:
    try:
        import roadrunner

        return roadrunner
    except ImportError:
        if not allow_install:
            return None
    print("benchmark: libroadrunner not installed; trying `pip install libroadrunner` (benchmark only)",
          file=sys.stderr)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "libroadrunner"], capture_output=True)
    if r.returncode != 0:
        return None
    try:
        import roadrunner

        return roadrunner
    except ImportError:
        return None


class RoadRunnerRunner:
    """One RoadRunner instance, reused: per patient ``resetAll`` (parameters back to typical), set the six
    varied parameters, simulate 0..1440 min on 1441 points."""

    def __init__(self, rr_mod: object, variant: str) -> None:
        from reference_sbml import sbml

        self.rr = rr_mod.RoadRunner(sbml(variant))  # type: ignore[attr-defined]
        self.rr.integrator.relative_tolerance = 1e-8
        self.rr.integrator.absolute_tolerance = 1e-10
        self.rr.timeCourseSelections = ["time", "A_circ", "A_liv", "A_tum", "A_sys", "AUC_tum", "AUC_sys"]

    def run(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        rr = self.rr
        aucs = []
        t0 = time.perf_counter()
        for row in z:
            rr.resetAll()
            for k, c in enumerate(COLUMNS):
                rr[c] = rr[c] * math.exp(OMEGA * row[k])
            res = rr.simulate(0, 1440, 1441)
            aucs.append((res[-1, 5], res[-1, 6]))
        return time.perf_counter() - t0, np.array(aucs)


# --- driver ---------------------------------------------------------------------------------------

def _rel(a: np.ndarray, b: np.ndarray) -> float:
    m = min(len(a), len(b))
    return float(np.max(np.abs(a[:m] - b[:m]) / np.abs(b[:m]))) if m else float("nan")


def _median_time(fn, reps: int) -> tuple[float, object]:  # noqa: ANN001
    best = []
    extra = None
    for _ in range(reps):
        dt, extra = fn()
        best.append(dt)
    return float(np.median(best)), extra


def bench_variant(variant: str, cfg: dict, rr_mod: object | None, log) -> dict:  # noqa: ANN001
    """Interleaved repetitions (isoperf curves, isoperf metrics, scipy, roadrunner), so that every engine sees
    the same machine load; medians of patients/s and of the per-repetition ratios are reported."""
    n_iso = cfg["n_iso_A"] if variant == "A" else cfg["n_iso_B"]
    z = population(max(n_iso, cfg["n_scipy"], cfg["n_rr"]))
    runner = IsoperfRunner(variant, cfg["chunk"])
    t0 = time.perf_counter()
    runner.run(z[:64], curves=True)  # compile (first run ever) or load the cached numba kernels
    runner.run(z[:64], curves=False)
    compile_s = time.perf_counter() - t0
    old = None
    if variant == "B":  # the explicit Dormand-Prince 5(4) kernel throughout, in the same run (cross-check)
        old = IsoperfRunner(variant, cfg["chunk"], saturable="dp5")
        old.run(z[:64], curves=True)
        old.run(z[:64], curves=False)
    run_scipy(z[:2], variant)  # imports and first-call costs out of the timed region
    rr = None
    if rr_mod is not None:
        rr = RoadRunnerRunner(rr_mod, variant)
        rr.run(z[:2])
    k = cfg["n_check"]
    rates: dict[str, list[float]] = {"curves": [], "metrics": [], "scipy": [], "rr": [], "dp5_curves": [],
                                     "dp5_metrics": []}
    cpu: dict[str, list[float]] = {"curves": [], "metrics": [], "scipy": [], "dp5_curves": [], "dp5_metrics": []}
    auc_iso = auc_sp = auc_rr = None
    for rep in range(cfg["reps"]):
        c0 = time.process_time()
        dt, auc_iso = runner.run(z[:n_iso], curves=True, keep_auc=k)
        cpu["curves"].append((time.process_time() - c0) / n_iso)
        rates["curves"].append(n_iso / dt)
        c0 = time.process_time()
        dt, _ = runner.run(z[:n_iso], curves=False)
        cpu["metrics"].append((time.process_time() - c0) / n_iso)
        rates["metrics"].append(n_iso / dt)
        c0 = time.process_time()
        dt, auc_sp = run_scipy(z[: cfg["n_scipy"]], variant)
        cpu["scipy"].append((time.process_time() - c0) / cfg["n_scipy"])
        rates["scipy"].append(cfg["n_scipy"] / dt)
        if old is not None:
            for what, crv in (("dp5_curves", True), ("dp5_metrics", False)):
                c0 = time.process_time()
                dt, _ = old.run(z[:n_iso], curves=crv)
                cpu[what].append((time.process_time() - c0) / n_iso)
                rates[what].append(n_iso / dt)
        if rr is not None:
            dt, auc_rr = rr.run(z[: cfg["n_rr"]])
            rates["rr"].append(cfg["n_rr"] / dt)
        log(f"variant {variant} rep {rep}: " + ", ".join(f"{e} {v[-1]:,.0f}/s" for e, v in rates.items() if v))
    med = {e: float(np.median(v)) for e, v in rates.items() if v}

    def ratio(a: str, b: str) -> float:
        return float(np.median(np.array(rates[a]) / np.array(rates[b])))

    out: dict = {
        "isoperf": {"patients": n_iso, "patients_per_s": med["curves"], "patients_per_s_curves": med["curves"],
                    "patients_per_s_metrics_only": med["metrics"], "numba_load_or_compile_s": compile_s,
                    # process CPU time (all threads) per patient: insensitive to other load on the machine
                    "cpu_us_per_patient_curves": float(np.median(cpu["curves"])) * 1e6,
                    "cpu_us_per_patient_metrics_only": float(np.median(cpu["metrics"])) * 1e6,
                    "solver": runner.solver},
        "scipy_lsoda": {"patients": cfg["n_scipy"], "patients_per_s": med["scipy"],
                        "cpu_us_per_patient": float(np.median(cpu["scipy"])) * 1e6},
    }
    agree = {"isoperf_vs_scipy_lsoda": _rel(auc_iso, auc_sp)}
    ratios = {"isoperf_curves_vs_scipy_lsoda": ratio("curves", "scipy"),
              "isoperf_metrics_only_vs_scipy_lsoda": ratio("metrics", "scipy"),
              # the same ratios in CPU time (isoperf's threads summed; scipy is single-threaded)
              "cpu_isoperf_curves_vs_scipy_lsoda": float(np.median(np.array(cpu["scipy"]) / np.array(cpu["curves"]))),
              "cpu_isoperf_metrics_only_vs_scipy_lsoda": float(
                  np.median(np.array(cpu["scipy"]) / np.array(cpu["metrics"])))}
    if rr is not None:
        out["roadrunner"] = {"patients": cfg["n_rr"], "patients_per_s": med["rr"],
                             "version": getattr(rr_mod, "__version__", "?")}
        agree["isoperf_vs_roadrunner"] = _rel(auc_iso, auc_rr)
        agree["roadrunner_vs_scipy_lsoda"] = _rel(auc_rr, auc_sp)
        ratios.update({"isoperf_curves_vs_roadrunner": ratio("curves", "rr"),
                       "isoperf_metrics_only_vs_roadrunner": ratio("metrics", "rr"),
                       "roadrunner_vs_scipy_lsoda": ratio("rr", "scipy")})
    else:
        out["roadrunner"] = {"skipped": "libroadrunner is not installed and could not be installed"}
    if old is not None:
        out["isoperf_dp5"] = {
            "patients": n_iso, "solver": old.solver, "patients_per_s_curves": med["dp5_curves"],
            "patients_per_s_metrics_only": med["dp5_metrics"],
            "cpu_us_per_patient_curves": float(np.median(cpu["dp5_curves"])) * 1e6,
            "cpu_us_per_patient_metrics_only": float(np.median(cpu["dp5_metrics"])) * 1e6}
        ratios.update({"isoperf_dp5_curves_vs_scipy_lsoda": ratio("dp5_curves", "scipy"),
                       "isoperf_curves_vs_isoperf_dp5_curves": ratio("curves", "dp5_curves"),
                       "isoperf_metrics_only_vs_isoperf_dp5_metrics_only": ratio("metrics", "dp5_metrics")})
    out["ratios"] = ratios
    out["auc_max_relative_difference"] = agree
    out["agree_1e-4"] = bool(all(v < 1e-4 for v in agree.values()))
    return out


def single_patient_ms(reps: int = 20) -> float:
    import isoperf

    path = ROOT / "examples" / "reference_model.toml"
    isoperf.simulate(path)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        isoperf.simulate(path)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3


def million(n: int, chunk: int, log) -> dict:  # noqa: ANN001
    """``n`` patients of variant A in metrics-only mode through ``simulate_population`` (bounded memory)."""
    import resource

    from isoperf.population import simulate_population

    pop = {"seed": 1, "iiv": {TARGET[c]: {"cv": 0.3} for c in COLUMNS}}
    simulate_population(ROOT / "examples" / "reference_model.toml", pop, n=1000, chunk=chunk)  # warm-up
    t0 = time.perf_counter()
    res = simulate_population(ROOT / "examples" / "reference_model.toml", pop, n=n, chunk=chunk,
                              progress=lambda d, t: log(f"{d}/{t}") if d % (chunk * 50) == 0 else None)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"patients": n, "seconds": dt, "patients_per_s": n / dt, "peak_rss_MiB": rss,
            "table_MiB": float(res.table.memory_usage(deep=True).sum() / 2**20),
            "auc_tumour_median": float(res.table["reference_drug.auc.tumour"].median())}


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_GiB"] = round(int(mem) / 2**20, 1)
    except OSError:
        pass
    import numba
    import scipy

    info.update({"numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
                 "numba_threads": numba.get_num_threads()})
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, finishes within a minute")
    ap.add_argument("--format", choices=["text", "json"], default="text")
    ap.add_argument("--variants", default="A,B")
    ap.add_argument("--no-roadrunner", action="store_true", help="skip libRoadRunner (and its installation)")
    ap.add_argument("--million", action="store_true", help="1,000,000 patients of A, metrics only, then exit")
    ap.add_argument("--n", type=int, default=None, help="patients for --million (default 1,000,000)")
    args = ap.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr)) if args.format == "json" or args.million else print
    if args.million:
        res = million(args.n or 1_000_000, 8192, log)
        print(json.dumps({"million_metrics_only": res, "machine": machine()}, indent=1))
        return 0
    cfg = ({"n_iso_A": 100_000, "n_iso_B": 2_000, "n_scipy": 12, "n_rr": 40, "n_check": 12, "reps": 1,
            "chunk": 4096} if args.quick else
           {"n_iso_A": 500_000, "n_iso_B": 20_000, "n_scipy": 60, "n_rr": 300, "n_check": 60, "reps": 3,
            "chunk": 4096})
    rr_mod = None if args.no_roadrunner else roadrunner_module(allow_install=True)
    if rr_mod is None and not args.no_roadrunner:
        log("benchmark: libRoadRunner unavailable; its entries are skipped")
    result = {"machine": machine(), "config": cfg,
              "variants": {v: bench_variant(v, cfg, rr_mod, log) for v in args.variants.split(",")}}
    result["single_patient_simulate_ms"] = single_patient_ms(5 if args.quick else 20)
    if args.format == "json":
        print(json.dumps(result, indent=1))
    else:
        for v, r in result["variants"].items():
            print(f"\nvariant {v}")
            for eng in ("isoperf", "scipy_lsoda", "roadrunner"):
                print(f"  {eng:12s} {json.dumps(r[eng])}")
            print(f"  ratios       {json.dumps({k: round(x, 1) for k, x in r['ratios'].items()})}")
            print(f"  AUC agreement {json.dumps(r['auc_max_relative_difference'])} (< 1e-4: {r['agree_1e-4']})")
        print(f"\nsingle patient through isoperf.simulate: {result['single_patient_simulate_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
