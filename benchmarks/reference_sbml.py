"""SBML Level 3 of the benchmark reference model (../shared/bench/reference_model.md), for libRoadRunner.

States are parameters with rate rules (amounts, mg), including the two AUC quadrature states; the washout at
t = 60 min is an SBML event (A_wash += A_circ, A_circ = 0, p = 0). Written with the standard library only: a
small infix-to-MathML translator turns the equations below into MathML.
"""

from __future__ import annotations

import ast

TYPICAL = {
    "V_circ": 1.5, "V_liv": 1.5, "V_tum": 0.2, "V_sys": 15.0, "V_per": 30.0, "Q_ha": 0.3, "Q_pv": 0.5,
    "f_tum": 0.1, "Kp_liv": 1.0, "Kp_tum": 1.0, "CL_int": 0.6, "CL_sys": 0.8, "Q_per": 1.0, "Q_leak": 0.01,
    "Q_h": 1.5, "Vmax": 60.0, "Km": 20.0, "p": 1.0,
}
STATES = ["A_circ", "A_liv", "A_tum", "A_sys", "A_per", "A_elim", "A_wash", "AUC_tum", "AUC_sys"]


def _equations(variant: str) -> dict[str, str]:
    c = {
        "C_circ": "A_circ / V_circ", "C_liv": "A_liv / (V_liv * Kp_liv)", "C_tum": "A_tum / (V_tum * Kp_tum)",
        "C_sys": "A_sys / V_sys", "C_per": "A_per / V_per",
    }
    ehep = "CL_int * C_liv" if variant == "A" else "Vmax * C_liv / (Km + C_liv)"
    q = {
        "Qc_liv": "p * ((1 - f_tum) * Q_ha + Q_pv)", "Qc_tum": "p * f_tum * Q_ha", "Qleak": "p * Q_leak",
        "Qs_liv": "(1 - p) * Q_h", "Qs_tum": "(1 - p) * f_tum * 0.25 * Q_h", "E_hep": ehep,
    }
    rates = {
        "A_circ": "Qc_liv * (C_liv - C_circ) + Qc_tum * (C_tum - C_circ) - Qleak * (C_circ - C_sys)",
        "A_liv": "Qc_liv * (C_circ - C_liv) + Qs_liv * (C_sys - C_liv) - E_hep",
        "A_tum": "Qc_tum * (C_circ - C_tum) + Qs_tum * (C_sys - C_tum)",
        "A_sys": "Qleak * (C_circ - C_sys) - Qs_liv * (C_sys - C_liv) - Qs_tum * (C_sys - C_tum)"
                 " - CL_sys * C_sys - Q_per * (C_sys - C_per)",
        "A_per": "Q_per * (C_sys - C_per)",
        "A_elim": "E_hep + CL_sys * C_sys",
        "A_wash": "0",
        "AUC_tum": "C_tum",
        "AUC_sys": "C_sys",
    }
    return {**{f"assign:{k}": v for k, v in {**c, **q}.items()}, **{f"rate:{k}": v for k, v in rates.items()}}


_OPS = {ast.Add: "plus", ast.Sub: "minus", ast.Mult: "times", ast.Div: "divide"}


def _mathml(node: ast.AST) -> str:
    if isinstance(node, ast.Expression):
        return _mathml(node.body)
    if isinstance(node, ast.BinOp):
        return f"<apply><{_OPS[type(node.op)]}/>{_mathml(node.left)}{_mathml(node.right)}</apply>"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"<apply><minus/>{_mathml(node.operand)}</apply>"
    if isinstance(node, ast.Name):
        return f"<ci>{node.id}</ci>"
    if isinstance(node, ast.Constant):
        return f"<cn>{float(node.value)!r}</cn>"
    raise ValueError(f"unsupported expression {ast.dump(node)}")


def _math(expr: str) -> str:
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML">{_mathml(ast.parse(expr, mode="eval"))}</math>'


def sbml(variant: str = "A", dose: float = 1000.0) -> str:
    eqs = _equations(variant)
    params = [f'<parameter id="{k}" value="{v!r}" constant="false"/>' for k, v in TYPICAL.items()]
    params += [f'<parameter id="{s}" value="{(dose if s == "A_circ" else 0.0)!r}" constant="false"/>' for s in STATES]
    params += [f'<parameter id="{k.split(":")[1]}" value="0" constant="false"/>' for k in eqs if k.startswith("assign:")]
    rules = []
    for k, v in eqs.items():
        kind, name = k.split(":")
        tag = "assignmentRule" if kind == "assign" else "rateRule"
        rules.append(f'<{tag} variable="{name}">{_math(v)}</{tag}>')
    event = (
        '<event id="washout" useValuesFromTriggerTime="true">'
        '<trigger initialValue="false" persistent="true">'
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><geq/><csymbol encoding="text" '
        'definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>60</cn></apply></math></trigger>'
        '<listOfEventAssignments>'
        f'<eventAssignment variable="A_wash">{_math("A_wash + A_circ")}</eventAssignment>'
        f'<eventAssignment variable="A_circ">{_math("0")}</eventAssignment>'
        f'<eventAssignment variable="p">{_math("0")}</eventAssignment>'
        '</listOfEventAssignments></event>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">'
        f'<model id="isoperf_reference_{variant}">'
        f'<listOfParameters>{"".join(params)}</listOfParameters>'
        f'<listOfRules>{"".join(rules)}</listOfRules>'
        f'<listOfEvents>{event}</listOfEvents>'
        '</model></sbml>'
    )


if __name__ == "__main__":
    import sys

    print(sbml(sys.argv[1] if len(sys.argv) > 1 else "A"))
