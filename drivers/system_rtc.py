"""Rtc backed by the host's clock (a Raspberry Pi kept on time by NTP or a DS3231 overlay)."""
from __future__ import annotations

import time


class SystemRtc:
    """Rtc contract over the operating system's wall clock; writing it is refused (the OS
    owns the time), so the firmware keeps its own offset instead."""

    def read(self) -> float:
        return time.time()

    def write(self, epoch_s: float) -> None:
        from sumame.hal.errors import ConfigurationError
        raise ConfigurationError("the system clock is owned by the OS (NTP); not setting it")

    @property
    def oscillator_stopped(self) -> bool:
        return False
