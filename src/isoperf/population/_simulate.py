"""``simulate_population``: sample, build, solve in fixed-size chunks, in process or on Dask; one table.

Patient ``i`` depends only on (protocol, population spec, seed, i): the chunk size, the number of threads
and of Dask workers change how the work is split, never a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from isoperf._errors import InputError
from isoperf.inputs import ProtocolSpec
from isoperf.model import SINK_FATE
from isoperf.population._batch import build_batch, check_targets
from isoperf.population._result import PHYSIOLOGY_COLUMNS, PopulationResult
from isoperf.population._run import DrugOutcome, solve_drug
from isoperf.population._sample import sample_population
from isoperf.population._spec import PopulationSpec, load_population
from isoperf.procedures import Plan, build_plan
from isoperf.result._result import REPORTED

DEFAULT_CHUNK = 4096
CURVE_MEMORY_LIMIT = 4 * 2**30  # bytes of curves kept in memory without a Parquet file


def _metrics_columns(drug: str, o: DrugOutcome) -> dict[str, np.ndarray]:
    lay, x = o.layout, o.final
    cols: dict[str, np.ndarray] = {f"{drug}.dose_mg": x[:, lay.dosed].copy()}
    names = o.model.names
    for c in names:
        cols[f"{drug}.auc.{c}"] = x[:, lay.auc[c]].copy()
    for c in names:
        cols[f"{drug}.cmax.{c}"] = o.cmax[:, lay.comp[c]].copy()
    for c in names:
        cols[f"{drug}.tmax.{c}"] = o.tmax[:, lay.comp[c]].copy()
    cols[f"{drug}.fate.leaked"] = x[:, lay.counter["leak"]].copy()
    for part in ("washout", "eliminated", "filtered"):
        idx = [lay.sink[s] for s, p in SINK_FATE.items() if p == part and s in lay.sink]
        cols[f"{drug}.fate.{part}"] = x[:, idx].sum(axis=1) if idx else np.zeros(len(x))
    cols[f"{drug}.fate.remaining"] = x[:, : lay.n].sum(axis=1)
    for s in lay.sink:
        cols[f"{drug}.fate.{s}"] = x[:, lay.sink[s]].copy()
    cols[f"{drug}.mass_balance_error"] = o.mass_balance_error.copy()
    return cols


def run_chunk(spec: ProtocolSpec, pop: PopulationSpec, start: int, stop: int, *, curves: bool = False,
              plan: Plan | None = None, buffers: dict[str, Any] | None = None,
              threads: int | None = None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Table rows (and curves) of patients ``start .. stop-1``. Pure function of its arguments."""
    cols, out_curves = chunk_columns(spec, pop, start, stop, curves=curves, plan=plan, buffers=buffers,
                                     threads=threads)
    return pd.DataFrame(cols), out_curves


def chunk_columns(spec: ProtocolSpec, pop: PopulationSpec, start: int, stop: int, *, curves: bool = False,
                  plan: Plan | None = None, buffers: dict[str, Any] | None = None,
                  threads: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """As :func:`run_chunk`, the table's columns as arrays."""
    if threads is not None:
        import numba

        numba.set_num_threads(threads)
    plan = plan or build_plan(spec)
    index = np.arange(start, stop, dtype=np.int64)
    n = index.size
    sample = sample_population(pop, index)
    models, values, how = build_batch(plan, sample)
    cols: dict[str, Any] = {"patient": index}
    for k, name in PHYSIOLOGY_COLUMNS.items():
        cols[name] = values[k]
    for k, f in sample.factors.items():
        cols[f"iiv.{k}"] = f
    for k, v in values.items():
        if "." in k:
            cols[k] = v
    out_curves: dict[str, np.ndarray] = {}
    t_count = plan.grid.size
    for drug, model in models.items():
        buf = None
        if curves:
            buf = buffers.get(drug) if buffers is not None else None  # type: ignore[assignment]
            if buf is None or buf.shape[0] < n or buf.shape[2] != t_count:
                buf = np.zeros((n, len(REPORTED), t_count))
                if buffers is not None:
                    buffers[drug] = buf
            buf = buf[:n]
        work = buffers.setdefault(f"work:{drug}", {}) if buffers is not None else None  # type: ignore[arg-type]
        o = solve_drug(model, plan.grid, n, curves=buf, index=index, work=work)  # type: ignore[arg-type]
        cols.update(_metrics_columns(drug, o))
        if curves:
            out_curves[drug] = buf  # type: ignore[assignment]
    return cols, out_curves


class _Table:
    """The per-patient table, filled chunk by chunk into columns allocated once for all patients and made a
    DataFrame at the end without consolidating them (a frame per chunk, concatenated, took ~25 % of a
    1,000,000-patient run of the reference model and a second copy of the table)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.cols: dict[str, np.ndarray] = {}

    def add(self, a: int, b: int, cols: dict[str, Any]) -> None:
        if not self.cols:
            for k, v in cols.items():
                dt = np.asarray(v).dtype
                self.cols[k] = np.empty(self.total, dtype=object if dt.kind in "OSU" else dt)
        if cols.keys() != self.cols.keys():
            raise RuntimeError(f"patients {a}..{b - 1} gave other table columns than the first chunk: a bug in "
                               "isoperf; please report it with the protocol and population")
        for k, v in cols.items():
            self.cols[k][a:b] = v

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.cols, copy=False)


def _chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk, n)) for a in range(0, n, chunk)]


class _CurveWriter:
    """Streams curves to Parquet: one row per (patient, drug, compartment), the curve as a fixed-size list."""

    def __init__(self, path: Path, times: np.ndarray) -> None:
        import pyarrow as pa

        self.pa = pa
        self.path = path
        self.times = times
        self.schema = pa.schema(
            [("patient", pa.int64()), ("drug", pa.string()), ("compartment", pa.string()),
             ("concentration_mg_L", pa.list_(pa.float64(), len(times)))],
            metadata={b"time_min": ",".join(repr(float(t)) for t in times).encode(), b"unit": b"mg/L"})
        self.writer: Any = None

    def write(self, index: np.ndarray, curves: dict[str, np.ndarray]) -> None:
        import pyarrow.parquet as pq

        pa = self.pa
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        for drug, arr in curves.items():
            n, r, t = arr.shape
            flat = pa.array(np.ascontiguousarray(arr).reshape(-1), type=pa.float64())
            table = pa.table({
                "patient": pa.array(np.repeat(index, r)),
                "drug": pa.array([drug] * (n * r)),
                "compartment": pa.array(list(REPORTED) * n),
                "concentration_mg_L": pa.FixedSizeListArray.from_arrays(flat, t),
            }, schema=self.schema)
            self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _dask_results(spec: ProtocolSpec, pop: PopulationSpec, parts: list[tuple[int, int]], curves: bool,
                  scheduler: str | None, workers: int | None
                  ) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        # a sliding window of chunks in flight keeps memory bounded (curves included) on workers and here
        window = max(2, 2 * len(client.scheduler_info().get("workers", {})))
        pending: list[Any] = []
        todo = iter(parts)
        for a, b in todo:
            pending.append(client.submit(chunk_columns, spec, pop, a, b, curves=curves, threads=1, pure=False))
            if len(pending) >= window:
                break
        while pending:
            fut = pending.pop(0)  # in order: the table is the same however the work was scheduled
            res = fut.result()
            fut.release()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(client.submit(chunk_columns, spec, pop, nxt[0], nxt[1], curves=curves, threads=1,
                                             pure=False))
            yield res
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def simulate_population(
    protocol: str | Path | dict[str, Any] | ProtocolSpec,
    population: str | Path | dict[str, Any] | PopulationSpec | None = None,
    *,
    n: int | None = None,
    seed: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    curves: bool = False,
    curves_path: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PopulationResult:
    """Simulate ``n`` virtual patients of ``protocol``.

    ``population``: a ``[population]`` spec (file, TOML string, dict or :class:`PopulationSpec`); by default
    the protocol file's ``[population]`` table; ``n`` and ``seed`` override its values. Patients are solved in
    chunks of ``chunk``; ``curves=True`` also returns the concentration curves (in memory, or streamed to
    ``curves_path`` as Parquet). ``scheduler`` (a Dask scheduler address) or ``workers`` (a local cluster of
    that many processes) distribute the chunks; the table is identical to the in-process one.
    """
    spec, pop = load_population(protocol, population)
    updates: dict[str, Any] = {}
    if n is not None:
        updates["n"] = n
    if seed is not None:
        updates["seed"] = seed
    if updates:
        pop = pop.model_copy(update=updates)
    total = pop.n
    if total is None or total < 1:
        raise InputError("population.n", f"got {total!r}", "give the number of patients: --n N, or n in [population]")
    if chunk < 1:
        raise InputError("chunk", f"got {chunk!r}", "give a chunk size >= 1")
    plan = build_plan(spec)
    check_targets(list(pop.iiv), list(plan.drugs))
    times = plan.grid.copy()
    if curves and curves_path is None:
        need = total * len(plan.drugs) * len(REPORTED) * times.size * 8
        if need > CURVE_MEMORY_LIMIT:
            raise InputError("curves", f"{need / 2**30:.1f} GiB of curves would be kept in memory",
                             "give a Parquet file for the curves (curves_path / --out), or fewer patients")
    parts = _chunks(total, chunk)
    writer = _CurveWriter(Path(curves_path), times) if curves and curves_path is not None else None
    if scheduler is not None or workers is not None:
        results: Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = _dask_results(
            spec, pop, parts, curves, scheduler, workers)
    else:
        buffers: dict[str, Any] = {}
        results = (chunk_columns(spec, pop, a, b, curves=curves, plan=plan, buffers=buffers) for a, b in parts)
    rows = _Table(total)
    kept: dict[str, list[np.ndarray]] = {}
    done = 0
    try:
        for (a, b), (cols, cv) in zip(parts, results, strict=True):
            rows.add(a, b, cols)
            if writer is not None:
                writer.write(np.arange(a, b), cv)
            elif curves:
                for d, arr in cv.items():
                    kept.setdefault(d, []).append(arr.copy())
            done += b - a
            if progress is not None:
                progress(done, total)
    finally:
        if writer is not None:
            writer.close()
    return PopulationResult(
        table=rows.frame(), times=times,
        curves={d: np.concatenate(v) for d, v in kept.items()},
        curves_path=Path(curves_path) if writer is not None else None,
        info={"n": total, "seed": pop.seed, "chunk": chunk, "protocol": spec.name,
              "distributed": scheduler or (f"LocalCluster({workers} workers)" if workers else None)},
    )
