"""An independent solution of shared/bench/reference_model.md, written from that page alone.

It shares no code with isoperf: the right-hand side is typed in from the page's equations and solved
with scipy's LSODA (a different method from isoperf's Radau and matrix exponential) at rtol 1e-10, with
the washout applied by restarting the integration at t = 60 from the modified state.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

TYP = dict(V_circ=1.5, V_liv=1.5, V_tum=0.2, V_sys=15.0, V_per=30.0, Q_ha=0.3, Q_pv=0.5, f_tum=0.1, Kp_liv=1.0,
           Kp_tum=1.0, CL_int=0.6, CL_sys=0.8, Q_per=1.0, Q_leak=0.01, Q_h=1.5, Vmax=60.0, Km=20.0, dose=1000.0)


def rhs(p: float, th: dict[str, float], variant: str):  # noqa: ANN201
    def f(_t: float, a: np.ndarray) -> np.ndarray:
        a_circ, a_liv, a_tum, a_sys, a_per = a[:5]
        c_circ = a_circ / th["V_circ"]
        c_liv = a_liv / (th["V_liv"] * th["Kp_liv"])
        c_tum = a_tum / (th["V_tum"] * th["Kp_tum"])
        c_sys = a_sys / th["V_sys"]
        c_per = a_per / th["V_per"]
        qc_liv = p * ((1 - th["f_tum"]) * th["Q_ha"] + th["Q_pv"])
        qc_tum = p * th["f_tum"] * th["Q_ha"]
        qleak = p * th["Q_leak"]
        qs_liv = (1 - p) * th["Q_h"]
        qs_tum = (1 - p) * th["f_tum"] * 0.25 * th["Q_h"]
        e_hep = th["CL_int"] * c_liv if variant == "A" else th["Vmax"] * c_liv / (th["Km"] + c_liv)
        d = np.zeros(10)
        d[0] = qc_liv * (c_liv - c_circ) + qc_tum * (c_tum - c_circ) - qleak * (c_circ - c_sys)
        d[1] = qc_liv * (c_circ - c_liv) + qs_liv * (c_sys - c_liv) - e_hep
        d[2] = qc_tum * (c_circ - c_tum) + qs_tum * (c_sys - c_tum)
        d[3] = (qleak * (c_circ - c_sys) - qs_liv * (c_sys - c_liv) - qs_tum * (c_sys - c_tum)
                - th["CL_sys"] * c_sys - th["Q_per"] * (c_sys - c_per))
        d[4] = th["Q_per"] * (c_sys - c_per)
        d[5] = e_hep + th["CL_sys"] * c_sys  # A_elim
        d[6] = 0.0  # A_wash
        d[7] = c_tum  # AUC_tum
        d[8] = c_sys  # AUC_sys
        d[9] = c_liv  # AUC_liv (added here to compare the liver AUC too)
        return d

    return f


def solve_reference(variant: str, th: dict[str, float] | None = None, rtol: float = 1e-10) -> dict[str, float]:
    th = {**TYP, **(th or {})}
    y0 = np.zeros(10)
    y0[0] = th["dose"]
    leak_net = 0.0
    s1 = solve_ivp(rhs(1.0, th, variant), (0, 60), y0, method="LSODA", rtol=rtol, atol=1e-12, dense_output=True)
    # net leak circuit -> body during perfusion, from the dense solution (quadrature on a fine grid)
    tt = np.linspace(0, 60, 60001)
    yy = s1.sol(tt)
    leak_rate = th["Q_leak"] * (yy[0] / th["V_circ"] - yy[3] / th["V_sys"])
    leak_net = float(np.trapz(leak_rate, tt)) if hasattr(np, "trapz") else float(np.trapezoid(leak_rate, tt))
    y60 = s1.y[:, -1].copy()
    y60[6] += y60[0]
    y60[0] = 0.0
    s2 = solve_ivp(rhs(0.0, th, variant), (60, 1440), y60, method="LSODA", rtol=rtol, atol=1e-12)
    y = s2.y[:, -1]
    return {
        "auc_tumour": y[7], "auc_systemic": y[8], "auc_liver": y[9], "eliminated": y[5], "washout": y[6],
        "remaining": float(y[:5].sum()), "leaked": leak_net, "mass_balance": float(y[:7].sum() - th["dose"]),
    }
