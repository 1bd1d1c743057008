"""The batched model build: branch handling, stacking, the per-patient fallback, the batched assembly."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

import isoperf
import isoperf.population._batch as batch
from isoperf._errors import InputError, InputErrors
from isoperf.model import StateLayout, assemble
from isoperf.population import (
    BatchArray,
    BranchDivergence,
    load_population,
    sample_population,
    simulate_population,
    stack_models,
    unstack_model,
)
from isoperf.population._assemble import batched_assemble

from .protocols_population import LIBRARY, LIBRARY_POP


def test_batch_array_branches_only_when_patients_agree():
    a = np.array([1.0, 2.0, 3.0]).view(BatchArray)
    assert bool(a > 0) and not bool(a > 5)
    with pytest.raises(BranchDivergence):
        bool(a > 1.5)
    with pytest.raises(TypeError):
        float(a)


def _library_batch(n: int):
    spec, pop = load_population(tomllib.loads(LIBRARY), LIBRARY_POP)
    plan = isoperf.build_plan(spec)
    return plan, sample_population(pop, np.arange(n))


def test_batched_assembly_equals_engine_assembly_for_every_patient():
    plan, sample = _library_batch(12)
    models, _, how = batch.build_batch(plan, sample)
    assert how == "vectorised"
    for model in models.values():
        lay = StateLayout(unstack_model(model, 0))
        for k, seg in enumerate(model.segments):
            bs = batched_assemble(model, seg, lay, 12)
            for i in range(12):
                single = unstack_model(model, i)
                ref = assemble(single, single.segments[k], lay)
                assert np.array_equal(bs.full(i), ref.matrix)
                assert np.array_equal(bs.inputs[:, i], ref.inputs)


def test_batched_assembly_reusing_its_arrays_equals_a_fresh_one():
    """The arrays of one chunk are refilled for the next (only the entries written last time are cleared)."""
    spec, pop = load_population(tomllib.loads(LIBRARY), LIBRARY_POP)
    plan = isoperf.build_plan(spec)
    first, _, _ = batch.build_batch(plan, sample_population(pop, np.arange(12)))
    second, _, _ = batch.build_batch(plan, sample_population(pop, np.arange(12, 24)))
    for name, model in first.items():
        lay = StateLayout(unstack_model(model, 0))
        for k, seg in enumerate(model.segments):
            used = batched_assemble(model, seg, lay, 12)
            again = batched_assemble(second[name], second[name].segments[k], lay, 12, used.work)
            fresh = batched_assemble(second[name], second[name].segments[k], lay, 12)
            assert again.matrix is used.matrix
            assert np.array_equal(again.matrix, fresh.matrix)
            assert np.array_equal(again.inputs, fresh.inputs)
            assert np.array_equal(again.written, fresh.written)
            assert not np.any(fresh.matrix.any(axis=2) & ~fresh.written)  # every non-zero entry is marked
        for k in range(len(model.segments) - 1):  # another segment's arrays (e.g. an infusion's, then none)
            used = batched_assemble(model, model.segments[k], lay, 12)
            again = batched_assemble(model, model.segments[k + 1], lay, 12, used.work)
            fresh = batched_assemble(model, model.segments[k + 1], lay, 12)
            assert np.array_equal(again.matrix, fresh.matrix)
            assert np.array_equal(again.inputs, fresh.inputs)


def test_stack_unstack_round_trip():
    plan, sample = _library_batch(5)
    models, _, _ = batch.build_batch(plan, sample)
    m = models["melphalan"]
    singles = [unstack_model(m, i) for i in range(5)]
    again = stack_models(singles)
    for i in range(5):
        assert unstack_model(again, i) == singles[i]


def test_per_patient_fallback_gives_the_same_table(monkeypatch):
    raw = tomllib.loads(LIBRARY)
    fast = simulate_population(raw, LIBRARY_POP, n=20, chunk=20).table
    orig = batch._build

    def diverging(plan, patient, factors, per_patient_dose):
        if isinstance(patient, batch.PatientBatch):
            raise BranchDivergence("forced")
        return orig(plan, patient, factors, per_patient_dose)

    monkeypatch.setattr(batch, "_build", diverging)
    slow = simulate_population(raw, LIBRARY_POP, n=20, chunk=20).table
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-13, atol=0)


def test_per_kg_doses_follow_each_patients_weight():
    raw = tomllib.loads(LIBRARY)
    t = simulate_population(raw, LIBRARY_POP, n=30).table
    np.testing.assert_allclose(t["melphalan.dose_mg"], 1.5 * t["weight_kg"], rtol=1e-14)
    np.testing.assert_allclose(t["fluorouracil.dose_mg"], 500.0, rtol=1e-12)


@pytest.mark.parametrize("pop,field", [
    ({"n": 3, "iiv": {"portal_flow": {"cv": 0.3}}}, "population.iiv.portal_flow"),
    ({"n": 3, "iiv": {"leak": {"cv": -1}}}, "population.iiv.leak.cv"),
    ({"n": 3, "iiv": {"leak": {"cv": 0.3}, "central_volume": {"cv": 0.3}},
      "iiv_correlation": {"leak:central_volume": 1.5}}, "population.iiv_correlation.leak:central_volume"),
    ({"n": 3, "covariates": {"weight": {"distribution": "normal", "mean": "70 kg"}}},
     "population.covariates.weight.sd"),
    ({"n": 3, "covariates": {"weight": {"distribution": "normal", "mean": "70 L", "sd": "1 L"}}},
     "population.covariates.weight.mean"),
    ({"n": 3, "covariats": {}}, "population.covariats"),
])
def test_population_input_errors_name_the_field(pop, field):
    with pytest.raises((InputError, InputErrors)) as exc:
        simulate_population(tomllib.loads(LIBRARY), pop)
    assert field in str(exc.value)


def test_doses_outside_the_published_range_are_flagged_per_patient():
    """5-FU by ILP, 12 mg/kg: inside 300-1250 mg for the 70-kg protocol patient, above it for heavy ones."""
    raw = {"patient": {"weight": "70 kg"},
           "procedures": [{"type": "ilp", "duration": "60 min", "circuit_volume": "1.5 L",
                           "hepatic_artery_flow": "0.3 L/min", "portal_vein_flow": "0.5 L/min",
                           "doses": [{"drug": "fluorouracil", "amount": "12 mg/kg"}]}],
           "output": {"until": "600 min", "step": "5 min"}}
    pop = {"seed": 1, "covariates": {"weight": {"distribution": "lognormal", "median": "80 kg", "cv": 0.3}}}
    t = simulate_population(raw, pop, n=300).table
    flag = t["fluorouracil.dose_outside_range"]
    assert flag.dtype == bool
    expect = (t["fluorouracil.dose_mg"] > 1250 * (1 + 1e-12)) | (t["fluorouracil.dose_mg"] < 300 * (1 - 1e-12))
    assert flag.any() and not flag.all()
    assert (flag == expect).all()


def test_text_labels_share_one_string_per_value():
    out = batch._labels(np.array(["male", "female", "male", "female", "male"]))
    assert out.dtype == object and list(out) == ["male", "female", "male", "female", "male"]
    assert out[0] is out[2] is out[4] and out[1] is out[3]
    assert batch._labels(np.array([], dtype="<U4")).size == 0
