"""The protocol file's schema (pydantic). Quantities stay strings here; they are parsed with units later.

Unknown keys are errors (typos must not pass silently); see :func:`isoperf.inputs.load_protocol`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Quantity = Annotated[str, Field(description="a quantity string with a unit, e.g. '0.3 L/min'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientSpec(_Strict):
    weight: Quantity = "70 kg"
    height: Quantity = "175 cm"
    sex: Literal["male", "female"] = "male"
    age: Quantity | float = 60.0
    tumour_volume: Quantity | None = None
    tumour_fraction: Quantity | None = None
    bsa_formula: Literal["mosteller", "dubois"] = "mosteller"
    override: dict[str, Quantity] = Field(default_factory=dict)


class DoseSpec(_Strict):
    """One dose. ``amount`` is a dose rule as written: mg, mg/kg, mg/m2 or mg/L (of limb volume).

    ``rule`` names a published dose rule of the drug (``data/dose_rules.toml``, e.g. ``'hepzato'``) instead
    of ``amount``; ``basis`` says which body weight a mg/kg dose uses; ``cap`` limits the computed dose.
    """

    drug: str
    amount: Quantity | None = None
    rule: str | None = None
    basis: Literal["actual", "ideal", "adjusted"] | None = None
    cap: Quantity | None = None
    at: Quantity = "0 min"
    over: Quantity = "0 min"
    into: Literal["circuit", "hepatic_artery", "portal_vein", "systemic"] | None = None
    #: simulate a dose outside the drug's published range for this procedure (flagged in every output)
    allow_outside_range: bool = False
    allow_above_max: bool = False  # older name of allow_outside_range, still accepted


class WashoutSpec(_Strict):
    duration: Quantity = "0 min"
    flow: Quantity | None = None


class ProcedureSpec(_Strict):
    type: Literal["ilp", "hai", "iv", "php", "limb"]
    name: str | None = None
    start: Quantity = "0 min"
    # isolated perfusion (ILP, limb) / PHP duration
    duration: Quantity | None = None
    temperature: Quantity = "37 degC"
    circuit_volume: Quantity | None = None
    hepatic_artery_flow: Quantity | None = None
    portal_vein_flow: Quantity | None = None
    leak: Quantity | None = None
    leak_profile: list[tuple[Quantity, Quantity]] | None = None
    washout: WashoutSpec = Field(default_factory=WashoutSpec)
    # percutaneous hepatic perfusion: filter extraction (constant, or piecewise constant from times)
    filter: str | None = None
    filter_extraction: Quantity | None = None
    filter_extraction_profile: list[tuple[Quantity, Quantity]] | None = None
    # isolated limb perfusion
    limb: Literal["arm", "leg"] | None = None
    limb_volume: Quantity | None = None
    perfusion_flow: Quantity | None = None
    limb_blood_flow: Quantity | None = None
    # repeated dosing (HAI / IV cycles) or repeated procedures (PHP, limb)
    cycles: int = Field(default=1, ge=1)
    interval: Quantity | None = None
    doses: list[DoseSpec] = Field(default_factory=list)


class OutputSpec(_Strict):
    until: Quantity | None = None
    step: Quantity = "1 min"


class ProtocolSpec(_Strict):
    name: str = "protocol"
    description: str = ""
    patient: PatientSpec = Field(default_factory=PatientSpec)
    drugs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    procedures: list[ProcedureSpec] = Field(min_length=1)
    output: OutputSpec = Field(default_factory=OutputSpec)
    #: a virtual population (read by ``isoperf population``; ``isoperf simulate`` runs the protocol's patient)
    population: dict[str, Any] | None = None
