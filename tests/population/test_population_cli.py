"""`isoperf population` end to end: table and curves to Parquet, errors with exit code 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from isoperf.cli import app
from isoperf.population import simulate_population

from .protocols_population import REF_A, REF_IIV

POP_TOML = "\n".join(["[population]", "seed = 9", "[population.iiv]",
                      *(f"{k} = {{ cv = 0.3 }}" for k in REF_IIV)])


def test_cli_writes_table_and_curves(tmp_path):
    pop = tmp_path / "pop.toml"
    pop.write_text(POP_TOML)
    out = tmp_path / "res.parquet"
    r = CliRunner().invoke(app, ["population", str(REF_A), "--population", str(pop), "--n", "40", "--chunk", "16",
                                 "--curves", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "not a medical device" in r.output
    table = pd.read_parquet(out)
    assert len(table) == 40 and list(table["patient"]) == list(range(40))
    api = simulate_population(REF_A, pop, n=40, curves=True)
    pd.testing.assert_frame_equal(table, api.table, check_exact=True)
    curves = pq.read_table(tmp_path / "res.curves.parquet").to_pandas()
    assert len(curves) == 40 * 4
    tumour = curves[(curves.patient == 3) & (curves.compartment == "tumour")]["concentration_mg_L"].iloc[0]
    assert np.array_equal(np.asarray(tumour), api.curves["reference_drug"][3, 2])


def test_cli_input_errors_exit_2(tmp_path):
    r = CliRunner().invoke(app, ["population", str(REF_A)])
    assert r.exit_code == 2 and "population.n" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[population]\nn = 3\n[population.iiv]\nhepatic_artery_flw = { cv = 0.3 }\n")
    r = CliRunner().invoke(app, ["population", str(REF_A), "--population", str(bad)])
    assert r.exit_code == 2 and "hepatic_artery_flow" in r.output
    r = CliRunner().invoke(app, ["population", str(REF_A), "--n", "3", "--curves"])
    assert r.exit_code == 2 and "--out" in r.output
