"""The ``isoperf`` command line. Each sub-command lives in its own module."""

from __future__ import annotations

import typer

from isoperf.cli import _cohort, _compare, _drugs, _population, _simulate, _trial

app = typer.Typer(
    name="isoperf",
    help="Simulate, plan and analyse isolated regional chemotherapy. "
    "Research software: not a medical device, gives no clinical advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_cohort.app, name="cohort")
for _module in (_simulate, _drugs, _compare, _population, _trial):
    _module.register(app)


def main() -> None:
    """Entry point of the ``isoperf`` script."""
    app()
