"""sumame IoT-route application messages (our own design; the real spec is not public).

Pure codec: bytes in, typed objects out, ``IotCodecError`` on anything malformed. Carried in
UDP to/from port ``APP_PORT`` (61617, 6LoWPAN-compressible) over the Enhanced HAN link, which
is already CCM*-protected per terminal (PANA/EAP-PSK keys).

Frame: ``version u8 (=1) | type u8 | msg_id u16 | body``; integers big-endian; times are epoch
seconds (u32, UTC); volumes are cumulative counts in litres (0.001 m³, as ECHONET 0x0282 E0).

=====  ===============  =============================================================
type   name             body
=====  ===============  =============================================================
0x01   HELLO            kind u8 (1 gas, 2 water, 3 special) | meter id 6 | terminal clock u32
0x02   POLL             terminal clock u32 | battery ‰ u16  (a sleep device is awake)
0x03   TIME             meter clock u32 | more u8 (downlink pending)   (time sync)
0x04   ACK              acked msg_id u16 | status u8 (0 ok, else an ERR_* code)
0x10   VALUES           kind u8 | first hour u32 | n u8 | n × (litres u32 | flags u8)
0x11   ALARM            code u8 | at u32 | detail u8
0x12   SPECIAL_VALUES   special-meter 30-min registers, A-XDR (``special_cosem.py``)
0x13   SPECIAL_EVENT    special-meter terminal event-log entry, A-XDR (``special_cosem.py``)
0x20   COMMAND          sealed company command (opaque to the meter, see ``seal``)
0x21   COMMAND_RESULT   sealed terminal result (opaque to the meter)
0x22   HISTORY_REQUEST  first hour u32 | last hour u32   (gap fill, inclusive)
0x30   READ             resource u16   (a terminal asking the meter for data: never served)
=====  ===============  =============================================================

Valve commands are sealed end to end between the gas company and the terminal with a per-
terminal command key (AES-CMAC, 8-octet tag) and a strictly increasing counter; the meter and
the head-end only carry them. ``seal``/``open_sealed`` are that envelope.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from sumame.firmware.net.eap_psk import aes_cmac

VERSION = 1
APP_PORT = 0xF0B1
HELLO, POLL, TIME, ACK, VALUES, ALARM = 0x01, 0x02, 0x03, 0x04, 0x10, 0x11
SPECIAL_VALUES, SPECIAL_EVENT = 0x12, 0x13
COMMAND, COMMAND_RESULT, HISTORY_REQUEST, READ = 0x20, 0x21, 0x22, 0x30
NAMES = {HELLO: "hello", POLL: "poll", TIME: "time", ACK: "ack", VALUES: "values", ALARM: "alarm",
         COMMAND: "command", COMMAND_RESULT: "command-result", HISTORY_REQUEST: "history-request",
         READ: "read", SPECIAL_VALUES: "special-values", SPECIAL_EVENT: "special-event"}
UPLINK_TYPES = frozenset({HELLO, POLL, ACK, VALUES, ALARM, COMMAND_RESULT, SPECIAL_VALUES, SPECIAL_EVENT})
"""What a terminal may send; anything else from a terminal is refused."""

KIND_GAS, KIND_WATER, KIND_SPECIAL = 1, 2, 3
KIND_NAMES = {KIND_GAS: "gas", KIND_WATER: "water", KIND_SPECIAL: "special"}
METER_KINDS = frozenset({KIND_GAS, KIND_WATER})
"""Kinds whose terminals send hourly ``VALUES`` (a special-meter terminal sends ``SPECIAL_VALUES``)."""
ERR_NONE, ERR_REFUSED, ERR_NOT_ALLOWED, ERR_CUT_OFF, ERR_RATE, ERR_MALFORMED = 0, 1, 2, 3, 4, 5

# alarm codes (terminal -> company)
ALARM_LEAK, ALARM_EARTHQUAKE, ALARM_ABNORMAL_FLOW, ALARM_LOW_BATTERY, ALARM_VALVE_CLOSED = 1, 2, 3, 4, 5
ALARM_NAMES = {ALARM_LEAK: "leak-shutoff", ALARM_EARTHQUAKE: "earthquake-shutoff",
               ALARM_ABNORMAL_FLOW: "abnormal-flow", ALARM_LOW_BATTERY: "low-battery",
               ALARM_VALVE_CLOSED: "valve-closed"}
FLAG_ABNORMAL, FLAG_VALVE_CLOSED, FLAG_NO_DATA = 0x01, 0x02, 0x80
MAX_VALUES = 48


class IotCodecError(ValueError):
    """A malformed IoT-route application message."""


@dataclass(frozen=True)
class Message:
    type: int
    msg_id: int
    body: bytes

    @property
    def name(self) -> str:
        return NAMES.get(self.type, f"0x{self.type:02X}")


def encode(msg_type: int, msg_id: int, body: bytes = b"") -> bytes:
    return struct.pack(">BBH", VERSION, msg_type, msg_id & 0xFFFF) + body


def decode(data: bytes) -> Message:
    if len(data) < 4:
        raise IotCodecError(f"message of {len(data)} octets is shorter than its 4-octet header")
    version, msg_type, msg_id = struct.unpack_from(">BBH", data)
    if version != VERSION:
        raise IotCodecError(f"application version {version} (expected {VERSION})")
    if msg_type not in NAMES:
        raise IotCodecError(f"unknown message type 0x{msg_type:02X}")
    return Message(msg_type, msg_id, bytes(data[4:]))


def _fixed(body: bytes, fmt: str, what: str) -> tuple:
    if len(body) != struct.calcsize(fmt):
        raise IotCodecError(f"{what}: body of {len(body)} octets, expected {struct.calcsize(fmt)}")
    return struct.unpack(fmt, body)


# ---------------------------------------------------------------- bodies
@dataclass(frozen=True)
class Hello:
    kind: int
    meter_id: bytes
    clock: int

    def encode(self) -> bytes:
        return struct.pack(">B6sI", self.kind, self.meter_id, self.clock)

    @classmethod
    def decode(cls, body: bytes) -> "Hello":
        kind, meter_id, clock = _fixed(body, ">B6sI", "hello")
        if kind not in KIND_NAMES:
            raise IotCodecError(f"hello: unknown terminal kind {kind}")
        return cls(kind, meter_id, clock)


def poll_body(clock: int, battery_permille: int) -> bytes:
    return struct.pack(">IH", clock, battery_permille)


def parse_poll(body: bytes) -> tuple[int, int]:
    return _fixed(body, ">IH", "poll")


def time_body(clock: int, more: bool) -> bytes:
    return struct.pack(">IB", int(clock), int(more))


def parse_time(body: bytes) -> tuple[int, bool]:
    clock, more = _fixed(body, ">IB", "time")
    return clock, bool(more)


def ack_body(msg_id: int, status: int = ERR_NONE) -> bytes:
    return struct.pack(">HB", msg_id & 0xFFFF, status)


def parse_ack(body: bytes) -> tuple[int, int]:
    return _fixed(body, ">HB", "ack")


@dataclass(frozen=True)
class Values:
    """``values``: (litres, flags) per hour from ``first_hour`` (epoch s of the hour's end)."""

    kind: int
    first_hour: int
    values: tuple[tuple[int, int], ...]

    def encode(self) -> bytes:
        if len(self.values) > MAX_VALUES:
            raise IotCodecError(f"values: at most {MAX_VALUES} per message")
        return struct.pack(">BIB", self.kind, self.first_hour, len(self.values)) + b"".join(
            struct.pack(">IB", litres, flags) for litres, flags in self.values)

    @classmethod
    def decode(cls, body: bytes) -> "Values":
        if len(body) < 6:
            raise IotCodecError("values: body shorter than its 6-octet head")
        kind, first, n = struct.unpack_from(">BIB", body)
        if kind not in METER_KINDS:
            raise IotCodecError(f"values: unknown kind {kind}")
        if n > MAX_VALUES or len(body) != 6 + 5 * n:
            raise IotCodecError(f"values: {n} entries do not match {len(body)} octets")
        if first % 3600:
            raise IotCodecError("values: first hour not on an hour boundary")
        vals = tuple(struct.unpack_from(">IB", body, 6 + 5 * i) for i in range(n))
        return cls(kind, first, vals)

    def hours(self):
        for i, (litres, flags) in enumerate(self.values):
            yield self.first_hour + 3600 * i, litres, flags


@dataclass(frozen=True)
class Alarm:
    code: int
    at: int
    detail: int = 0

    def encode(self) -> bytes:
        return struct.pack(">BIB", self.code, self.at, self.detail)

    @classmethod
    def decode(cls, body: bytes) -> "Alarm":
        code, at, detail = _fixed(body, ">BIB", "alarm")
        if code not in ALARM_NAMES:
            raise IotCodecError(f"alarm: unknown code {code}")
        return cls(code, at, detail)


def history_body(first: int, last: int) -> bytes:
    return struct.pack(">II", first, last)


def parse_history(body: bytes) -> tuple[int, int]:
    first, last = _fixed(body, ">II", "history request")
    if last < first or (last - first) > 10 * 86400:
        raise IotCodecError("history request: range reversed or longer than 10 days")
    return first, last


# ---------------------------------------------------------------- end-to-end sealed commands
OP_CLOSE, OP_OPEN = 1, 2
OP_NAMES = {OP_CLOSE: "close", OP_OPEN: "open"}
RESULT_OK, RESULT_BAD_TAG, RESULT_REPLAY, RESULT_NOT_PERMITTED, RESULT_MALFORMED = 0, 1, 2, 3, 4
RESULT_NAMES = {RESULT_OK: "ok", RESULT_BAD_TAG: "bad-tag", RESULT_REPLAY: "replay",
                RESULT_NOT_PERMITTED: "not-permitted", RESULT_MALFORMED: "malformed"}
TAG_LEN = 8
_CMD_DOMAIN, _RES_DOMAIN = b"\x01", b"\x02"


@dataclass(frozen=True)
class SealedCommand:
    terminal_id: bytes      # 8 ASCII octets
    counter: int
    op: int
    issued_at: int

    def plain(self) -> bytes:
        return struct.pack(">8sIBI", self.terminal_id, self.counter, self.op, self.issued_at)

    def seal(self, key: bytes) -> bytes:
        p = self.plain()
        return p + aes_cmac(key, _CMD_DOMAIN + p)[:TAG_LEN]


def parse_command(blob: bytes) -> tuple[SealedCommand, bytes, bytes]:
    """(command, plain, tag) — the tag is *not* checked here (see ``tag_ok``)."""
    if len(blob) != 17 + TAG_LEN:
        raise IotCodecError(f"command: {len(blob)} octets, expected {17 + TAG_LEN}")
    tid, counter, op, at = struct.unpack_from(">8sIBI", blob)
    return SealedCommand(tid, counter, op, at), blob[:17], blob[17:]


def command_tag_ok(key: bytes, plain: bytes, tag: bytes) -> bool:
    import hmac
    return hmac.compare_digest(aes_cmac(key, _CMD_DOMAIN + plain)[:TAG_LEN], tag)


@dataclass(frozen=True)
class SealedResult:
    terminal_id: bytes
    counter: int
    result: int
    valve_open: bool
    reason: int

    def plain(self) -> bytes:
        return struct.pack(">8sIBBB", self.terminal_id, self.counter, self.result, int(self.valve_open), self.reason)

    def seal(self, key: bytes) -> bytes:
        p = self.plain()
        return p + aes_cmac(key, _RES_DOMAIN + p)[:TAG_LEN]


def open_result(key: bytes, blob: bytes) -> SealedResult:
    """The terminal's result, tag checked; IotCodecError when forged or malformed."""
    import hmac
    if len(blob) != 15 + TAG_LEN:
        raise IotCodecError(f"command result: {len(blob)} octets, expected {15 + TAG_LEN}")
    plain, tag = blob[:15], blob[15:]
    if not hmac.compare_digest(aes_cmac(key, _RES_DOMAIN + plain)[:TAG_LEN], tag):
        raise IotCodecError("command result: bad tag")
    tid, counter, result, valve, reason = struct.unpack(">8sIBBB", plain)
    return SealedResult(tid, counter, result, bool(valve), reason)


def result_terminal(blob: bytes) -> tuple[bytes, int]:
    """(terminal id, counter) of a sealed result without checking it (routing only)."""
    if len(blob) < 12:
        raise IotCodecError("command result too short")
    return struct.unpack_from(">8sI", blob)
