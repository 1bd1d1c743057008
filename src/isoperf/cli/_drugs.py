"""``isoperf drugs [NAME]``: the drug library with every parameter's source."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from isoperf.cli._common import user_errors


def register(app: typer.Typer) -> None:
    @app.command()
    def drugs(name: str | None = typer.Argument(None, help="Drug name or alias; omit to list all.")) -> None:
        """List the drug library, or show one drug's parameters with their sources."""
        from isoperf.drugs import get_drug, list_drugs

        console = Console()
        with user_errors():
            if name is None:
                t = Table(title="isoperf drug library")
                for col in ("name", "aliases", "class", "elimination", "published limits"):
                    t.add_column(col)
                for d in list_drugs():
                    elim = "saturable (Michaelis-Menten)" if not d.linear else "linear"
                    lim = "; ".join(f"{k}: {v.max_text}" for k, v in d.limits.items() if v.max_text)
                    t.add_row(d.name, ", ".join(d.aliases), d.drug_class, elim, lim)
                console.print(t)
                return
            d = get_drug(name, field="NAME")
            t = Table(title=f"{d.display_name} ({d.name})", show_lines=True)
            for col in ("parameter", "value", "source / estimate"):
                t.add_column(col, overflow="fold")
            for p in d.parameters.values():
                t.add_row(p.name, p.text, p.provenance)
            for k, v in d.limits.items():
                rng = f"{v.min_text or ''} - {v.max_text or ''}".strip(" -")
                t.add_row(f"limit: {k}", rng, v.source)
            console.print(t)
