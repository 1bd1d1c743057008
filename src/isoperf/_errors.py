"""Errors a user can act on. Every user error names the field, what was wrong and what is allowed."""

from __future__ import annotations


class IsoperfError(Exception):
    """Base class of every error isoperf raises on purpose."""


class InputError(IsoperfError, ValueError):
    """A user input is wrong. ``field`` is the dotted path of the offending input."""

    def __init__(self, field: str, problem: str, hint: str = "") -> None:
        self.field = field
        self.problem = problem
        self.hint = hint
        msg = f"{field}: {problem}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


class InputErrors(IsoperfError, ValueError):
    """Several input errors found in one pass."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class MassBalanceError(IsoperfError, RuntimeError):
    """A simulation failed its mass-balance check (a bug in isoperf, never a user error)."""
