"""Kaplan-Meier plots with CI bands, censor marks and a KMunicate-style numbers-at-risk table.

The x-axis ticks and the columns of the at-risk table come from one :class:`TimeGrid` object, so
they cannot drift apart; the table is also returned as data (:func:`at_risk_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from isoperf._errors import InputError
from isoperf.outcomes._km import KaplanMeier

DISCLAIMER = "isoperf is research software, not a medical device, and gives no clinical advice."


@dataclass(frozen=True)
class TimeGrid:
    """The time points shared by the plot's x-axis ticks and the at-risk table."""

    ticks: tuple[float, ...]

    @classmethod
    def from_max(cls, t_max: float, step: float | None = None) -> TimeGrid:
        """Ticks 0, step, 2 step, ... up to ``t_max`` (step chosen as 1, 2, 3, 6, 12, 24... when absent)."""
        if step is None:
            target = max(t_max, 1e-9) / 8
            step = next((s for s in (1, 2, 3, 6, 12, 24, 36, 60, 120, 240, 365, 730) if s >= target), target)
        if step <= 0:
            raise InputError("step", "the time-grid step must be positive")
        n = int(np.floor(t_max / step + 1e-9))
        return cls(tuple(float(step * i) for i in range(n + 1)))


def at_risk_table(curves: Sequence[KaplanMeier], grid: TimeGrid) -> pd.DataFrame:
    """Rows ``(group, 'at risk' | 'events' | 'censored')``, one column per grid time.

    At risk at t: patients with time >= t. Events / censored: cumulative counts with time <= t.
    """
    rows = {}
    for km in curves:
        d = np.asarray(km.fitter.durations, dtype=float)
        e = np.asarray(km.fitter.event_observed, dtype=int)
        rows[(km.label, "at risk")] = [int((d >= t).sum()) for t in grid.ticks]
        rows[(km.label, "events")] = [int(((d <= t) & (e == 1)).sum()) for t in grid.ticks]
        rows[(km.label, "censored")] = [int(((d <= t) & (e == 0)).sum()) for t in grid.ticks]
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(grid.ticks))
    df.index = pd.MultiIndex.from_tuples(df.index, names=["group", "row"])
    return df


def plot_km(
    curves: Sequence[KaplanMeier],
    *,
    grid: TimeGrid | None = None,
    legend_extra: str | None = None,
    time_label: str = "Months since procedure",
    title: str | None = None,
) -> tuple[Figure, pd.DataFrame, TimeGrid]:
    """Draw the curves with CI bands and censor marks over a KMunicate at-risk table.

    Returns the figure, the at-risk table (data) and the grid used for both.
    """
    if grid is None:
        t_max = max(float(np.max(km.fitter.durations)) for km in curves)
        grid = TimeGrid.from_max(t_max)
    table = at_risk_table(curves, grid)
    n_rows = 3 * len(curves)
    fig = Figure(figsize=(8, 5 + 0.22 * n_rows))  # no pyplot: no global state, no backend switch
    gs = fig.add_gridspec(2, 1, height_ratios=[5, 0.3 + 0.25 * n_rows], hspace=0.35)
    ax = fig.add_subplot(gs[0])
    tab_ax = fig.add_subplot(gs[1], sharex=ax)
    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, km in enumerate(curves):
        c = colors[i % len(colors)]
        t = np.concatenate([[0.0], km.table["time"].to_numpy()])
        s = np.concatenate([[1.0], km.table["surv"].to_numpy()])
        lo = np.concatenate([[1.0], km.table["lower"].to_numpy()])
        hi = np.concatenate([[1.0], km.table["upper"].to_numpy()])
        med = "not reached" if km.median is None else f"{km.median:.1f}"
        ax.step(t, s, where="post", color=c, label=f"{km.label} (n={km.n}, median {med})")
        ax.fill_between(t, np.nan_to_num(lo), np.nan_to_num(hi, nan=0.0), step="post", color=c, alpha=0.15,
                        linewidth=0)
        cens = km.table[km.table["n_censor"] > 0]
        ax.plot(cens["time"], cens["surv"], "|", color=c, markersize=8)
    ax.set_xticks(list(grid.ticks))
    span = max(grid.ticks[-1] - grid.ticks[0], 1e-9)
    ax.set_xlim(grid.ticks[0] - 0.03 * span, max(grid.ticks[-1], ax.get_xlim()[1]) + 0.03 * span)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(time_label)
    handles, labels = ax.get_legend_handles_labels()
    if legend_extra:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append(legend_extra)
    ax.legend(handles, labels, loc="upper right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    tab_ax.set_xticks(list(grid.ticks))
    tab_ax.tick_params(axis="x", labelbottom=False, length=0)
    tab_ax.set_yticks(range(n_rows))
    tab_ax.set_yticklabels([f"{g}: {r}" for g, r in table.index][::-1], fontsize=7)
    tab_ax.set_ylim(-0.5, n_rows - 0.5)
    for spine in tab_ax.spines.values():
        spine.set_visible(False)
    tab_ax.tick_params(axis="y", length=0, pad=14)
    for j, (_, vals) in enumerate(table.iterrows()):
        y = n_rows - 1 - j
        for x, v in zip(grid.ticks, vals, strict=True):
            tab_ax.text(x, y, str(v), ha="center", va="center", fontsize=7)
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=6, color="0.4")
    return fig, table, grid


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save as PNG or SVG (by extension)."""
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg"):
        raise InputError("--plot", f"unsupported plot format {p.suffix!r}", "use a .png or .svg file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=150, bbox_inches="tight")
    return p
