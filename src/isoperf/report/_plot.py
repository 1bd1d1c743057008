"""Concentration-time curves with the procedure phases shaded."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from isoperf.result import DISCLAIMER, REPORTED, Result  # noqa: E402

_PHASE_COLOURS = {"perfusion": "#f4a582", "washout": "#92c5de", "hai": "#b8e186", "iv": "#d9d9d9", "php": "#fdb863",
                  "limb": "#c2a5cf"}
_COMP_COLOURS = {"circuit": "#b2182b", "liver": "#2166ac", "tumour": "#1b7837", "systemic": "#762a83"}


def plot_result(result: Result, path: str | Path, *, log: bool = True) -> Path:
    """One panel per drug; circuit, liver, tumour and systemic concentrations; phases shaded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    drugs = result.drugs
    fig, axes = plt.subplots(len(drugs), 1, figsize=(8, 3.2 * len(drugs)), squeeze=False, sharex=True)
    ts = result.timeseries()
    t_end = float(ts["time_min"].max())
    unit, scale = ("d", 1440.0) if t_end > 4320 else ("h", 60.0) if t_end > 600 else ("min", 1.0)
    for ax, drug in zip(axes[:, 0], drugs, strict=True):
        seen = set()
        for phase, a, b in result.phases():
            if phase in _PHASE_COLOURS:
                ax.axvspan(a / scale, b / scale, color=_PHASE_COLOURS[phase], alpha=0.35, lw=0,
                           label=None if phase in seen else phase)
                seen.add(phase)
        for comp in REPORTED:
            d = ts[(ts.drug == drug) & (ts.compartment == comp)]
            y = d["concentration_mg_L"].to_numpy()
            if not (y > 0).any():
                continue
            ax.plot(d["time_min"] / scale, y, color=_COMP_COLOURS[comp], lw=1.4, label=comp)
        if log:
            ax.set_yscale("log")
            pos = ts[(ts.drug == drug) & (ts.concentration_mg_L > 0)]["concentration_mg_L"]
            if len(pos):
                ax.set_ylim(max(pos.max() * 1e-6, pos.min()), pos.max() * 2)
        ax.set_ylabel("concentration (mg/L)")
        ax.set_title(drug)
        ax.legend(fontsize=8, ncol=3, loc="upper right")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(f"time ({unit})")
    fig.suptitle(result.plan.protocol.name, fontsize=11)
    fig.text(0.5, 0.005, DISCLAIMER, ha="center", fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
