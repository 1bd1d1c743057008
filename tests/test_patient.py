from __future__ import annotations

import math

import pytest

from isoperf import InputError, Patient
from isoperf.patient import bsa_dubois, bsa_mosteller, ideal_body_weight


def test_body_size_formulas():
    assert bsa_mosteller(70, 175) == pytest.approx(math.sqrt(175 * 70 / 3600))
    assert bsa_dubois(70, 175) == pytest.approx(0.007184 * 70**0.425 * 175**0.725)
    assert ideal_body_weight(152.4, "male") == pytest.approx(50.0)  # exactly 5 ft
    assert ideal_body_weight(152.4 + 2.54 * 10, "female") == pytest.approx(45.5 + 23.0)


def test_liver_and_flows():
    p = Patient(weight=70, height=175)
    assert p.standard_liver_volume == pytest.approx((893.485 * p.bsa_mosteller - 439.169) / 1000)
    assert 1.0 < p.hepatic_blood_flow < 2.0  # ~1.5 L/min textbook
    assert p.hepatic_arterial_flow == pytest.approx(0.25 * p.hepatic_blood_flow)
    assert p.tumour_arterial_share == 0


def test_tumour_burden():
    p = Patient(tumour_fraction=0.25)
    assert p.tumour_volume_l == pytest.approx(0.25 * p.standard_liver_volume)
    assert p.liver_volume == pytest.approx(0.75 * p.standard_liver_volume)
    big, small = Patient(tumour_volume=0.5), Patient(tumour_volume=0.05)
    assert big.tumour_arterial_share > small.tumour_arterial_share > 0  # mostly arterial supply grows with burden


def test_bad_patient():
    with pytest.raises(InputError, match="patient.sex"):
        Patient(sex="x")
    with pytest.raises(InputError, match="tumour_fraction"):
        Patient(tumour_fraction=1.2)
