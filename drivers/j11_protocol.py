"""ROHM BP35C0-J11 binary UART protocol (RATOC RS-WSUHA-J11, BP35C2-J11-T01): frames and payloads.

Pure: bytes in, typed objects out, typed errors (``J11ProtocolError`` and subclasses, all
``CommsError``). Shared by the HEMS driver (``drivers/j11.py``) and the emulated dongle
(``drivers/emulated/dongle_j11.py``). Everything is big-endian. A frame is::

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

RSSI octets are signed dBm (two's complement, e.g. 0xC4 = -60 dBm). J11 channels 4-17 are the
odd SKSTACK channels 33-59 (``sk_channel``); a frame is at most 1361 octets with its header.
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
        self._buf += data
        out: list = []
        while True:
            if self._header is None:
                at = self._buf.find(self._code)
                if at < 0:
                    keep = min(len(self._buf), 3)          # a unique code may straddle chunks
                    junk = len(self._buf) - keep
                    if junk:
                        out.append(Fault("garbage", None, junk))
                        del self._buf[:junk]
                    return out
                if at:
                    out.append(Fault("garbage", None, at))
                    del self._buf[:at]
                if len(self._buf) < HEADER_LEN:
                    return out
                raw = bytes(self._buf[:HEADER_LEN])
                command = int.from_bytes(raw[4:6], "big")
                try:
                    self._header = decode_header(raw)
                    self.headers += 1
                except HeaderChecksumError:
                    out.append(Fault("header-checksum", None, 4))
                    del self._buf[:4]
                    continue
                except LengthError:
                    length = int.from_bytes(raw[6:8], "big")
                    out.append(Fault("length-short" if length < 4 else "length-over", command, HEADER_LEN))
                    del self._buf[:HEADER_LEN]
                    continue
            head = self._header
            total = HEADER_LEN + head.data_len
            if len(self._buf) < total:
                return out
            payload = bytes(self._buf[HEADER_LEN:total])
            del self._buf[:total]
            self._header = None
            if checksum(payload) != head.data_checksum:
                out.append(Fault("data-checksum", head.command, total))
            else:
                out.append(Frame(head.command, payload, head.unique))


# --------------------------------------------------------------------------- helpers


def sk_channel(j11_channel: int) -> int:
    """SKSTACK logical channel (33-59, odd) of a J11 channel number (4-17)."""
    if j11_channel not in CHANNELS:
        raise PayloadError(f"J11 channel {j11_channel} outside 4-17")
    return 25 + 2 * j11_channel


def j11_channel(sk: int) -> int | None:
    """J11 channel of an SKSTACK channel, None when the J11 has no such channel (even ones, 60)."""
    if sk % 2 == 0 or not 33 <= sk <= 59:
        return None
    return (sk - 25) // 2


def rssi_octet(dbm: int) -> int:
    return max(-128, min(127, dbm)) & 0xFF


def rssi_dbm(octet: int) -> int:
    return octet - 256 if octet >= 0x80 else octet


def lqi_to_dbm(lqi: int) -> int:
    """RSSI of an SKSTACK LQI (0.275 x LQI - 104.27 dBm, BP35A1 manual)."""
    return round(0.275 * lqi - 104.27)


def _need(data: bytes, size: int, what: str, exact: bool = False) -> None:
    if len(data) < size or (exact and len(data) != size):
        raise PayloadError(f"{what} needs {'exactly ' if exact else ''}{size} octets, got {len(data)}")


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


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class InitialSettings:
    """005F request data / 2107 response data. channel: J11 channel 4-17; tx_power 0 = 20 mW,
    1 = 10 mW, 2 = 1 mW."""

    mode: int = OperationMode.DUAL
    han_sleep: bool = False
    channel: int = 4
    tx_power: int = 0

    def encode(self) -> bytes:
        return bytes([self.mode, int(self.han_sleep), self.channel, self.tx_power])

    @classmethod
    def decode(cls, data: bytes) -> "InitialSettings":
        _need(data, 4, "initial settings", exact=True)
        return cls(data[0], bool(data[1]), data[2], data[3])

    def check(self) -> None:
        if (self.mode not in (1, 2, 3, 5) or self.channel not in CHANNELS or self.tx_power > 2
                or int(self.han_sleep) > 1):
            raise PayloadError("initial settings out of range")


@dataclass(frozen=True)
class ScanRequest:
    """0051 data. duration 1-14: per-channel dwell 9.64 ms x 2^duration; channel_mask bit n =
    J11 channel n; pairing_id: 8 ASCII octets (the route-B ID's last 8 characters) or None."""

    duration: int
    channel_mask: int = ALL_CHANNELS_MASK
    pairing_id: bytes | None = None

    def encode(self) -> bytes:
        head = bytes([self.duration]) + self.channel_mask.to_bytes(4, "big")
        if self.pairing_id is None:
            return head + b"\x00"
        return head + b"\x01" + self.pairing_id

    @classmethod
    def decode(cls, data: bytes) -> "ScanRequest":
        _need(data, 6, "active scan request")
        flag = data[5]
        if flag == 0 and len(data) == 6:
            return cls(data[0], int.from_bytes(data[1:5], "big"), None)
        if flag == 1 and len(data) == 6 + PAIRING_ID_LEN:
            return cls(data[0], int.from_bytes(data[1:5], "big"), bytes(data[6:14]))
        raise PayloadError(f"active scan request of {len(data)} octets with ID flag {flag}")

    @property
    def channels(self) -> list[int]:
        return [c for c in CHANNELS if self.channel_mask >> c & 1]


@dataclass(frozen=True)
class Beacon:
    mac: bytes
    pan_id: int
    rssi: int                         # dBm


@dataclass(frozen=True)
class ScanResult:
    """4051 data: one per scanned channel, with the beacons heard there (none = no response)."""

    channel: int
    beacons: tuple[Beacon, ...] = ()

    def encode(self) -> bytes:
        if not self.beacons:
            return bytes([0x01, self.channel])
        body = b"".join(b.mac + b.pan_id.to_bytes(2, "big") + bytes([rssi_octet(b.rssi)]) for b in self.beacons)
        return bytes([0x00, self.channel, len(self.beacons)]) + body

    @classmethod
    def decode(cls, data: bytes) -> "ScanResult":
        _need(data, 2, "scan result")
        if data[0] == 0x01:
            return cls(data[1])
        if data[0] != 0x00:
            raise PayloadError(f"scan result code 0x{data[0]:02X}")
        _need(data, 3, "scan result")
        count = data[2]
        _need(data, 3 + 11 * count, f"scan result with {count} beacons", exact=True)
        beacons = tuple(Beacon(bytes(data[i:i + 8]), int.from_bytes(data[i + 8:i + 10], "big"),
                               rssi_dbm(data[i + 10])) for i in range(3, 3 + 11 * count, 11))
        return cls(data[1], beacons)


@dataclass(frozen=True)
class RouteBLink:
    """2053 data after the result: the meter the module connected to."""

    channel: int
    pan_id: int
    mac: bytes
    rssi: int

    def encode(self) -> bytes:
        return bytes([self.channel]) + self.pan_id.to_bytes(2, "big") + self.mac + bytes([rssi_octet(self.rssi)])

    @classmethod
    def decode(cls, data: bytes) -> "RouteBLink":
        _need(data, 12, "route-B start result", exact=True)
        return cls(data[0], int.from_bytes(data[1:3], "big"), bytes(data[3:11]), rssi_dbm(data[11]))

    @property
    def address(self) -> bytes:
        """The meter's link-local IPv6 address (U/L bit of the MAC inverted)."""
        return link_local(self.mac)


def link_local(mac: bytes) -> bytes:
    if len(mac) != MAC_LEN:
        raise PayloadError(f"MAC needs 8 octets, got {len(mac)}")
    return bytes.fromhex("fe80000000000000") + bytes([mac[0] ^ 0x02]) + mac[1:]


@dataclass(frozen=True)
class Credentials:
    """0054 data: route-B ID (32 ASCII) + password (12 ASCII)."""

    rbid: str
    password: str

    def encode(self) -> bytes:
        raw = self.rbid.encode("ascii") + self.password.encode("ascii")
        if len(self.rbid) != 32 or len(self.password) != 12:
            raise PayloadError("route-B ID must be 32 and password 12 characters")
        return raw

    @classmethod
    def decode(cls, data: bytes) -> "Credentials":
        _need(data, 44, "route-B credentials", exact=True)
        if any(b < 0x21 or b > 0x7E for b in data):
            raise PayloadError("route-B credentials must be printable ASCII")
        return cls(data[:32].decode("ascii"), data[32:].decode("ascii"))


@dataclass(frozen=True)
class TransmitRequest:
    """0008 data: destination IPv6 (16), source port, destination port, length, payload."""

    dst: bytes
    src_port: int
    dst_port: int
    payload: bytes

    def encode(self) -> bytes:
        if len(self.dst) != 16:
            raise PayloadError("destination must be 16 octets")
        return (self.dst + self.src_port.to_bytes(2, "big") + self.dst_port.to_bytes(2, "big")
                + len(self.payload).to_bytes(2, "big") + self.payload)

    @classmethod
    def decode(cls, data: bytes) -> "TransmitRequest":
        _need(data, 22, "transmit request")
        size = int.from_bytes(data[20:22], "big")
        if size != len(data) - 22:
            raise PayloadError(f"transmit request announces {size} payload octets, carries {len(data) - 22}")
        return cls(bytes(data[:16]), int.from_bytes(data[16:18], "big"), int.from_bytes(data[18:20], "big"),
                   bytes(data[22:]))


@dataclass(frozen=True)
class TransmitResult:
    """2008 data after the result: high nibble 1 = queued (indirect), low nibble the
    transmission result (0 sent, 5 no MAC ACK)."""

    queued: bool
    tx_result: int

    @property
    def sent(self) -> bool:
        return self.tx_result == 0

    def encode(self) -> bytes:
        return bytes([(int(self.queued) << 4) | (self.tx_result & 0x0F)])

    @classmethod
    def decode(cls, data: bytes) -> "TransmitResult":
        _need(data, 1, "transmit result")
        return cls(bool(data[0] >> 4), data[0] & 0x0F)


@dataclass(frozen=True)
class DataReceived:
    """6018 data: a UDP datagram for an open port."""

    src: bytes
    src_port: int
    dst_port: int
    src_pan: int
    multicast: bool
    encrypted: bool
    rssi: int
    payload: bytes

    def encode(self) -> bytes:
        return (self.src + self.src_port.to_bytes(2, "big") + self.dst_port.to_bytes(2, "big")
                + self.src_pan.to_bytes(2, "big") + bytes([int(self.multicast), 0x02 if self.encrypted else 0x01,
                                                          rssi_octet(self.rssi)])
                + len(self.payload).to_bytes(2, "big") + self.payload)

    @classmethod
    def decode(cls, data: bytes) -> "DataReceived":
        _need(data, 27, "data reception")
        size = int.from_bytes(data[25:27], "big")
        if size != len(data) - 27:
            raise PayloadError(f"data reception announces {size} octets, carries {len(data) - 27}")
        return cls(bytes(data[:16]), int.from_bytes(data[16:18], "big"), int.from_bytes(data[18:20], "big"),
                   int.from_bytes(data[20:22], "big"), data[22] == 0x01, data[23] == 0x02, rssi_dbm(data[24]),
                   bytes(data[27:]))


@dataclass(frozen=True)
class PanaResult:
    """6028 data: outcome (PanaOutcome) and the authenticator's MAC."""

    outcome: int
    mac: bytes

    def encode(self) -> bytes:
        return bytes([self.outcome]) + self.mac

    @classmethod
    def decode(cls, data: bytes) -> "PanaResult":
        _need(data, 9, "PANA result", exact=True)
        return cls(data[0], bytes(data[1:9]))


@dataclass(frozen=True)
class ConnectionStatus:
    """601A data: LinkStatus, the peer's MAC, RSSI dBm."""

    status: int
    mac: bytes
    rssi: int

    def encode(self) -> bytes:
        return bytes([self.status]) + self.mac + bytes([rssi_octet(self.rssi)])

    @classmethod
    def decode(cls, data: bytes) -> "ConnectionStatus":
        _need(data, 10, "connection status", exact=True)
        return cls(data[0], bytes(data[1:9]), rssi_dbm(data[9]))


@dataclass(frozen=True)
class Version:
    """206B data after the result: firmware ID, major.minor, 32-bit revision."""

    firmware_id: int
    major: int
    minor: int
    revision: int

    def encode(self) -> bytes:
        return (self.firmware_id.to_bytes(2, "big") + bytes([self.major, self.minor])
                + self.revision.to_bytes(4, "big"))

    @classmethod
    def decode(cls, data: bytes) -> "Version":
        _need(data, 8, "version", exact=True)
        return cls(int.from_bytes(data[0:2], "big"), data[2], data[3], int.from_bytes(data[4:8], "big"))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}"
