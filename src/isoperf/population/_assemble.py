"""``assemble`` for a batch: the same matrix as :func:`isoperf.model.assemble`, one per patient.

Mirrors ``isoperf.model._assemble.assemble`` term by term (tested against it); numbers may be arrays.
Layout: patients last (every term is one contiguous vector operation), and only the compartment columns
(``assemble`` writes no other column: sinks, counters, AUCs and the dose never feed back).
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
    matrix: np.ndarray  # (size, n, N): column j of patient p is matrix[:, j, p]
    inputs: np.ndarray  # (size, N)
    sat_state: np.ndarray  # (S,) int
    sat_sink: np.ndarray  # (S,) int
    sat_vmax: np.ndarray  # (S, N)
    sat_km: np.ndarray  # (S, N)
    sat_inv: np.ndarray  # (S, N)
    written: np.ndarray  # (size, n) bool: the matrix entries this assembly wrote

    @property
    def work(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The arrays to hand to the next ``batched_assemble`` of the same segment (reused memory)."""
        return self.matrix, self.inputs, self.written

    def full(self, p: int) -> np.ndarray:
        """Patient ``p``'s (size, size) matrix, as :func:`isoperf.model.assemble` gives it."""
        size, n = self.matrix.shape[:2]
        m = np.zeros((size, size))
        m[:, :n] = self.matrix[:, :, p]
        return m

    @property
    def linear(self) -> bool:
        return self.sat_state.size == 0


def _nonzero(value: object, col: np.ndarray) -> bool:
    """Whether a model number is non-zero for any patient (a plain number is checked directly)."""
    if isinstance(value, int | float):
        return value != 0
    return bool(col.any())


def batched_assemble(model: DrugModel, seg: Segment, layout: StateLayout, n: int,
                     work: tuple[np.ndarray, ...] | None = None) -> BatchedSegment:
    """``work``: optional (matrix, inputs) arrays of the right shape to fill (reused between chunks), as
    returned in ``BatchedSegment.work``; only the entries the last use wrote are cleared."""
    size, nc = layout.size, layout.n
    if work is not None and work[0].shape == (size, nc, n):
        m, b = work[0], work[1]
        if len(work) > 2:
            m[work[2]] = 0.0  # the structure is the same in every chunk: clear only what was written
        else:
            m.fill(0.0)
        b.fill(0.0)
    else:
        m, b = np.zeros((size, nc, n)), np.zeros((size, n))
    inv = {c.name: 1.0 / (column(c.volume, n) * column(c.kp, n)) for c in model.compartments}
    touched: set[tuple[int, int]] = set()
    for f in seg.flows:
        rate = column(f.rate, n)
        if not _nonzero(f.rate, rate):
            continue
        i = layout.comp[f.source]
        j = layout.target(f.target)
        k = rate * inv[f.source]
        m[i, i] -= k
        m[j, i] += k
        touched |= {(i, i), (j, i)}
        if f.counter is not None:
            m[layout.counter[f.counter], i] += column(f.sign, n) * k
            touched.add((layout.counter[f.counter], i))
    for c in seg.clearances:
        cl = column(c.clearance, n)
        if not _nonzero(c.clearance, cl):
            continue
        i = layout.comp[c.compartment]
        k = cl * inv[c.compartment]
        m[i, i] -= k
        m[layout.sink[c.sink], i] += k
        touched |= {(i, i), (layout.sink[c.sink], i)}
    for d in seg.decays:
        r = column(d.rate, n)
        if not _nonzero(d.rate, r):
            continue
        i = layout.comp[d.compartment]
        m[i, i] -= r
        m[layout.sink[d.sink], i] += r
        touched |= {(i, i), (layout.sink[d.sink], i)}
    for name, i in layout.comp.items():
        m[layout.auc[name], i] = inv[name]
        touched.add((layout.auc[name], i))
    for inf in seg.infusions:
        r = column(inf.rate, n)
        b[layout.comp[inf.compartment]] += r
        b[layout.dosed] += r
    sats = [s for s in seg.saturables if _nonzero(s.vmax, column(s.vmax, n))]
    written = np.zeros((size, nc), dtype=bool)
    written[tuple(np.array(sorted(touched), dtype=np.int64).reshape(-1, 2).T)] = True
    return BatchedSegment(
        seg.start, seg.end, m, b,
        np.array([layout.comp[s.compartment] for s in sats], dtype=np.int64),
        np.array([layout.sink[s.sink] for s in sats], dtype=np.int64),
        np.stack([column(s.vmax, n) for s in sats]) if sats else np.zeros((0, n)),
        np.stack([column(s.km, n) for s in sats]) if sats else np.zeros((0, n)),
        np.stack([inv[s.compartment] for s in sats]) if sats else np.zeros((0, n)),
        written,
    )
