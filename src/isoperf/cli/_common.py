"""Shared CLI helpers: user errors become a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from rich.console import Console

from isoperf._errors import InputErrors, IsoperfError

err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except InputErrors as exc:
        for e in exc.errors:
            err_console.print(f"[bold red]error[/bold red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except IsoperfError as exc:
        err_console.print(f"[bold red]error[/bold red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def write_stdout(text: str) -> None:
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
