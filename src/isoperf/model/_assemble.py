"""Assemble a segment into ``dx/dt = M x + b + f(x)`` over the full state vector (see StateLayout)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoperf.model._structure import DrugModel, Segment, StateLayout


@dataclass(frozen=True)
class SaturableTerm:
    state: int
    sink: int
    vmax: float
    km: float
    inv_vol: float  # 1 / (V * kp): C = inv_vol * A


@dataclass(frozen=True)
class Assembled:
    matrix: np.ndarray  # (size, size)
    inputs: np.ndarray  # (size,)
    saturable: tuple[SaturableTerm, ...]


def assemble(model: DrugModel, seg: Segment, layout: StateLayout) -> Assembled:
    n = layout.size
    m = np.zeros((n, n))
    b = np.zeros(n)
    inv = {c.name: 1.0 / (c.volume * c.kp) for c in model.compartments}
    for f in seg.flows:
        if f.rate == 0:
            continue
        i = layout.comp[f.source]
        j = layout.target(f.target)
        k = f.rate * inv[f.source]
        m[i, i] -= k
        m[j, i] += k
        if f.counter is not None:
            m[layout.counter[f.counter], i] += f.sign * k
    for c in seg.clearances:
        if c.clearance == 0:
            continue
        i = layout.comp[c.compartment]
        k = c.clearance * inv[c.compartment]
        m[i, i] -= k
        m[layout.sink[c.sink], i] += k
    for d in seg.decays:
        if d.rate == 0:
            continue
        i = layout.comp[d.compartment]
        m[i, i] -= d.rate
        m[layout.sink[d.sink], i] += d.rate
    for name, i in layout.comp.items():
        m[layout.auc[name], i] = inv[name]
    for inf in seg.infusions:
        b[layout.comp[inf.compartment]] += inf.rate
        b[layout.dosed] += inf.rate
    sat = tuple(
        SaturableTerm(layout.comp[s.compartment], layout.sink[s.sink], s.vmax, s.km, inv[s.compartment])
        for s in seg.saturables
        if s.vmax > 0
    )
    return Assembled(m, b, sat)
