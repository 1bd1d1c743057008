from __future__ import annotations

import pytest
from typer.testing import CliRunner

from isoperf import InputError, get_drug, list_drugs
from isoperf.cli import app
from isoperf.drugs import drug_from_dict


def test_library_has_the_seed_drugs():
    names = {d.name for d in list_drugs()}
    assert {"fluorouracil", "mitomycin_c", "cisplatin", "melphalan"} <= names


@pytest.mark.parametrize("drug", list_drugs(), ids=lambda d: d.name)
def test_every_parameter_has_a_source_or_is_a_labelled_estimate(drug):
    for p in drug.parameters.values():
        assert p.source or (p.estimate and p.note), p.name
    for lim in drug.limits.values():
        assert lim.source


def test_structure_as_specified():
    fu = get_drug("5-FU")
    assert fu.hepatic_saturable and fu.extrahepatic_saturable  # saturable uptake in liver + MM elimination
    assert get_drug("melphalan").get("perfusate_half_life") is not None  # hydrolysis in perfusate
    assert get_drug("MMC").linear


def test_alias_and_suggestion():
    assert get_drug("cddp").name == "cisplatin"
    with pytest.raises(InputError, match="did you mean 'melphalan'"):
        get_drug("melphalen")


def test_a_parameter_without_source_is_refused():
    with pytest.raises(InputError, match="has no source"):
        drug_from_dict({"name": "x", "parameters": {"central_volume": {"value": "10 L"}}})
    with pytest.raises(InputError, match="without a note"):
        drug_from_dict({"name": "x", "parameters": {"central_volume": {"value": "10 L", "estimate": True}}})


def test_cli_lists_and_shows():
    r = CliRunner().invoke(app, ["drugs"])
    assert r.exit_code == 0 and "mitomycin_c" in r.output
    r = CliRunner().invoke(app, ["drugs", "melphalan"])
    assert r.exit_code == 0
    assert "Bosanquet" in r.output and "ESTIMATE" in r.output
    r = CliRunner().invoke(app, ["drugs", "melfalan"])
    assert r.exit_code == 2 and "melphalan" in r.output


def test_melphalan_hydrolysis_speeds_up_with_temperature():
    from isoperf.patient import Patient
    from isoperf.procedures import drug_pk

    pk = drug_pk(get_drug("melphalan"), Patient())
    assert pk.perfusate_decay(37.0) == pytest.approx(0.6931471805599453 / 66.0)
    assert pk.perfusate_decay(41.0) > pk.perfusate_decay(39.5) > pk.perfusate_decay(37.0)


def test_public_api_names_resolve():
    import isoperf

    for name in isoperf.__all__:
        assert getattr(isoperf, name) is not None, name
