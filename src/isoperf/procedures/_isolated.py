"""What every isolated perfusion shares: a circuit, a leak that may change in time, and a washout."""

from __future__ import annotations

from dataclasses import dataclass, field

from isoperf.procedures._base import Procedure


def piecewise_value(profile: list[tuple[float, float]], t: float, before: float) -> float:
    """The value of a piecewise-constant profile ``[(from time, value), ...]`` at ``t`` (``before`` earlier)."""
    value = before
    for t_from, v in profile:
        if t_from <= t:
            value = v
    return value


@dataclass
class IsolatedPerfusion(Procedure):
    """Base of ILP and limb perfusion: perfusion, then (optionally) a washout flush, then reconnection."""

    circuit_volume: float = 1.5
    #: piecewise-constant leak exchange flow: list of (from time, L/min), times absolute
    leak_profile: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 0.0)])
    washout_duration: float = 0.0
    washout_flow: float = 0.0
    #: the washout flush runs at the pump flow (no washout.flow given): it follows changes of the pump flow
    washout_follows_pump: bool = False

    @property
    def perfusion_end(self) -> float:
        return self.end - self.washout_duration

    def breakpoints(self) -> list[float]:
        return [*super().breakpoints(), self.perfusion_end, *(t for t, _ in self.leak_profile)]

    def leak_at(self, t: float) -> float:
        return piecewise_value(self.leak_profile, t, 0.0)

    def events(self) -> list[tuple[float, str, str]]:
        return [(self.perfusion_end, "circuit", "washout")]
