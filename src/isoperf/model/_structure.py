"""The compartment-and-flow engine's vocabulary: one model for every procedure.

A :class:`DrugModel` is a list of compartments, a list of time segments (each with its own flows,
clearances, first-order losses, saturable eliminations and constant-rate infusions) and a list of
instantaneous events (boluses, transfers such as a washout). Procedures (ILP, HAI, IV, ...) only build
these objects; they never integrate anything themselves.

Conventions (canonical units): amounts mg, volumes L, flows/clearances L/min, time min, rates mg/min.
The concentration a compartment presents to flows and eliminations is ``C = A / (V * kp)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Compartment:
    name: str
    volume: float
    kp: float = 1.0


@dataclass(frozen=True)
class Flow:
    """Directed blood/perfusate flow ``rate`` carrying ``C(source)`` into ``target``.

    ``target`` may be a compartment or a sink (drug that leaves the model, e.g. a filter or a discarded
    washout line). ``counter`` optionally accumulates ``sign * rate * C(source)`` (e.g. net leak).
    """

    source: str
    target: str
    rate: float
    counter: str | None = None
    sign: float = 1.0


@dataclass(frozen=True)
class Clearance:
    """Linear elimination ``clearance * C(compartment)`` into ``sink``."""

    compartment: str
    clearance: float
    sink: str


@dataclass(frozen=True)
class Decay:
    """First-order loss ``rate * A(compartment)`` (1/min) into ``sink`` (e.g. hydrolysis in perfusate)."""

    compartment: str
    rate: float
    sink: str


@dataclass(frozen=True)
class Saturable:
    """Michaelis-Menten elimination ``vmax * C / (km + C)`` from ``compartment`` into ``sink``."""

    compartment: str
    vmax: float
    km: float
    sink: str


@dataclass(frozen=True)
class Infusion:
    """Zero-order input ``rate`` (mg/min) into ``compartment`` while its segment lasts."""

    compartment: str
    rate: float


@dataclass(frozen=True)
class Bolus:
    time: float
    compartment: str
    amount: float


@dataclass(frozen=True)
class Transfer:
    """At ``time``, move everything in ``compartment`` into ``sink`` (washout: the perfusate is discarded)."""

    time: float
    compartment: str
    sink: str


Event = Bolus | Transfer


@dataclass(frozen=True)
class Segment:
    """A time interval ``[start, end]`` with constant structure and constant inputs."""

    start: float
    end: float
    phase: str
    flows: tuple[Flow, ...] = ()
    clearances: tuple[Clearance, ...] = ()
    decays: tuple[Decay, ...] = ()
    saturables: tuple[Saturable, ...] = ()
    infusions: tuple[Infusion, ...] = ()

    @property
    def linear(self) -> bool:
        return not any(s.vmax > 0 for s in self.saturables)


#: sinks and what part of the dose's fate each one is
SINK_FATE = {
    "eliminated_hepatic": "eliminated",
    "eliminated_extrahepatic": "eliminated",
    "degraded": "eliminated",
    "washout": "washout",
    "filter": "filtered",
}


@dataclass(frozen=True)
class DrugModel:
    """Everything needed to simulate one drug in one patient under one protocol."""

    drug: str
    compartments: tuple[Compartment, ...]
    segments: tuple[Segment, ...]
    events: tuple[Event, ...]
    sinks: tuple[str, ...] = tuple(SINK_FATE)
    counters: tuple[str, ...] = ("leak",)
    phases: tuple[tuple[str, float, float], ...] = ()
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.compartments]

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def t_end(self) -> float:
        return self.segments[-1].end

    @property
    def total_dose(self) -> float:
        total = sum(e.amount for e in self.events if isinstance(e, Bolus))
        total += sum(i.rate * (s.end - s.start) for s in self.segments for i in s.infusions)
        return total


class StateLayout:
    """Positions in the state vector: compartments | sinks | counters | AUC per compartment | dosed."""

    def __init__(self, model: DrugModel) -> None:
        self.n = len(model.compartments)
        self.comp = {c.name: i for i, c in enumerate(model.compartments)}
        off = self.n
        self.sink = {s: off + i for i, s in enumerate(model.sinks)}
        off += len(model.sinks)
        self.counter = {c: off + i for i, c in enumerate(model.counters)}
        off += len(model.counters)
        self.auc = {c.name: off + i for i, c in enumerate(model.compartments)}
        off += self.n
        self.dosed = off
        self.size = off + 1

    def target(self, name: str) -> int:
        if name in self.comp:
            return self.comp[name]
        if name in self.sink:
            return self.sink[name]
        raise KeyError(f"unknown compartment or sink {name!r}")
