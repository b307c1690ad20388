"""ROHM BP35C0-J11 binary UART protocol (RATOC RS-WSUHA-J11, BP35C2-J11-T01): frames and payloads.

Pure: bytes in, typed objects out, typed errors (``J11ProtocolError`` and subclasses, all
``CommsError``). Shared by the HEMS driver (``drivers/j11.py``) and the emulated dongle
(``drivers/emulated/wisun/dongle_j11.py``). Everything is big-endian. A frame is::

    0..4   unique code: D0EA83FC request (host -> module), D0F9EE5D response / notification
    4..6   command code: request 0x0xxx; its response = code | 0x2000; notifications 0x4xxx
           (active-scan result) and 0x6xxx
    6..8   message length = 4 + len(data) (the two checksums plus the data)
    8..10  header checksum: sum of octets 0..7 mod 65536
    10..12 data checksum: sum of the data octets mod 65536
    12..   data

Facts from public material on ROHM's "BP35C0-J11 UART IF specification" (command tables, the
Table 34 result codes, the payload layouts) as used by independent clients; a real version
exchange (``006B`` -> firmware ID 0x0400, 1.3, revision 0x158A) is published with the Web-Serial
tool ak1211/smartmeter-route-b-app. A response to a frame whose header checksum is wrong
carries command code 0x2FFF, one to an unknown command code 0xFFFF (same source).

Payload layouts are in ``j11_messages``. J11 channels 4-17 are the
odd SKSTACK channels 33-59; a frame is at most 1361 octets with its header.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sumame.hal.errors import CommsError

REQUEST_CODE = 0xD0EA83FC
RESPONSE_CODE = 0xD0F9EE5D
HEADER_LEN = 12
MAX_FRAME_LEN = 1361
MAX_DATA_LEN = MAX_FRAME_LEN - HEADER_LEN
MAX_UDP_PAYLOAD = 1232
RESPONSE_FLAG = 0x2000
HEADER_CHECKSUM_RESPONSE = 0x2FFF     # answer to a frame whose header checksum is wrong
UNKNOWN_COMMAND_RESPONSE = 0xFFFF     # answer to an unknown command code
CHANNELS = range(4, 18)               # J11 channel numbers (922.5-927.7 MHz, 400 kHz apart)
ALL_CHANNELS_MASK = 0x0003FFF0        # bit n = channel n
PAIRING_ID_LEN = 8
MAC_LEN = 8


class Command(IntEnum):
    """Request command codes (host -> module)."""

    OPEN_UDP_PORT = 0x0005
    CLOSE_UDP_PORT = 0x0006
    TRANSMIT_DATA = 0x0008
    ACTIVE_SCAN = 0x0051
    START_ROUTE_B = 0x0053
    SET_ROUTE_B_AUTH = 0x0054
    START_ROUTE_B_PANA = 0x0056
    TERMINATE_ROUTE_B_PANA = 0x0057
    TERMINATE_ROUTE_B = 0x0058
    SET_INITIAL = 0x005F
    GET_VERSION = 0x006B
    REAUTH_ROUTE_B_PANA = 0x00D2
    HARDWARE_RESET = 0x00D9
    GET_INITIAL = 0x0107


class Notice(IntEnum):
    """Notification command codes (module -> host, unsolicited)."""

    SCAN_RESULT = 0x4051
    DATA_RECEIVED = 0x6018
    STARTED = 0x6019
    CONNECTION_STATUS = 0x601A
    PANA_RESULT = 0x6028
    RX_FAILURE = 0x6038


class Result(IntEnum):
    """Response result octet (first data octet of every response)."""

    OK = 0x01
    NO_SUCH_ADDRESS = 0x02
    INVALID_COMMAND = 0x03
    INVALID_PARAMETER = 0x04
    INVALID_ADDRESS = 0x06
    PORT_ALREADY_OPEN = 0x0A
    PORT_NOT_OPEN = 0x0B
    MAC_CONNECTION_FAILED = 0x0E
    NOT_STARTED = 0x10
    PARAMETER_LENGTH = 0x11
    TOO_MANY_PORTS = 0x12
    RECEPTION_TIMEOUT = 0x13
    ROUTE_B_RUNNING = 0x34
    BUSY = 0x3D
    PANA_NOT_READY = 0x51
    PANA_IN_PROGRESS = 0x52
    PANA_NO_SESSION = 0x53
    HEADER_CHECKSUM = 0xF0
    DATA_CHECKSUM = 0xF1
    LENGTH_SHORT = 0xF2
    LENGTH_OVER = 0xF3


RESULT_TEXT = {
    0x01: "success", 0x02: "address not in the device list", 0x03: "invalid command code",
    0x04: "invalid parameter value", 0x06: "invalid destination address", 0x0A: "UDP port already open",
    0x0B: "UDP port not open", 0x0E: "MAC connection failed", 0x0F: "HAN running or wrong mode",
    0x10: "route B / HAN not started", 0x11: "parameter length out of range", 0x12: "too many open ports",
    0x13: "command data did not arrive within 1 s", 0x14: "not possible in this operation mode",
    0x33: "HAN authenticating", 0x34: "route B already running", 0x35: "route B authenticating",
    0x37: "not started", 0x3C: "ping already pending", 0x3D: "another request is in progress",
    0x3E: "PAN ID is route B's or FFFF", 0x3F: "deep sleep failed", 0x46: "poll failed",
    0x51: "PANA: settings missing", 0x52: "PANA: sequence in progress", 0x53: "PANA: no such session",
    0x58: "PANA: credentials already set", 0x59: "PANA: too many entries", 0x61: "bad OTA client state",
    0xF0: "header checksum error", 0xF1: "data checksum error", 0xF2: "message shorter than its length",
    0xF3: "message length over the maximum",
}


class OperationMode(IntEnum):
    HAN_PAN_COORDINATOR = 0x01
    HAN_COORDINATOR = 0x02
    HAN_END_DEVICE = 0x03
    DUAL = 0x05                       # route B + HAN (what route-B clients use)


class PanaOutcome(IntEnum):
    SUCCESS = 0x01
    FAILED = 0x02
    NO_RESPONSE = 0x03


class LinkStatus(IntEnum):
    MAC_CONNECTED = 0x01
    PANA_CONNECTED = 0x02
    MAC_DISCONNECTED = 0x03
    PANA_DISCONNECTED = 0x04


# --------------------------------------------------------------------------- errors


class J11ProtocolError(CommsError):
    """Base of every J11 framing / payload error."""


class UniqueCodeError(J11ProtocolError):
    """The frame does not start with a J11 unique code."""


class HeaderChecksumError(J11ProtocolError):
    pass


class DataChecksumError(J11ProtocolError):
    pass


class LengthError(J11ProtocolError):
    """Message length below 4 or over the maximum, or a buffer of the wrong size."""


class TruncatedFrame(J11ProtocolError):
    """Fewer octets than the header announces."""


class PayloadError(J11ProtocolError):
    """The data part does not have the layout of its command."""


class J11CommandError(J11ProtocolError):
    """The module answered a request with a result other than 0x01."""

    def __init__(self, command: int, result: int):
        super().__init__(f"J11 command 0x{command:04X} failed: result 0x{result:02X} "
                         f"({RESULT_TEXT.get(result, 'unknown result')})")
        self.command, self.result = command, result


# --------------------------------------------------------------------------- frames


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFF


@dataclass(frozen=True)
class Frame:
    command: int
    data: bytes = b""
    unique: int = RESPONSE_CODE

    @property
    def is_response(self) -> bool:
        return self.command & 0xF000 == RESPONSE_FLAG or self.command == UNKNOWN_COMMAND_RESPONSE

    @property
    def result(self) -> int | None:
        return self.data[0] if self.is_response and self.data else None

    def encode(self) -> bytes:
        return encode_frame(self.command, self.data, self.unique)


def encode_frame(command: int, data: bytes = b"", unique: int = REQUEST_CODE) -> bytes:
    if unique not in (REQUEST_CODE, RESPONSE_CODE):
        raise UniqueCodeError(f"unique code 0x{unique:08X} is not a J11 code")
    if not 0 <= command <= 0xFFFF:
        raise PayloadError(f"command code {command} out of 0-0xFFFF")
    if len(data) > MAX_DATA_LEN:
        raise LengthError(f"{len(data)} data octets exceed the {MAX_DATA_LEN}-octet maximum")
    head = unique.to_bytes(4, "big") + command.to_bytes(2, "big") + (4 + len(data)).to_bytes(2, "big")
    return head + checksum(head).to_bytes(2, "big") + checksum(data).to_bytes(2, "big") + bytes(data)


def response_frame(command: int, data: bytes) -> bytes:
    """A module -> host frame (response or notification)."""
    return encode_frame(command, data, RESPONSE_CODE)


@dataclass(frozen=True)
class Header:
    unique: int
    command: int
    length: int            # message length field (4 + data octets)
    data_checksum: int

    @property
    def data_len(self) -> int:
        return self.length - 4


def decode_header(raw: bytes) -> Header:
    if len(raw) < HEADER_LEN:
        raise TruncatedFrame(f"header needs {HEADER_LEN} octets, got {len(raw)}")
    unique = int.from_bytes(raw[0:4], "big")
    if unique not in (REQUEST_CODE, RESPONSE_CODE):
        raise UniqueCodeError(f"unique code 0x{unique:08X} is not a J11 code")
    if checksum(raw[0:8]) != int.from_bytes(raw[8:10], "big"):
        raise HeaderChecksumError("J11 header checksum mismatch")
    length = int.from_bytes(raw[6:8], "big")
    command = int.from_bytes(raw[4:6], "big")
    if length < 4 or length > MAX_DATA_LEN + 4:
        raise LengthError(f"message length {length} outside 4-{MAX_DATA_LEN + 4} (command 0x{command:04X})")
    return Header(unique, command, length, int.from_bytes(raw[10:12], "big"))


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame (no trailing octets)."""
    head = decode_header(raw)
    total = HEADER_LEN + head.data_len
    if len(raw) < total:
        raise TruncatedFrame(f"frame 0x{head.command:04X} needs {total} octets, got {len(raw)}")
    if len(raw) > total:
        raise LengthError(f"{len(raw) - total} octets after the frame")
    data = bytes(raw[HEADER_LEN:total])
    if checksum(data) != head.data_checksum:
        raise DataChecksumError(f"J11 data checksum mismatch (command 0x{head.command:04X})")
    return Frame(head.command, data, head.unique)


@dataclass(frozen=True)
class Fault:
    """Something a ``FrameReader`` threw away. kind: "garbage" (octets before a unique code),
    "header-checksum", "length-short" / "length-over" (message length field), "data-checksum",
    "truncated" (``drop_pending``). command: the header's command code when it was readable."""

    kind: str
    command: int | None
    octets: int


class FrameReader:
    """Incremental reassembly of one direction's byte stream into ``Frame`` / ``Fault`` items.

    ``accept``: the unique code this side receives (REQUEST_CODE on the module, RESPONSE_CODE on
    the host); anything else is garbage. Memory is bounded by one maximum frame; each call costs
    O(len(data)) plus O(buffer)."""

    def __init__(self, accept: int):
        self._code = accept.to_bytes(4, "big")
        self._buf = bytearray()
        self._header: Header | None = None
        self.headers = 0                  # headers accepted so far (identifies the pending frame)

    @property
    def pending(self) -> int | None:
        """Command code of a frame whose header arrived but whose data is incomplete."""
        return self._header.command if self._header is not None else None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def drop_pending(self) -> Fault | None:
        """Give up on the incomplete frame (the module's 1 s reception timeout)."""
        if self._header is None and not self._buf:
            return None
        fault = Fault("truncated", self.pending, len(self._buf))
        self._buf.clear()
        self._header = None
        return fault

    def reset(self) -> None:
        self._buf.clear()
        self._header = None

    def feed(self, data: bytes) -> list:
        """Frames and faults completed by ``data``; linear in the octets buffered (one cursor,
        one trim at the end), whatever the chunk size."""
        buf = self._buf
        buf += data
        out: list = []
        pos = 0
        while True:
            if self._header is None:
                at = buf.find(self._code, pos)
                if at < 0:
                    junk = max(len(buf) - 3, pos) - pos        # a unique code may straddle chunks
                    if junk:
                        out.append(Fault("garbage", None, junk))
                    pos += junk
                    break
                if at > pos:
                    out.append(Fault("garbage", None, at - pos))
                    pos = at
                if len(buf) - pos < HEADER_LEN:
                    break
                raw = bytes(buf[pos:pos + HEADER_LEN])
                try:
                    self._header = decode_header(raw)
                    self.headers += 1
                except HeaderChecksumError:
                    out.append(Fault("header-checksum", None, 4))
                    pos += 4
                    continue
                except LengthError:
                    length = int.from_bytes(raw[6:8], "big")
                    out.append(Fault("length-short" if length < 4 else "length-over",
                                     int.from_bytes(raw[4:6], "big"), HEADER_LEN))
                    pos += HEADER_LEN
                    continue
            head = self._header
            total = HEADER_LEN + head.data_len
            if len(buf) - pos < total:
                break
            payload = bytes(buf[pos + HEADER_LEN:pos + total])
            pos += total
            self._header = None
            if checksum(payload) != head.data_checksum:
                out.append(Fault("data-checksum", head.command, total))
            else:
                out.append(Frame(head.command, payload, head.unique))
        del buf[:pos]
        return out


def result_of(frame: Frame) -> int:
    if not frame.data:
        raise PayloadError(f"response 0x{frame.command:04X} has no result octet")
    return frame.data[0]


def check_result(frame: Frame) -> bytes:
    """The data after the result octet; ``J11CommandError`` when the result is not success."""
    result = result_of(frame)
    if result != Result.OK:
        raise J11CommandError(frame.command & ~RESPONSE_FLAG & 0xFFFF, result)
    return frame.data[1:]
