"""Special-meter terminal -> smart meter messages in DLMS/COSEM (our own object model).

The real IoT-route Application spec (JUTA) is not public and nothing public names the COSEM
objects a special-meter terminal uses (reference/iot-route.md §2.5, §4 [U]); this is sumame's
documented choice. The terminal (``drivers/emulated/iot/special/terminal.py``) holds:

=============================  =====  ===========================================================
object                         class  meaning
=============================  =====  ===========================================================
0.0.1.0.0.255 clock            8      terminal clock (JST), set by the meter's TIME answers (the
                                      time-sync sequence: HELLO/POLL carry the terminal clock,
                                      the meter answers TIME; the terminal then sets the special
                                      meter's 0x028E DA and reports its DB)
1.B.99.1.0.255 load profile    7      30-min buffer, capture period 1800 s; capture objects:
                                      clock (8, 0.0.1.0.0.255, a2), +A cumulative (3,
                                      1.B.1.8.0.255, a2, scaler 0, Wh), -A cumulative (3,
                                      1.B.2.8.0.255, a2, Wh), status (1, 0.B.96.10.1.255, a2)
0.B.99.98.0.255 event log      7      clock + event code (``EVENT_NAMES``)
=============================  =====  ===========================================================

B is the terminal's channel (1..4). +A (forward) is the special meter's AC input (0x028E
E0/E1/E6), -A (reverse) its AC output (E2/E3/E7). A register the special meter had no data for
is A-XDR ``null-data``, never 0.

Carried as IoT-route application messages (``codec.py`` framing, CCM*-protected link):

* ``SPECIAL_VALUES`` (0x12): structure{special meter ID octet-string(7) (0x028E D1), tolerance
  class unsigned (D2, 1..7 = n1..n7), sync status unsigned (DB), device class long-unsigned
  (0x027E, 0x02A1, 0x0279), buffer array[≤ 48] of structure{slot end octet-string(12) COSEM
  date-time, +A double-long-unsigned | null, -A double-long-unsigned | null, status unsigned}}
* ``SPECIAL_EVENT`` (0x13): structure{special meter ID octet-string(7), at octet-string(12),
  code long-unsigned, detail visible-string(≤ 48)}

``decode_values`` / ``decode_event`` are pure and bounded (A-XDR budget by input size); anything
malformed raises ``IotCodecError``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.cosem_time import JST_DEVIATION, epoch_to_octets, octets_to_epoch
from sumame.firmware.net.dlms.errors import DecodeError

from .codec import IotCodecError

MAX_SLOTS = 48
SLOT_S = 1800
ID_LEN = 7
STATUS_NO_DATA = 0x80
DEVICE_CLASSES = frozenset({0x027E, 0x02A1, 0x0279})
EV_ID_MISMATCH, EV_CLOCK_FAULT, EV_READ_FAILED, EV_SYNC_FAILED, EV_SYNC_OK = 1, 2, 3, 4, 5
EVENT_NAMES = {EV_ID_MISMATCH: "special-meter-id-mismatch", EV_CLOCK_FAULT: "special-meter-clock-fault",
               EV_READ_FAILED: "special-meter-read-failed", EV_SYNC_FAILED: "special-meter-sync-failed",
               EV_SYNC_OK: "special-meter-synchronised"}
ALARM_EVENTS = frozenset({EV_ID_MISMATCH, EV_CLOCK_FAULT})


@dataclass(frozen=True)
class Slot:
    end: int                       # epoch s of the slot end (a :00 or :30 JST)
    forward_wh: int | None         # +A cumulative register (AC input), None = no data
    reverse_wh: int | None         # -A cumulative register (AC output), None = no data
    status: int = 0


@dataclass(frozen=True)
class SpecialValues:
    meter_id: bytes
    tolerance_class: int
    sync_status: int
    device_class: int
    slots: tuple[Slot, ...]

    def encode(self) -> bytes:
        if len(self.slots) > MAX_SLOTS:
            raise IotCodecError(f"special values: at most {MAX_SLOTS} slots per message")
        rows = [axdr.structure(axdr.octet_string(epoch_to_octets(s.end, JST_DEVIATION)),
                               axdr.null() if s.forward_wh is None else axdr.double_long_unsigned(s.forward_wh),
                               axdr.null() if s.reverse_wh is None else axdr.double_long_unsigned(s.reverse_wh),
                               axdr.unsigned(s.status | (STATUS_NO_DATA if None in (s.forward_wh, s.reverse_wh) else 0)))
                for s in self.slots]
        return axdr.encode(axdr.structure(axdr.octet_string(self.meter_id), axdr.unsigned(self.tolerance_class),
                                          axdr.unsigned(self.sync_status), axdr.long_unsigned(self.device_class),
                                          axdr.array(rows)))


@dataclass(frozen=True)
class SpecialEvent:
    meter_id: bytes
    at: int
    code: int
    detail: str = ""

    def encode(self) -> bytes:
        return axdr.encode(axdr.structure(axdr.octet_string(self.meter_id),
                                          axdr.octet_string(epoch_to_octets(self.at, JST_DEVIATION)),
                                          axdr.long_unsigned(self.code), axdr.visible_string(self.detail[:48])))


def _decode(body: bytes, n: int, what: str) -> list:
    try:
        data = axdr.decode(body)
    except DecodeError as exc:
        raise IotCodecError(f"{what}: {exc}") from None
    if data.type is not DataType.STRUCTURE or len(data.value) != n:
        raise IotCodecError(f"{what}: expected a structure of {n} elements")
    return list(data.value)


def _typed(d, t: DataType, what: str):
    if d.type is not t:
        raise IotCodecError(f"{what}: {d.type.name.lower()} where {t.name.lower()} was expected")
    return d.value


def _clock(d, what: str) -> int:
    raw = bytes(_typed(d, DataType.OCTET_STRING, what))
    if len(raw) != 12:
        raise IotCodecError(f"{what}: date-time of {len(raw)} octets")
    try:
        return int(octets_to_epoch(raw))
    except (DecodeError, ValueError, OverflowError) as exc:
        raise IotCodecError(f"{what}: {exc}") from None


def _meter_id(d) -> bytes:
    raw = bytes(_typed(d, DataType.OCTET_STRING, "special meter id"))
    if len(raw) != ID_LEN:
        raise IotCodecError(f"special meter id of {len(raw)} octets (expected {ID_LEN})")
    return raw


def _register(d, what: str) -> int | None:
    if d.type is DataType.NULL:
        return None
    return int(_typed(d, DataType.DOUBLE_LONG_UNSIGNED, what))


def decode_values(body: bytes) -> SpecialValues:
    head = _decode(body, 5, "special values")
    meter_id = _meter_id(head[0])
    tol = _typed(head[1], DataType.UNSIGNED, "tolerance class")
    if not (1 <= tol <= 7 or tol == 0xFF):
        raise IotCodecError(f"tolerance class {tol} (expected 1..7 = n1..n7 or 0xFF)")
    sync = _typed(head[2], DataType.UNSIGNED, "sync status")
    if sync not in (0, 1, 2, 0xFF):
        raise IotCodecError(f"sync status {sync}")
    cls = _typed(head[3], DataType.LONG_UNSIGNED, "device class")
    if cls not in DEVICE_CLASSES:
        raise IotCodecError(f"device class 0x{cls:04X} is not an EV charger or PV")
    rows = _typed(head[4], DataType.ARRAY, "buffer")
    if len(rows) > MAX_SLOTS:
        raise IotCodecError(f"buffer of {len(rows)} entries (at most {MAX_SLOTS})")
    slots = []
    for row in rows:
        cells = _typed(row, DataType.STRUCTURE, "buffer entry")
        if len(cells) != 4:
            raise IotCodecError("buffer entry: expected {clock, +A, -A, status}")
        end = _clock(cells[0], "slot end")
        if end % SLOT_S:
            raise IotCodecError("slot end not on a :00/:30 boundary")
        slots.append(Slot(end, _register(cells[1], "+A"), _register(cells[2], "-A"),
                          _typed(cells[3], DataType.UNSIGNED, "status")))
    ends = [s.end for s in slots]
    if len(set(ends)) != len(ends):
        raise IotCodecError("buffer repeats a slot")
    return SpecialValues(meter_id, tol, sync, cls, tuple(slots))


def decode_event(body: bytes) -> SpecialEvent:
    head = _decode(body, 4, "special event")
    code = _typed(head[2], DataType.LONG_UNSIGNED, "event code")
    if code not in EVENT_NAMES:
        raise IotCodecError(f"unknown special-meter event code {code}")
    detail = _typed(head[3], DataType.VISIBLE_STRING, "detail")
    if len(detail) > 48:
        raise IotCodecError("event detail longer than 48 characters")
    return SpecialEvent(_meter_id(head[0]), _clock(head[1], "event time"), code,
                        detail.decode("ascii", "replace") if isinstance(detail, bytes) else str(detail))
