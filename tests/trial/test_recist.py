"""RECIST 1.1 classification edge cases and best overall response."""

from __future__ import annotations

import numpy as np
import pytest

from isoperf.response import best_overall_response, category_names, classify
from isoperf.response._recist import CR, NE, PD, PR, SD


@pytest.mark.parametrize(("baseline", "nadir", "current", "expected"), [
    (100.0, 100.0, 70.0, PR),        # exactly -30% from baseline: PR
    (100.0, 100.0, 70.1, SD),        # -29.9%: not PR
    (100.0, 100.0, 69.9, PR),
    (50.0, 25.0, 30.0, PD),          # exactly +20% over the nadir and exactly +5 mm: PD
    (50.0, 25.0, 29.9, PR),          # +19.6% / +4.9 mm over the nadir (still -40% from baseline): PR
    (20.0, 20.0, 24.0, SD),          # +20% but only +4 mm: not PD
    (20.0, 20.0, 25.0, PD),          # +25% and +5 mm
    (100.0, 40.0, 45.0, PR),         # +5 mm but only +12.5% over the nadir
    (100.0, 100.0, 0.0, CR),         # disappearance of all target lesions
    (100.0, 0.0, 0.0, CR),           # still disappeared
    (100.0, 0.0, 5.0, PD),           # reappearance after CR: +5 mm over a nadir of 0
    (100.0, 0.0, 4.0, PR),           # 4 mm after CR: not PD (needs 5 mm absolute), -96% from baseline
])
def test_classify_edges(baseline, nadir, current, expected):
    assert int(classify(baseline, nadir, current)) == expected


def test_new_lesion_is_progression_even_when_shrinking():
    assert int(classify(100.0, 100.0, 50.0, new_lesion=True)) == PD


def test_measurable_baseline_required():
    with pytest.raises(ValueError):
        classify(0.0, 0.0, 0.0)


def test_vectorised_matches_scalar():
    rng = np.random.default_rng(1)
    b = rng.uniform(10, 200, 500)
    n = b * rng.uniform(0.0, 1.0, 500)
    c = b * rng.uniform(0.0, 1.6, 500)
    vec = classify(b, n, c)
    assert all(int(classify(x, y, z)) == v for x, y, z, v in zip(b, n, c, vec, strict=True))


def test_best_overall_response_rules():
    times = np.array([1.0, 2.0, 3.0, 4.0])
    codes = np.array([
        [PR, CR, PD, -1],     # best CR before progression
        [PD, CR, CR, CR],     # nothing counts after the first PD
        [SD, SD, PD, -1],     # SD at >= the minimum duration
        [SD, PD, -1, -1],     # SD only before the minimum duration (1.5), then PD: PD
        [SD, -1, -1, -1],     # SD too early, then no assessment: NE
        [-1, -1, -1, -1],     # no assessment (early death): NE
        [PR, SD, SD, PD],     # PR counts
    ])
    best = best_overall_response(codes, times, min_sd_duration=1.5)
    assert list(category_names(best)) == ["CR", "PD", "SD", "PD", "NE", "NE", "PR"]
    assert best[5] == NE


def test_confirmation_downgrades_unconfirmed_responses():
    times = np.array([1.0, 2.0, 3.0])
    codes = np.array([[PR, PD, -1], [PR, PR, SD], [CR, PR, PD]])
    best = best_overall_response(codes, times, confirm=True)
    assert list(category_names(best)) == ["SD", "PR", "PR"]
    assert best_overall_response(codes, times)[2] == CR
    assert SD == 2
