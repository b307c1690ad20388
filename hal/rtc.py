"""Rtc: the battery-backed real-time clock chip (DS3231-class)."""
from typing import Protocol, runtime_checkable


@runtime_checkable
class Rtc(Protocol):
    """Keeps wall time across power cuts.

    Times are seconds since the Unix epoch (UTC); the firmware presents them in JST (UTC+9).
    ``oscillator_stopped`` is the chip's "time is not trustworthy" flag (DS3231 OSF).
    """

    def read(self) -> float: ...

    def write(self, epoch_s: float) -> None: ...

    @property
    def oscillator_stopped(self) -> bool: ...
