"""6LoWPAN (RFC 6282) IPHC + UDP next-header compression for link-local route-B traffic.

Pure codec: a UDP datagram between IPv6 link-local (or ff02::/16 multicast) addresses to and
from the MAC payload of an IEEE 802.15.4 data frame. The 802.15.4 64-bit addresses are passed
in because IPHC rebuilds elided interface identifiers from them.

What we emit (what a route-B dongle puts on air, [V] in the reference):
``IPHC 0x7E 0x33`` (TF elided, NH compressed, hop limit 64, both IIDs elided) or, for ff02::1,
M=1 DAM=11 with the one inline octet; then UDP NHC ``0xF0`` with both ports and the checksum
inline (716 and 3610 are not compressible). What we accept: every IPHC form without context
(SAC/DAC = 0) and UDP NHC with any port compression; a UDP checksum that does not verify is an
error.

Addresses are ``bytes`` of 16 (IPv6) and 8 (EUI-64, written order).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

LINK_LOCAL_PREFIX = bytes.fromhex("fe80000000000000")
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
UDP_NEXT_HEADER = 17
PANA_PORT = 716
ECHONET_PORT = 3610


class LowpanError(ValueError):
    """A 6LoWPAN payload that cannot be decoded (unsupported dispatch, truncated, bad checksum)."""


@dataclass(frozen=True)
class UdpDatagram:
    """A UDP datagram with its IPv6 addresses (16 bytes each) and hop limit."""

    src: bytes
    dst: bytes
    src_port: int
    dst_port: int
    payload: bytes
    hop_limit: int = 64


def link_local(eui64: bytes) -> bytes:
    """fe80::/64 address whose IID is the EUI-64 with the U/L bit (0x02) inverted."""
    if len(eui64) != 8:
        raise LowpanError(f"EUI-64 must be 8 octets, got {len(eui64)}")
    return LINK_LOCAL_PREFIX + bytes([eui64[0] ^ 0x02]) + bytes(eui64[1:])


def eui64_of(link_local_addr: bytes) -> bytes:
    """Inverse of ``link_local``; LowpanError if not fe80::/64."""
    if len(link_local_addr) != 16 or link_local_addr[:8] != LINK_LOCAL_PREFIX:
        raise LowpanError("not an fe80::/64 link-local address")
    iid = link_local_addr[8:]
    return bytes([iid[0] ^ 0x02]) + iid[1:]


def udp_checksum(src: bytes, dst: bytes, src_port: int, dst_port: int, payload: bytes) -> int:
    """UDP checksum over the IPv6 pseudo-header (RFC 8200 §8.1); 0 is sent as 0xFFFF."""
    length = 8 + len(payload)
    data = (src + dst + struct.pack(">IxxxB", length, UDP_NEXT_HEADER)
            + struct.pack(">HHHH", src_port, dst_port, length, 0) + payload)
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF) or 0xFFFF


_HLIM = {1: 0b01, 64: 0b10, 255: 0b11}


def encode(dgram: UdpDatagram, src_mac: bytes, dst_mac: bytes | None) -> bytes:
    """IPHC + UDP NHC bytes for ``dgram`` sent from ``src_mac`` to ``dst_mac`` (None = broadcast)."""
    hl_bits = _HLIM.get(dgram.hop_limit, 0)
    b0 = 0b011_11_1_00 | hl_bits          # dispatch 011, TF=11, NH=1
    inline = b"" if hl_bits else bytes([dgram.hop_limit])
    # source
    if dgram.src == link_local(src_mac):
        sam = 0b11
    elif dgram.src[:8] == LINK_LOCAL_PREFIX:
        sam, inline = 0b01, inline + dgram.src[8:]
    else:
        sam, inline = 0b00, inline + dgram.src
    # destination
    m = dgram.dst[0] == 0xFF
    if m:
        if dgram.dst[1] == 0x02 and dgram.dst[2:15] == bytes(13):
            dam, inline = 0b11, inline + dgram.dst[15:]
        else:
            dam, inline = 0b00, inline + dgram.dst
    elif dst_mac is not None and dgram.dst == link_local(dst_mac):
        dam = 0b11
    elif dgram.dst[:8] == LINK_LOCAL_PREFIX:
        dam, inline = 0b01, inline + dgram.dst[8:]
    else:
        dam, inline = 0b00, inline + dgram.dst
    b1 = (sam << 4) | (int(m) << 3) | dam
    csum = udp_checksum(dgram.src, dgram.dst, dgram.src_port, dgram.dst_port, dgram.payload)
    nhc = b"\xF0" + struct.pack(">HHH", dgram.src_port, dgram.dst_port, csum)
    return bytes([b0, b1]) + inline + nhc + dgram.payload


def _iid_from_mac(mac: bytes | int | None) -> bytes:
    if isinstance(mac, (bytes, bytearray)) and len(mac) == 8:
        return bytes([mac[0] ^ 0x02]) + bytes(mac[1:])
    if isinstance(mac, int):
        return bytes.fromhex("000000fffe00") + struct.pack(">H", mac)
    raise LowpanError("address elided but no link-layer address to rebuild it from")


def _unicast(mode: int, take, mac) -> bytes:
    """A unicast address under IPHC SAM/DAM ``mode`` (stateless): inline, 64-bit IID, 16-bit
    short address, or fully elided (rebuilt from the link-layer address)."""
    if mode == 0:
        return take(16)
    if mode == 1:
        return LINK_LOCAL_PREFIX + take(8)
    if mode == 2:
        return LINK_LOCAL_PREFIX + bytes.fromhex("000000fffe00") + take(2)
    return LINK_LOCAL_PREFIX + _iid_from_mac(mac)


def decode(data: bytes, src_mac: bytes | int | None, dst_mac: bytes | int | None) -> UdpDatagram:
    """Parse an IPHC-compressed UDP datagram; raises LowpanError."""
    data = bytes(data)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise LowpanError(f"6LoWPAN payload truncated at octet {pos} (need {n})")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    b0, b1 = take(2)
    if b0 >> 5 != 0b011:
        raise LowpanError(f"dispatch 0x{b0:02X} is not IPHC")
    tf, nh, hlim = (b0 >> 3) & 3, (b0 >> 2) & 1, b0 & 3
    cid, sac, sam, m, dac, dam = b1 >> 7, (b1 >> 6) & 1, (b1 >> 4) & 3, (b1 >> 3) & 1, (b1 >> 2) & 1, b1 & 3
    if cid or sac or dac:
        raise LowpanError("context-based compression is not supported (no contexts configured)")
    take({0: 4, 1: 3, 2: 1, 3: 0}[tf])
    next_header = None if nh else take(1)[0]
    hop_limit = {1: 1, 2: 64, 3: 255}.get(hlim) or take(1)[0]
    src = _unicast(sam, take, src_mac)
    if m:
        if dam == 0:
            dst = take(16)
        elif dam == 1:
            x = take(6)
            dst = b"\xff" + x[:1] + bytes(9) + x[1:]
        elif dam == 2:
            x = take(4)
            dst = b"\xff" + x[:1] + bytes(11) + x[1:]
        else:
            dst = b"\xff\x02" + bytes(13) + take(1)
    else:
        dst = _unicast(dam, take, dst_mac)
    if nh:
        nhc = take(1)[0]
        if nhc & 0xF8 != 0xF0:
            raise LowpanError(f"next-header compression 0x{nhc:02X} is not UDP")
        if nhc & 0x04:
            raise LowpanError("elided UDP checksum is not accepted")
        ports = nhc & 3
        if ports == 0:
            sport, dport = struct.unpack(">HH", take(4))
        elif ports == 1:
            sport, dport = struct.unpack(">H", take(2))[0], 0xF000 | take(1)[0]
        elif ports == 2:
            sport, dport = 0xF000 | take(1)[0], struct.unpack(">H", take(2))[0]
        else:
            x = take(1)[0]
            sport, dport = 0xF0B0 | (x >> 4), 0xF0B0 | (x & 0xF)
        csum = struct.unpack(">H", take(2))[0]
        payload = data[pos:]
    else:
        if next_header != UDP_NEXT_HEADER:
            raise LowpanError(f"next header {next_header} is not UDP")
        sport, dport, length, csum = struct.unpack(">HHHH", take(8))
        payload = data[pos:]
        if length != 8 + len(payload):
            raise LowpanError(f"UDP length {length} does not match {8 + len(payload)} octets")
    if csum != udp_checksum(src, dst, sport, dport, payload):
        raise LowpanError("UDP checksum mismatch")
    return UdpDatagram(src, dst, sport, dport, payload, hop_limit)


def format_ipv6(addr: bytes) -> str:
    """SKSTACK's IPv6 text form: 8 groups of 4 uppercase hex digits (``FE80:0000:...``)."""
    if len(addr) != 16:
        raise LowpanError(f"IPv6 address must be 16 octets, got {len(addr)}")
    return ":".join(addr[i:i + 2].hex().upper() for i in range(0, 16, 2))


def parse_ipv6(text: str) -> bytes:
    """Parse any IPv6 text form (full or ``::``-compressed) to 16 octets; LowpanError if invalid."""
    import ipaddress
    try:
        return ipaddress.IPv6Address(text).packed
    except (ipaddress.AddressValueError, ValueError) as exc:
        raise LowpanError(f"not an IPv6 address: {text!r}") from exc
