"""``isoperf cohort``: analysis of clinical cohorts (filled in by the cohort-analysis work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Analyse a clinical cohort (survival, response, the founding-series results table).",
                  no_args_is_help=True)
