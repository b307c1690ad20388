"""TimeSource: the one clock object handed to everything that needs the time."""
from typing import Protocol, runtime_checkable


@runtime_checkable
class TimeSource(Protocol):
    """Current time as seconds since the Unix epoch (UTC), float.

    Virtual in simulation, real (optionally scaled) when emulating or on hardware. Emulated
    devices use it to integrate their physics; firmware converts it to JST for display and
    interval boundaries.
    """

    def now(self) -> float: ...
