"""Payloads (data parts) of the BP35C0-J11 UART frames: typed encode/decode per command and
notification, plus channel, RSSI and address helpers. Pure; errors are ``PayloadError``.

Layouts as public J11 clients use them (see ``j11_protocol``): big-endian; RSSI octets signed
dBm; MACs 8 octets (EUI-64, the link-local address inverts its U/L bit); ports 16-bit.
"""
from __future__ import annotations

from dataclasses import dataclass

from .j11_protocol import ALL_CHANNELS_MASK, CHANNELS, MAC_LEN, PAIRING_ID_LEN, OperationMode, PayloadError

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
