"""Patient physiology from covariates."""

from isoperf.patient._body_size import adjusted_body_weight, bsa_dubois, bsa_mosteller, ideal_body_weight
from isoperf.patient._physiology import DERIVED, Patient

__all__ = ["DERIVED", "Patient", "adjusted_body_weight", "bsa_dubois", "bsa_mosteller", "ideal_body_weight"]
