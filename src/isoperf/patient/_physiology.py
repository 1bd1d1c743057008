"""A patient's physiology from covariates: body size, liver, tumour and hepatic blood flows."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from isoperf._errors import InputError
from isoperf._units import parse_quantity
from isoperf.patient._body_size import adjusted_body_weight, bsa_dubois, bsa_mosteller, ideal_body_weight

_LIVER_KINDS = {
    "specific_hepatic_blood_flow": "specific_flow",
    "arterial_fraction": "fraction",
    "tumour_arterial_perfusion": "specific_flow",
    "tumour_portal_share": "fraction",
    "korean_slv_slope": "volume_per_area",
    "korean_slv_intercept": "volume",
}


@lru_cache(maxsize=1)
def liver_constants() -> dict[str, float]:
    """The cited constants of ``data/physiology/liver.toml`` in canonical units (L, L/min, L/m2)."""
    raw = tomllib.loads(resources.files("isoperf").joinpath("data/physiology/liver.toml").read_text("utf-8"))
    return {
        name: parse_quantity(spec["value"], _LIVER_KINDS[name], field=f"liver.toml {name}", allow_negative=True)
        for name, spec in raw["parameters"].items()
    }


@dataclass(frozen=True)
class Patient:
    """Covariates and derived physiology. Volumes in L, flows in L/min, mass in kg, height in cm.

    Derived values may be overridden one by one (``overrides``), e.g. to express a fixed reference model.
    """

    weight: float = 70.0
    height: float = 175.0
    sex: str = "male"
    age: float = 60.0
    tumour_volume: float | None = None
    tumour_fraction: float | None = None
    bsa_formula: str = "mosteller"
    overrides: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sex not in ("male", "female"):
            raise InputError("patient.sex", f"got {self.sex!r}", "use 'male' or 'female'")
        if self.bsa_formula not in ("mosteller", "dubois"):
            raise InputError("patient.bsa_formula", f"got {self.bsa_formula!r}", "use 'mosteller' or 'dubois'")
        for name, val in (("weight", self.weight), ("height", self.height)):
            if not val > 0:
                raise InputError(f"patient.{name}", f"got {val!r}", "give a value > 0")
        if self.tumour_fraction is not None and not 0 <= self.tumour_fraction < 1:
            raise InputError("patient.tumour_fraction", f"got {self.tumour_fraction!r}", "give a fraction in [0, 1)")
        if self.tumour_volume is not None and self.tumour_fraction is not None:
            raise InputError("patient.tumour_volume", "given together with tumour_fraction", "give only one of them")
        unknown = set(self.overrides) - set(DERIVED)
        if unknown:
            raise InputError("patient.override", f"unknown key(s) {sorted(unknown)}", f"allowed: {sorted(DERIVED)}")

    # --- body size -------------------------------------------------------------------------------
    @property
    def bsa(self) -> float:
        """Body surface area (m2) by the chosen formula (Mosteller by default)."""
        if "bsa" in self.overrides:
            return self.overrides["bsa"]
        f = bsa_mosteller if self.bsa_formula == "mosteller" else bsa_dubois
        return f(self.weight, self.height)

    @property
    def bsa_mosteller(self) -> float:
        return bsa_mosteller(self.weight, self.height)

    @property
    def bsa_dubois(self) -> float:
        return bsa_dubois(self.weight, self.height)

    @property
    def ideal_body_weight(self) -> float:
        return self.overrides.get("ideal_body_weight", ideal_body_weight(self.height, self.sex))

    @property
    def adjusted_body_weight(self) -> float:
        return adjusted_body_weight(self.weight, self.ideal_body_weight)

    # --- liver and tumour ------------------------------------------------------------------------
    @property
    def standard_liver_volume(self) -> float:
        """Standard (healthy) liver volume, L: 893.485 x BSA(Mosteller) - 439.169 mL (PMID 26693231)."""
        c = liver_constants()
        return max(c["korean_slv_slope"] * self.bsa_mosteller + c["korean_slv_intercept"], 0.1)

    @property
    def tumour_volume_l(self) -> float:
        if "tumour_volume" in self.overrides:
            return self.overrides["tumour_volume"]
        if self.tumour_volume is not None:
            return self.tumour_volume
        if self.tumour_fraction is not None:
            return self.tumour_fraction * self.standard_liver_volume
        return 0.0

    @property
    def liver_volume(self) -> float:
        """Volume of functional liver parenchyma, L (the standard liver volume less the replaced part)."""
        if "liver_volume" in self.overrides:
            return self.overrides["liver_volume"]
        if self.tumour_fraction is not None:
            return (1.0 - self.tumour_fraction) * self.standard_liver_volume
        return self.standard_liver_volume

    @property
    def hepatic_blood_flow(self) -> float:
        """Total hepatic blood flow, L/min: specific flow x parenchymal volume (~1.5 L/min for 1.3 L)."""
        if "hepatic_blood_flow" in self.overrides:
            return self.overrides["hepatic_blood_flow"]
        return liver_constants()["specific_hepatic_blood_flow"] * self.liver_volume

    @property
    def arterial_fraction(self) -> float:
        return self.overrides.get("arterial_fraction", liver_constants()["arterial_fraction"])

    @property
    def hepatic_arterial_flow(self) -> float:
        return self.arterial_fraction * self.hepatic_blood_flow

    @property
    def portal_flow(self) -> float:
        return (1.0 - self.arterial_fraction) * self.hepatic_blood_flow

    @property
    def tumour_arterial_share(self) -> float:
        """Share of hepatic-artery inflow that passes through the tumour (``f_tum``).

        Tumour arterial flow = tumour volume x tumour arterial perfusion; share = that / (that + Q_HA).
        """
        if "tumour_arterial_share" in self.overrides:
            return self.overrides["tumour_arterial_share"]
        q_t = self.tumour_volume_l * liver_constants()["tumour_arterial_perfusion"]
        return q_t / (q_t + self.hepatic_arterial_flow) if q_t > 0 else 0.0

    @property
    def tumour_blood_flow(self) -> float:
        """Tumour blood flow with the liver connected, L/min (arterial, in parallel to the liver)."""
        return self.tumour_arterial_share * self.hepatic_arterial_flow

    def summary(self) -> dict[str, float | str]:
        return {
            "weight_kg": self.weight,
            "height_cm": self.height,
            "sex": self.sex,
            "age_y": self.age,
            "bsa_m2": self.bsa,
            "bsa_mosteller_m2": self.bsa_mosteller,
            "bsa_dubois_m2": self.bsa_dubois,
            "ideal_body_weight_kg": self.ideal_body_weight,
            "standard_liver_volume_L": self.standard_liver_volume,
            "liver_volume_L": self.liver_volume,
            "tumour_volume_L": self.tumour_volume_l,
            "hepatic_blood_flow_L_min": self.hepatic_blood_flow,
            "arterial_fraction": self.arterial_fraction,
            "tumour_arterial_share": self.tumour_arterial_share,
        }


#: physiology values a protocol may override (with their kinds for unit parsing)
DERIVED: dict[str, str] = {
    "bsa": "area",
    "ideal_body_weight": "body_mass",
    "liver_volume": "volume",
    "tumour_volume": "volume",
    "hepatic_blood_flow": "flow",
    "arterial_fraction": "fraction",
    "tumour_arterial_share": "fraction",
}
