"""Patient i is the same patient whatever N, the chunk size or the number of Dask workers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from isoperf.population import counter_normals, sample_population, simulate_population
from isoperf.population._spec import parse_population

from .protocols_population import LIBRARY, LIBRARY_POP, REF_A, REF_IIV

POP = {"seed": 2024, "iiv": REF_IIV}


def test_counter_normals_do_not_depend_on_the_batch():
    full = counter_normals(7, np.arange(1000), ["a", "b"])
    part = counter_normals(7, np.arange(500, 507), ["b", "a"])
    assert np.array_equal(full[500:507, 0], part[:, 1])
    assert np.array_equal(full[500:507, 1], part[:, 0])
    assert not np.array_equal(counter_normals(8, np.arange(10), ["a"]), full[:10, :1])


def test_counter_uniforms_keep_their_stream():
    """Pinned values of the SplitMix64 stream (seed 7, variable "a"): a population drawn with a seed stays the same
    population across isoperf versions (values from the numpy implementation, which the numba one replaced)."""
    from isoperf.population._rng import counter_uniforms, variable_key

    u = counter_uniforms(7, np.array([0, 1, 2, 10**9]), variable_key("a"))
    expected = ["0x1.36626f655178ep-1", "0x1.f9d063d8eb5ccp-1", "0x1.eb508040f4024p-1", "0x1.2ce4ca32da051p-2"]
    assert [x.hex() for x in u] == expected


def test_counter_normals_are_standard_normal():
    z = counter_normals(1, np.arange(200_000), ["x", "y"])
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.corrcoef(z.T)[0, 1]) < 0.01


def test_sampling_correlation_and_truncation():
    pop = parse_population(LIBRARY_POP)
    s = sample_population(pop, np.arange(20_000))
    w, h = s.covariates["weight"], s.covariates["height"]
    assert w.min() >= 45 and w.max() <= 130 and h.min() >= 150 and h.max() <= 200
    assert 0.35 < np.corrcoef(np.log(w), h)[0, 1] < 0.6
    female = s.covariates["sex"] == "female"
    assert 0.42 < female.mean() < 0.48
    assert h[female].mean() < h[~female].mean() - 5  # sex:height correlation -0.6
    f = s.factors["central_volume"]
    assert np.median(f) == pytest.approx(1.0, abs=0.01)
    assert np.std(f) / np.mean(f) == pytest.approx(0.25, abs=0.01)


def test_table_identical_for_any_chunking_and_dask():
    """The issue's determinism test: N = 1000 as one chunk, in chunks of 7, and on a 2-worker LocalCluster."""
    one = simulate_population(REF_A, POP, n=1000, chunk=1000).table
    sevens = simulate_population(REF_A, POP, n=1000, chunk=7).table
    pd.testing.assert_frame_equal(one, sevens, check_exact=True)
    dask = simulate_population(REF_A, POP, n=1000, chunk=90, workers=2).table  # 12 chunks: window slides
    pd.testing.assert_frame_equal(one, dask, check_exact=True)
    first = simulate_population(REF_A, POP, n=100, chunk=33).table
    pd.testing.assert_frame_equal(one.iloc[:100], first, check_exact=True)


def test_covariate_table_identical_for_any_chunking():
    import tomllib

    raw = tomllib.loads(LIBRARY)
    one = simulate_population(raw, LIBRARY_POP, n=60, chunk=60).table
    chunks = simulate_population(raw, LIBRARY_POP, n=60, chunk=7).table
    pd.testing.assert_frame_equal(one, chunks, check_exact=True)


def test_run_chunk_gives_the_rows_of_the_table():
    """``run_chunk`` (a frame per chunk) and ``simulate_population`` (columns filled chunk by chunk, one frame at
    the end) give the same rows, with the covariate table's string and boolean columns."""
    import tomllib

    from isoperf.population import run_chunk
    from isoperf.population._spec import load_population

    raw = tomllib.loads(LIBRARY)
    table = simulate_population(raw, LIBRARY_POP, n=40, chunk=9).table
    spec, pop = load_population(raw, LIBRARY_POP)
    rows, _ = run_chunk(spec, pop.model_copy(update={"n": 40}), 11, 23)
    pd.testing.assert_frame_equal(table.iloc[11:23].reset_index(drop=True), rows, check_exact=True)
    assert table["sex"].dtype == object and set(table["sex"]) <= {"female", "male"}
