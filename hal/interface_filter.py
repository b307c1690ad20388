"""FrameFilter: what sits between the meter's B-route application and its media.

On a real meter this is nothing (the datagram goes straight to the radio or the IP stack). An
emulated board may put a filter there to make the interface behave like a particular field
meter (drivers/emulated/quirks: silent spells, Get_SNA for some EPCs, late announcements, ...).
The firmware calls it without knowing what it does; it never touches registers or storage.
"""
from typing import Protocol, runtime_checkable


@runtime_checkable
class FrameFilter(Protocol):
    def inbound(self, medium: str, peer, data: bytes, now: float) -> bytes | None:
        """A datagram from ``peer``: the bytes the application gets, or None (lost)."""
        ...

    def outbound(self, medium: str, peer, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """A datagram to ``peer`` (None = broadcast): what leaves, as (delay s, bytes) pairs."""
        ...
