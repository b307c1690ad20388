"""Enhanced HAN radio plumbing shared by coordinator and nodes: frames, immediate ACKs and
retransmission, link-security checks, the battery account (see ``ehan.py``)."""
from __future__ import annotations

import os
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

from sumame.firmware.net import ieee802154 as mac, lowpan
from sumame.firmware.net.lowpan import UdpDatagram

from ..air import Air
from ..timeline import Timeline

PANA_PORT = 716
RELAY_PORT = 0xF0BF
MAX_RETRIES = 3
ACK_WAIT_S = 0.02
TXQ_MAX = 64
BEACON_TAG = "EHAN"


def _pairing(hops: int, pan_id: int) -> str:
    return f"{BEACON_TAG}{hops:02d}{pan_id & 0xFF:02X}"


def _hops_of(pairing: str | None) -> int | None:
    if not pairing or not pairing.startswith(BEACON_TAG):
        return None
    try:
        return int(pairing[4:6])
    except ValueError:
        return None


@dataclass
class RadioEnergy:
    """Battery side of a radio: J spent transmitting, receiving (awake) and asleep.
    Defaults: 3.3 V, 45 mA TX (20 mW 920 MHz module), 15 mA RX, 2 µA asleep."""

    volts: float = 3.3
    tx_a: float = 0.045
    rx_a: float = 0.015
    sleep_a: float = 2e-6
    tx_s: float = 0.0
    awake_s: float = 0.0
    asleep_s: float = 0.0

    @property
    def joules(self) -> float:
        return self.volts * (self.tx_a * self.tx_s + self.rx_a * self.awake_s + self.sleep_a * self.asleep_s)


class _Radio:
    """Common MAC plumbing of coordinator and nodes (one radio on the air)."""

    def __init__(self, air: Air, timeline: Timeline, mac_addr: bytes, *, channel: int, pan_id: int,
                 random_bytes: Callable[[int], bytes] = os.urandom):
        self.air, self.timeline, self.mac = air, timeline, bytes(mac_addr)
        self.channel, self.pan_id = channel, pan_id
        self.random_bytes = random_bytes
        self.ll = lowpan.link_local(self.mac)
        self.stats: Counter[str] = Counter()
        self.energy = RadioEnergy()
        self.tx_counter = 0
        self.seq = 0
        self.airtime_s = 0.0
        self._acks: dict[int, tuple] = {}
        self._txq: deque = deque()
        self._last_rx: dict = {}
        air.attach(self)

    def on_tx_limit(self, active: bool) -> None:
        self.stats["tx-limit-on" if active else "tx-limit-off"] += 1

    def _psdu(self, src_port: int, dst: bytes, dst_port: int, data: bytes, dst_mac: bytes | None,
              key=None, src_mac: bytes | None = None) -> bytes:
        src_mac = src_mac or self.mac
        dgram = UdpDatagram(lowpan.link_local(src_mac), dst, src_port, dst_port, data)
        payload = lowpan.encode(dgram, src_mac, dst_mac)
        self.seq = (self.seq + 1) & 0xFF
        frame = mac.MacFrame(mac.FRAME_DATA, self.seq, self.pan_id,
                             dst_mac if dst_mac is not None else mac.BROADCAST_SHORT, src_mac, payload,
                             ack_request=dst_mac is not None)
        if key is not None:
            self.tx_counter += 1
            frame = mac.secure(frame, key.key, mac.AuxSecurity(5, self.tx_counter, key.index))
        return mac.encode(frame)

    def _transmit(self, psdu: bytes) -> bool:
        """Send a PSDU. A unicast frame with the ACK-request bit is retransmitted up to
        ``MAX_RETRIES`` times until the receiver's immediate ACK (IEEE 802.15.4
        macMaxFrameRetries); such frames go one at a time, in order (a queue behind the one
        awaiting its ACK), so frame counters arrive increasing."""
        if psdu[0] & 0x20 and (psdu[0] & 0x07) == mac.FRAME_DATA:
            if self._acks or self._txq:
                if len(self._txq) >= TXQ_MAX:
                    self.stats["tx-queue-full"] += 1
                    return False
                self._txq.append(psdu)
                return True
            ok = self._on_air(psdu)
            if ok:
                self._await_ack(psdu, 0)
            return ok
        return self._on_air(psdu)

    def _next_queued(self) -> None:
        while self._txq and not self._acks:
            psdu = self._txq.popleft()
            if self._on_air(psdu):
                self._await_ack(psdu, 0)

    def _on_air(self, psdu: bytes) -> bool:
        report = self.air.transmit(self, psdu)
        if report.ok:
            self.energy.tx_s += report.airtime_s
            self.airtime_s += report.airtime_s
            self.stats["tx"] += 1
        else:
            self.stats["tx-refused"] += 1
        return report.ok

    def _await_ack(self, psdu: bytes, tries: int) -> None:
        seq = psdu[2]
        old = self._acks.pop(seq, None)
        if old is not None:
            old[1].cancel()
        wait = self.air.airtime(len(psdu)) + self.air.airtime(5) + ACK_WAIT_S
        self._acks[seq] = (psdu, self.timeline.call_later(wait, self._ack_timeout, seq, tries))

    def _ack_timeout(self, seq: int, tries: int) -> None:
        entry = self._acks.pop(seq, None)
        if entry is None:
            return
        if tries >= MAX_RETRIES:
            self.stats["tx-no-ack"] += 1
            self._next_queued()
            return
        self.stats["tx-retry"] += 1
        if self._on_air(entry[0]):
            self._await_ack(entry[0], tries + 1)
        else:
            self._next_queued()

    def _mac_ack_in(self, psdu: bytes) -> bool:
        """True when ``psdu`` is an ACK frame (handled here)."""
        if len(psdu) != 5 or (psdu[0] & 0x07) != mac.FRAME_ACK or mac.fcs(psdu[:3]) != psdu[3:]:
            return False
        entry = self._acks.pop(psdu[2], None)
        if entry is not None:
            entry[1].cancel()
            self.stats["rx-ack"] += 1
            self._next_queued()
        return True

    def _mac_ack_out(self, frame) -> bool:
        """Acknowledge a unicast frame to us; False when it repeats the last one from that source
        (a retransmission whose ACK was lost: acknowledged again, not processed twice)."""
        if not frame.ack_request or frame.dst != self.mac:
            return True
        self._on_air(mac.encode(mac.MacFrame(mac.FRAME_ACK, frame.seq, frame.pan_id, None, None, b"")))
        key = (frame.src, frame.seq)
        if self._last_rx.get(frame.src) == key:
            self.stats["rx-duplicate"] += 1
            return False
        self._last_rx[frame.src] = key
        return True

    @staticmethod
    def _unsecure(frame, key, counters: dict, stats: Counter):
        """The frame decrypted and checked (MIC, counter), or None (counted in ``stats``)."""
        if key is None or key.index != frame.security.key_index:
            stats["rx-no-key"] += 1
            return None
        try:
            frame = mac.unsecure(frame, key.key)
        except mac.SecurityError:
            stats["rx-bad-mic"] += 1
            return None
        slot = (frame.src, key.index)
        if frame.security.counter <= counters.get(slot, -1):
            stats["rx-replayed-frame"] += 1
            return None
        counters[slot] = frame.security.counter
        return frame
