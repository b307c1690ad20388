"""Relay: the meter's built-in switch (a latching relay with set/reset coils)."""
from enum import Enum
from typing import Protocol, runtime_checkable


class ContactState(Enum):
    OPEN = "open"      # load disconnected
    CLOSED = "closed"  # load supplied


@runtime_checkable
class Relay(Protocol):
    """A bistable relay: it keeps its position without power.

    ``drive(target)`` pulses the coil for ``target``; ``sensed()`` reads back the auxiliary
    contact. Raises RelayError if the coil cannot be driven; the firmware compares ``sensed()``
    with the command and raises StuckContact itself.
    """

    operations: int
    """Completed coil operations since manufacture (contact wear)."""

    def drive(self, target: ContactState) -> None: ...

    def sensed(self) -> ContactState: ...
