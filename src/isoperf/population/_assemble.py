"""``assemble`` for a batch: the same matrix as :func:`isoperf.model.assemble`, one per patient.

Mirrors ``isoperf.model._assemble.assemble`` term by term (tested against it); numbers may be arrays.
Layout: patients last (every term is one contiguous pass), and only the compartment columns (``assemble``
writes no other column: sinks, counters, AUCs and the dose never feed back). The terms become a small program
(indices, value columns, constants) that one numba pass applies to the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
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
    any_inputs: bool = True  # whether ``inputs`` may hold non-zero entries

    @property
    def work(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """The arrays to hand to the next ``batched_assemble`` of the same segment (reused memory)."""
        return self.matrix, self.inputs, self.written, self.any_inputs

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


#: term kinds of the assembly program: a flow out of compartment i into row j (a clearance is one, with the sink
#: as j), optionally counted in row c with a sign; a first-order decay into row j; an AUC row j reading i
_FLOW, _DECAY, _AUC = 0, 1, 2


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def _values(cols, consts, v, out):  # noqa: ANN001, ANN202
    """Value ``v`` of the program for every patient: column ``v`` of ``cols``, or the constant ``-1 - v`` written
    into ``out`` (a branch per element kept LLVM from vectorising and cost ~25x)."""
    if v >= 0:
        return cols[v]
    c = consts[-1 - v]
    for p in range(out.size):
        out[p] = c
    return out


@nb.njit(cache=True, error_model="numpy", boundscheck=False, inline="always")
def _add(dst, first, sgn, a, b):  # noqa: ANN001, ANN202
    """``dst += sgn a b`` elementwise (``sgn`` +-1 as the sign of the operation: ``-=`` or ``+=``); on an entry's
    first term this pass, ``dst = 0.0 +- a b``: the same number as clearing first, in one pass instead of two."""
    if first:
        if sgn > 0:
            for p in range(dst.size):
                dst[p] = 0.0 + a[p] * b[p]
        else:
            for p in range(dst.size):
                dst[p] = 0.0 - a[p] * b[p]
    elif sgn > 0:
        for p in range(dst.size):
            dst[p] += a[p] * b[p]
    else:
        for p in range(dst.size):
            dst[p] -= a[p] * b[p]


@nb.njit(cache=True, error_model="numpy", boundscheck=False)
def _run_program(m, clear, written, ops, cols, consts, inv):  # noqa: ANN001, ANN202
    """Apply the terms ``ops`` (rows: kind, i, j, c, v, s) for every patient, term after term as the
    single-patient ``assemble`` does (the same operations in the same order on entries starting from zero, so the
    same numbers); entries ``clear`` marks that no term writes now are zeroed. The entries written are marked in
    ``written`` (which may be ``clear`` itself)."""
    size, nc, n = m.shape
    seen = np.zeros((size, nc), dtype=np.bool_)
    ones = np.ones(n)
    vbuf = np.empty(n)
    sbuf = np.empty(n)
    kbuf = np.empty(n)
    for t in range(ops.shape[0]):
        kind, i, j, c = ops[t, 0], ops[t, 1], ops[t, 2], ops[t, 3]
        ip = inv[i]
        if kind == _AUC:
            mj = m[j, i]
            for p in range(n):
                mj[p] = ip[p]
        else:
            val = _values(cols, consts, ops[t, 4], vbuf)
            if kind == _FLOW:  # k = rate / (V kp)
                for p in range(n):
                    kbuf[p] = val[p] * ip[p]
                _add(m[i, i], not seen[i, i], -1, kbuf, ones)
                seen[i, i] = True
                _add(m[j, i], not seen[j, i], 1, kbuf, ones)
                if c >= 0:
                    _add(m[c, i], not seen[c, i], 1, _values(cols, consts, ops[t, 5], sbuf), kbuf)
                    seen[c, i] = True
            else:  # a decay: the rate itself
                _add(m[i, i], not seen[i, i], -1, val, ones)
                seen[i, i] = True
                _add(m[j, i], not seen[j, i], 1, val, ones)
        seen[j, i] = True
    for r in range(size):
        for c in range(nc):
            if clear[r, c] and not seen[r, c]:
                m[r, c, :] = 0.0
            written[r, c] = seen[r, c]


def inverse_volumes(model: DrugModel, n: int) -> np.ndarray:
    """``1 / (V kp)`` of every compartment, (n_compartments, N), in the model's (= the layout's) order."""
    return np.stack([1.0 / (column(c.volume, n) * column(c.kp, n)) for c in model.compartments])


def batched_assemble(model: DrugModel, seg: Segment, layout: StateLayout, n: int,
                     work: tuple[np.ndarray, ...] | None = None, inv: np.ndarray | None = None) -> BatchedSegment:
    """``work``: optional (matrix, inputs, written[, any_inputs]) of the right shape to fill (reused between chunks),
    as returned in ``BatchedSegment.work``; only the entries the last use wrote are cleared. ``inv``: the
    compartments' ``1 / (V kp)`` (:func:`inverse_volumes`), if the caller has them.

    The terms are collected into a small program (value columns, constants, indices) that one numba pass applies
    to all patients: the numpy version, a few vector operations per term, took ~0.35 ms per chunk of 4096."""
    size, nc = layout.size, layout.n
    fresh = not (work is not None and len(work) > 2 and work[0].shape == (size, nc, n))
    if fresh:
        m, b = np.zeros((size, nc, n)), np.zeros((size, n))
        written = np.zeros((size, nc), dtype=bool)
    else:
        m, b, written = work[0], work[1], work[2]
        if len(work) < 4 or work[3]:  # (inputs left all zero by the last use need no clearing)
            b.fill(0.0)
    if inv is None:
        inv = inverse_volumes(model, n)
    cols: list[np.ndarray] = []
    consts: list[float] = []

    def ref(value: object) -> int:  # a value of the program: a column (>= 0) or a constant (< 0)
        if isinstance(value, int | float) and not isinstance(value, bool):
            consts.append(float(value))
            return -len(consts)
        cols.append(column(value, n))
        return len(cols) - 1

    ops: list[tuple[int, int, int, int, int, int]] = []
    for f in seg.flows:
        if isinstance(f.rate, int | float) and f.rate == 0:
            continue
        i = layout.comp[f.source]
        c, s = (layout.counter[f.counter], ref(f.sign)) if f.counter is not None else (-1, 0)
        ops.append((_FLOW, i, layout.target(f.target), c, ref(f.rate), s))
    for cl in seg.clearances:
        if isinstance(cl.clearance, int | float) and cl.clearance == 0:
            continue
        ops.append((_FLOW, layout.comp[cl.compartment], layout.sink[cl.sink], -1, ref(cl.clearance), 0))
    for d in seg.decays:
        if isinstance(d.rate, int | float) and d.rate == 0:
            continue
        ops.append((_DECAY, layout.comp[d.compartment], layout.sink[d.sink], -1, ref(d.rate), 0))
    for name, i in layout.comp.items():
        ops.append((_AUC, i, layout.auc[name], -1, 0, 0))
    col_arr = np.stack(cols) if cols else np.zeros((0, n))
    _run_program(m, written, written, np.array(ops, dtype=np.int64).reshape(-1, 6), col_arr,
                 np.array(consts + [0.0]), np.ascontiguousarray(inv))
    for inf in seg.infusions:
        r = column(inf.rate, n)
        b[layout.comp[inf.compartment]] += r
        b[layout.dosed] += r
    sats = [s for s in seg.saturables if _nonzero(s.vmax, column(s.vmax, n))]
    return BatchedSegment(
        seg.start, seg.end, m, b,
        np.array([layout.comp[s.compartment] for s in sats], dtype=np.int64),
        np.array([layout.sink[s.sink] for s in sats], dtype=np.int64),
        np.stack([column(s.vmax, n) for s in sats]) if sats else np.zeros((0, n)),
        np.stack([column(s.km, n) for s in sats]) if sats else np.zeros((0, n)),
        np.stack([inv[layout.comp[s.compartment]] for s in sats]) if sats else np.zeros((0, n)),
        written,
        bool(seg.infusions),
    )
