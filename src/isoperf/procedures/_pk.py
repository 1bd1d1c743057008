"""A drug's parameters for one patient: body-size scaling and the hepatic/extrahepatic split."""

from __future__ import annotations

import math
from dataclasses import dataclass

from isoperf._errors import InputError
from isoperf.drugs import Drug
from isoperf.patient import Patient


@dataclass(frozen=True)
class DrugPK:
    """Per-patient PK in canonical units (L, L/min, mg/min, mg/L, 1/min)."""

    drug: str
    v_central: float
    v_peripheral: float
    q_peripheral: float
    cl_hepatic_int: float  # intrinsic clearance acting on C_liver
    vmax_hepatic: float
    km_hepatic: float
    cl_extrahepatic: float
    vmax_extrahepatic: float
    km_extrahepatic: float
    kp_liver: float
    kp_tumour: float
    perfusate_k37: float  # first-order loss in perfusate at the reference temperature
    perfusate_tref: float
    hydrolysis_q10: float
    kp_limb: float = 1.0

    def perfusate_decay(self, temperature: float) -> float:
        """Perfusate degradation rate (1/min) at ``temperature`` degC (Q10 rule around the reference)."""
        if self.perfusate_k37 == 0:
            return 0.0
        return self.perfusate_k37 * self.hydrolysis_q10 ** ((temperature - self.perfusate_tref) / 10.0)


def _scaled(drug: Drug, name: str, patient: Patient, default: float | None = None) -> float:
    p = drug.get(name)
    if p is None:
        if default is None:
            raise InputError(f"drugs.{drug.name}.parameters.{name}", "is missing", "the drug needs this parameter")
        return default
    if p.kind.endswith("_per_area"):
        return p.value * patient.bsa
    if p.kind.endswith("_per_mass"):
        return p.value * patient.weight
    return p.value


def drug_pk(drug: Drug, patient: Patient) -> DrugPK:
    """Resolve ``drug`` for ``patient``.

    Hepatic elimination is given either directly (``hepatic_intrinsic_clearance`` or ``hepatic_vmax``/
    ``hepatic_km``) or as ``hepatic_fraction`` of ``total_clearance``; in that case the intrinsic clearance
    is chosen so that the well-stirred hepatic blood clearance equals that fraction:
    ``CL_int = CL_H * Q_H / (Q_H - CL_H)``.
    """
    q_h = patient.hepatic_blood_flow
    cl_int = _scaled(drug, "hepatic_intrinsic_clearance", patient, 0.0)
    cl_extra = _scaled(drug, "extrahepatic_clearance", patient, 0.0)
    if drug.get("total_clearance") is not None:
        cl_tb = _scaled(drug, "total_clearance", patient)
        f_h = drug.value("hepatic_fraction", 0.0)
        cl_h = f_h * cl_tb
        if cl_h >= q_h:
            raise InputError(f"drugs.{drug.name}.parameters.hepatic_fraction",
                             f"hepatic clearance {cl_h:.3g} L/min is not below hepatic blood flow {q_h:.3g} L/min",
                             "lower hepatic_fraction")
        cl_int = cl_h * q_h / (q_h - cl_h) if cl_h > 0 else 0.0
        cl_extra = (1.0 - f_h) * cl_tb
    half = drug.value("perfusate_half_life", 0.0)
    return DrugPK(
        drug=drug.name,
        v_central=_scaled(drug, "central_volume", patient),
        v_peripheral=_scaled(drug, "peripheral_volume", patient, 0.0),
        q_peripheral=_scaled(drug, "intercompartmental_clearance", patient, 0.0),
        cl_hepatic_int=cl_int,
        vmax_hepatic=_scaled(drug, "hepatic_vmax", patient, 0.0),
        km_hepatic=drug.value("hepatic_km", 1.0),
        cl_extrahepatic=cl_extra,
        vmax_extrahepatic=_scaled(drug, "extrahepatic_vmax", patient, 0.0),
        km_extrahepatic=drug.value("extrahepatic_km", 1.0),
        kp_liver=drug.value("kp_liver", 1.0),
        kp_tumour=drug.value("kp_tumour", 1.0),
        perfusate_k37=math.log(2) / half if half > 0 else 0.0,
        perfusate_tref=drug.value("perfusate_reference_temperature", 37.0),
        hydrolysis_q10=drug.value("hydrolysis_q10", 1.0),
        kp_limb=drug.value("kp_limb", 1.0),
    )
