"""Event logs (profile generic, class 7) read from the meter's EventLog, and their event codes.

Each log is a view of the meter's append-only EventLog filtered by kind: rows are
``{event time (octet-string date-time, JST), event code (long-unsigned)}``, oldest first, the
capture objects being the clock and the log's event-code object (class 1). The codes below are
ours (no public Japanese table exists); the head-end maps them back with ``EVENT_NAMES``.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterable

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.cosem.base import Level
from sumame.firmware.net.dlms.cosem.profile import ProfileGeneric, capture
from sumame.firmware.net.dlms.cosem.registers import DataObject
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem_time import epoch_to_octets

from . import obis_codes as oc

POWER_CODES = {"power-fail": 1, "power-restore": 2, "restart": 3, "last-gasp": 4}
SWITCH_CODES = {"switch-open": 10, "switch-close": 11, "switch-trip": 12, "switch-reclose": 13,
                "switch-lockout": 14, "switch-lockout-reset": 15, "switch-limit": 16,
                "switch-refused": 17, "switch-stuck": 18, "switch-fault": 19,
                "switch-mismatch": 20, "switch-deferred": 21}
SECURITY_CODES = {"security": 30, "dlms-auth-failure": 31, "dlms-decipher-failure": 32,
                  "dlms-replay": 33, "dlms-bad-input": 34, "dlms-refused": 35, "tamper": 36,
                  "corruption": 37,
                  # firmware lifecycle (firmware/lifecycle/stage.py)
                  "image-refused": 40, "image-invalid": 41, "image-fallback": 42,
                  "update-rolled-back": 43, "boot-control-tamper": 44, "boot-control-corruption": 45,
                  "firmware-committed": 46, "key-renewal": 47, "key-renewal-refused": 48,
                  "route-b-credentials": 49, "decommission": 50,
                  # external-connection security (firmware/security)
                  "ext-cut-off": 60, "ext-reconnected": 61, "ext-command-refused": 62,
                  "ext-rate-alarm": 63, "ext-unknown-peer": 64, "ext-auth-alarm": 65}
EVENT_NAMES = {code: kind for table in (POWER_CODES, SWITCH_CODES, SECURITY_CODES)
               for kind, code in table.items()}


class EventLogSource:
    """ProfileSource over the events whose kind is in ``codes`` (kind -> event code)."""

    __slots__ = ("_events", "_codes", "_capacity")

    def __init__(self, events, codes: dict[str, int], capacity: int = 2000):
        self._events, self._codes, self._capacity = events, codes, capacity

    def _matching(self) -> list:
        codes = self._codes
        return [e for e in self._events if e.kind in codes]

    def _row(self, event) -> tuple:
        return (axdr.octet_string(epoch_to_octets(event.at)), axdr.long_unsigned(self._codes[event.kind]))

    def entries_in_use(self) -> int:
        return len(self._matching())

    def profile_entries(self) -> int:
        return self._capacity

    def rows(self, start: float, end: float) -> list:
        found = sorted(self._matching(), key=lambda e: e.at)
        times = [e.at for e in found]
        return [self._row(e) for e in found[bisect_left(times, start):bisect_right(times, end)]]

    def entries(self, first: int, last: int) -> list:
        return [self._row(e) for e in self._matching()[first - 1:last]]

    def last_code(self) -> int | None:
        found = self._matching()
        return self._codes[found[-1].kind] if found else None


def event_log_objects(events) -> Iterable:
    """The three logs and their event-code objects (readable at the low security level)."""
    for log_ln, code_ln, codes in ((oc.POWER_LOG, oc.POWER_EVENT_CODE, POWER_CODES),
                                   (oc.SWITCH_LOG, oc.SWITCH_EVENT_CODE, SWITCH_CODES),
                                   (oc.SECURITY_LOG, oc.SECURITY_EVENT_CODE, SECURITY_CODES)):
        source = EventLogSource(events, codes)
        yield DataObject(code_ln, source.last_code, data_type=DataType.LONG_UNSIGNED,
                         read_level=Level.LOW)
        yield ProfileGeneric(log_ln, [capture(8, oc.CLOCK, 2), capture(1, code_ln, 2)],
                             source, capture_period=0, read_level=Level.LOW)
