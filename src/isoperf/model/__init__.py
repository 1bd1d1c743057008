"""The compartment-and-flow model shared by every procedure."""

from isoperf.model._assemble import Assembled, SaturableTerm, assemble
from isoperf.model._structure import (
    SINK_FATE,
    Bolus,
    Clearance,
    Compartment,
    Decay,
    DrugModel,
    Event,
    Flow,
    Infusion,
    Saturable,
    Segment,
    StateLayout,
    Transfer,
)

__all__ = [
    "SINK_FATE", "Assembled", "Bolus", "Clearance", "Compartment", "Decay", "DrugModel", "Event", "Flow",
    "Infusion", "Saturable", "SaturableTerm", "Segment", "StateLayout", "Transfer", "assemble",
]
