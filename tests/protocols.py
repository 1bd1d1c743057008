"""Small protocol builders for tests."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "name": "test ILP",
    "patient": {"weight": "70 kg", "height": "175 cm", "tumour_volume": "0.2 L"},
    "procedures": [{
        "type": "ilp", "start": "0 min", "duration": "60 min", "circuit_volume": "1.5 L",
        "hepatic_artery_flow": "0.3 L/min", "portal_vein_flow": "0.5 L/min", "leak": "0.01 L/min",
        "doses": [{"drug": "mitomycin_c", "amount": "20 mg", "at": "0 min", "over": "10 min"}],
    }],
    "output": {"until": "600 min", "step": "1 min"},
}


def ilp(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes, e.g. ilp(**{'procedures.0.leak': '0 L/min'})."""
    p = copy.deepcopy(BASE)
    for path, value in changes.items():
        node: Any = p
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is None:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return p
