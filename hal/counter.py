"""MonotonicCounter: a count that survives power loss and can never go back.

Real parts: a battery-backed RTC backup register (DS3231-class RTCs and MCU RTC domains keep a
few words while the main supply is off) or a secure element's monotonic counter. Storage keeps
in it how many records it has committed, so a flash image rolled back to an older genuine copy
(which is self-consistent: every CRC, HMAC and chain link is right) is detected at boot.
"""
from typing import Protocol, runtime_checkable


@runtime_checkable
class MonotonicCounter(Protocol):
    """``read()`` the count; ``advance_to(n)`` raises it to ``n`` (a lower ``n`` is ignored:
    the part cannot count down). ``max_value`` is the largest count the part holds.

    ``read()`` raises ``CounterFault`` when the part's own check (a complement copy, an ECC) says
    the stored count is damaged — that is a hardware fault, never evidence of a rollback; the
    firmware then ``reseat(n)``s it from what the flash proves was committed."""

    max_value: int

    def read(self) -> int: ...

    def advance_to(self, value: int) -> None: ...

    def reseat(self, value: int) -> None: ...
