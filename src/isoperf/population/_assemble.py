"""``assemble`` for a batch: the same matrix as :func:`isoperf.model.assemble`, one per patient.

Mirrors ``isoperf.model._assemble.assemble`` term by term (tested against it); numbers may be arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isoperf.model import DrugModel, Segment, StateLayout
from isoperf.population._batch import column


@dataclass(frozen=True)
class BatchedSegment:
    start: float
    end: float
    matrix: np.ndarray  # (N, size, size)
    inputs: np.ndarray  # (N, size)
    sat_state: np.ndarray  # (S,) int
    sat_sink: np.ndarray  # (S,) int
    sat_vmax: np.ndarray  # (N, S)
    sat_km: np.ndarray  # (N, S)
    sat_inv: np.ndarray  # (N, S)

    @property
    def linear(self) -> bool:
        return self.sat_state.size == 0


def batched_assemble(model: DrugModel, seg: Segment, layout: StateLayout, n: int) -> BatchedSegment:
    size = layout.size
    m = np.zeros((n, size, size))
    b = np.zeros((n, size))
    inv = {c.name: 1.0 / (column(c.volume, n) * column(c.kp, n)) for c in model.compartments}
    for f in seg.flows:
        rate = column(f.rate, n)
        if not rate.any():
            continue
        i = layout.comp[f.source]
        j = layout.target(f.target)
        k = rate * inv[f.source]
        m[:, i, i] -= k
        m[:, j, i] += k
        if f.counter is not None:
            m[:, layout.counter[f.counter], i] += column(f.sign, n) * k
    for c in seg.clearances:
        cl = column(c.clearance, n)
        if not cl.any():
            continue
        i = layout.comp[c.compartment]
        k = cl * inv[c.compartment]
        m[:, i, i] -= k
        m[:, layout.sink[c.sink], i] += k
    for d in seg.decays:
        r = column(d.rate, n)
        if not r.any():
            continue
        i = layout.comp[d.compartment]
        m[:, i, i] -= r
        m[:, layout.sink[d.sink], i] += r
    for name, i in layout.comp.items():
        m[:, layout.auc[name], i] = inv[name]
    for inf in seg.infusions:
        r = column(inf.rate, n)
        b[:, layout.comp[inf.compartment]] += r
        b[:, layout.dosed] += r
    sats = [s for s in seg.saturables if column(s.vmax, n).any()]
    return BatchedSegment(
        seg.start, seg.end, m, b,
        np.array([layout.comp[s.compartment] for s in sats], dtype=np.int64),
        np.array([layout.sink[s.sink] for s in sats], dtype=np.int64),
        np.stack([column(s.vmax, n) for s in sats], axis=1) if sats else np.zeros((n, 0)),
        np.stack([column(s.km, n) for s in sats], axis=1) if sats else np.zeros((n, 0)),
        np.stack([inv[s.compartment] for s in sats], axis=1) if sats else np.zeros((n, 0)),
    )
