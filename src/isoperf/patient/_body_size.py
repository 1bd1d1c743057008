"""Body-size formulas: body surface area and ideal body weight."""

from __future__ import annotations

import math


def bsa_mosteller(weight_kg: float, height_cm: float) -> float:
    """Mosteller, N Engl J Med 1987;317:1098: BSA (m2) = sqrt(height (cm) x weight (kg) / 3600)."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def bsa_dubois(weight_kg: float, height_cm: float) -> float:
    """Du Bois & Du Bois, Arch Intern Med 1916: BSA (m2) = 0.007184 x W^0.425 x H^0.725."""
    return 0.007184 * weight_kg**0.425 * height_cm**0.725


def ideal_body_weight(height_cm: float, sex: str) -> float:
    """Devine (1974) ideal body weight, kg: 50 (male) or 45.5 (female) + 2.3 kg per inch over 5 ft.

    Below 5 ft the formula is extrapolated linearly (as most dosing software does) and floored at 1 kg.
    """
    inches_over_5ft = height_cm / 2.54 - 60.0
    base = 50.0 if sex == "male" else 45.5
    return max(base + 2.3 * inches_over_5ft, 1.0)


def adjusted_body_weight(weight_kg: float, ibw_kg: float, factor: float = 0.4) -> float:
    """Adjusted body weight = IBW + 0.4 x (actual - IBW) (the common dosing convention for obese patients)."""
    return ibw_kg + factor * (weight_kg - ibw_kg) if weight_kg > ibw_kg else weight_kg
