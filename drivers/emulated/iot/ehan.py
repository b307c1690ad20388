"""Wi-SUN Enhanced HAN on the virtual air: the meter's coordinator module and terminal radios.

Real IEEE 802.15.4 + 6LoWPAN IPHC + UDP frames (``sumame.firmware.net``) on the same ``Air``,
channel and ARIB budget as the B-route. Roles: the meter is the **coordinator**; terminals are
**end**, **relay** or **sleep** devices. Admission is PANA (RFC 5191) with EAP-PSK, one PAA
session per terminal, credentials asked from the firmware (``IotRadioHost.iot_credential``);
after it both ends protect data frames with CCM* ENC-MIC-32 under that terminal's own key;
frame counters are checked (replays dropped).

Relaying (2 hops by default, ``max_hops`` for vendor multi-hop): how a real Enhanced HAN relay
forwards PANA and data is not public (reference §2.1 [U]); ours tunnels. A terminal behind a
relay builds its frames *end to end* for the coordinator (PANA unsecured, data under its own
key) and hands the whole PSDU to the relay in a UDP datagram to ``RELAY_PORT``; the relay puts
it, with the terminal's EUI-64, in a datagram secured with its *own* key to the coordinator
(and back). A relay therefore can neither read nor forge what it carries.

Sleep devices listen only while awake (``wake()``/``sleep()``); the battery meter integrates
transmit, receive and sleep power (``RadioEnergy``).
"""
from __future__ import annotations

import os
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

from sumame.firmware.net import ieee802154 as mac, lowpan
from sumame.firmware.net.lowpan import UdpDatagram
from sumame.firmware.net.pana import PanaPaa, PanaPac, Retransmit
from sumame.firmware.routes.iot.codec import APP_PORT

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


# =============================================================================== coordinator
@dataclass
class _Peer:
    addr: bytes
    terminal_id: bytes
    psk: bytes
    via: bytes | None
    hops: int
    paa: PanaPaa | None = None
    key: object = None
    old_key: object = None
    timer: object = None
    joined_at: float | None = None


class EhanCoordinator(_Radio):
    """The meter's Enhanced HAN side (``IotRadio``): beacons, PAA per terminal, relay tunnel."""

    def __init__(self, air: Air, timeline: Timeline, mac_addr: bytes, *, channel: int, pan_id: int,
                 id_s: bytes, lifetime_s: int = 86400, max_hops: int = 2, max_frame_rate: float = 5.0,
                 random_bytes: Callable[[int], bytes] = os.urandom, retransmit: Retransmit = Retransmit()):
        super().__init__(air, timeline, mac_addr, channel=channel, pan_id=pan_id, random_bytes=random_bytes)
        self.id_s, self.lifetime_s, self.max_hops = id_s, lifetime_s, max_hops
        self.retransmit = retransmit
        self.host = None
        self.peers: dict[bytes, _Peer] = {}
        self.rx_counters: dict = {}
        self.max_frame_rate = max_frame_rate
        self._bucket: dict[bytes, tuple[float, float]] = {}

    # ---------------------------------------------------------------- IotRadio
    def open(self, host) -> None:
        self.host = host
        self.stats["opened"] += 1

    def close(self) -> None:
        for peer in self.peers.values():
            if peer.timer is not None:
                peer.timer.cancel()
        self.peers.clear()
        self.rx_counters.clear()
        self._txq.clear()
        for _, timer in self._acks.values():
            timer.cancel()
        self._acks.clear()
        self.host = None

    @property
    def sessions(self) -> dict[bytes, _Peer]:
        return {a: p for a, p in self.peers.items() if p.key is not None}

    def send(self, addr: bytes, payload: bytes) -> bool:
        peer = self.peers.get(addr)
        if self.host is None or peer is None or peer.key is None:
            return False
        psdu = self._psdu(APP_PORT, lowpan.link_local(addr), APP_PORT, payload, addr, peer.key)
        return self._send_psdu(peer, psdu)

    def cut(self, addr: bytes) -> None:
        peer = self.peers.pop(addr, None)
        if peer is not None and peer.timer is not None:
            peer.timer.cancel()
        # children relayed by a cut relay lose their path too
        for child in [p for p in self.peers.values() if p.via == addr]:
            self.peers.pop(child.addr, None)
            if self.host is not None:
                self.host.iot_left(child.addr, "its relay was cut off")

    # ---------------------------------------------------------------- transmit
    def _send_psdu(self, peer: _Peer, psdu: bytes) -> bool:
        if peer.via is None:
            return self._transmit(psdu)
        relay = self.peers.get(peer.via)
        if relay is None or relay.key is None:
            return False
        wrapped = self._psdu(RELAY_PORT, lowpan.link_local(relay.addr), RELAY_PORT, peer.addr + psdu,
                             relay.addr, relay.key)
        return self._send_psdu(relay, wrapped)

    # ---------------------------------------------------------------- receive
    def on_air_frame(self, psdu: bytes, lqi: int) -> None:
        if self.host is None or self._mac_ack_in(psdu):
            return
        self._on_psdu(psdu, via=None, hops=1)

    def _drop(self, addr, why: str) -> None:
        self.stats[f"drop-{why.split(':')[0]}"] += 1
        if self.host is not None:
            self.host.iot_dropped(addr, why)

    def _rate_ok(self, addr: bytes) -> bool:
        now = self.timeline.now()
        tokens, at = self._bucket.get(addr, (self.max_frame_rate * 10, now))
        tokens = min(self.max_frame_rate * 10, tokens + (now - at) * self.max_frame_rate)
        if tokens < 1:
            self._bucket[addr] = (tokens, now)
            return False
        self._bucket[addr] = (tokens - 1, now)
        return True

    def _on_psdu(self, psdu: bytes, via: bytes | None, hops: int) -> None:
        try:
            frame = mac.decode(psdu)
        except mac.FrameError:
            if via is not None:
                self._drop(via, "malformed frame relayed")
            self.stats["rx-bad-frame"] += 1
            return
        if via is None and mac.is_beacon_request(frame):
            self._beacon()
            return
        if via is None and frame.frame_type == mac.FRAME_DATA and not self._mac_ack_out(frame):
            return
        if frame.frame_type != mac.FRAME_DATA or frame.pan_id not in (self.pan_id, mac.BROADCAST_PAN):
            return
        if frame.dst not in (self.mac, mac.BROADCAST_SHORT):
            if via is not None and isinstance(frame.dst, bytes):
                self._drop(frame.src, "addressed to another node: terminals are not routed to each other")
            return
        src = frame.src
        if not isinstance(src, bytes):
            return
        if not self._rate_ok(src):
            self._drop(src, "flooding: frame rate above the limit")
            return
        peer = self.peers.get(src)
        secured = frame.security is not None
        if secured:
            key = peer.key if peer else None
            if key is not None and peer.old_key is not None and frame.security.key_index == peer.old_key.index \
                    and key.index != peer.old_key.index:
                key = peer.old_key          # sent before the re-authentication completed
            checked = self._unsecure(frame, key, self.rx_counters, self.stats)
            if checked is None:
                self._drop(src, "frame failed link security (no key, bad MIC or replayed counter)")
                return
            frame = checked
            if peer.via != via:
                self._drop(src, "secured frame arrived on another path than its session")
                return
        try:
            dgram = lowpan.decode(frame.payload, frame.src, frame.dst)
        except lowpan.LowpanError:
            self._drop(src, "malformed 6LoWPAN/UDP")
            return
        if dgram.dst_port == PANA_PORT:
            if secured:
                return
            self._on_pana(src, dgram.payload, via, hops)
            return
        if not secured:
            self._drop(src, "unsecured datagram (only PANA may be unsecured)")
            return
        if dgram.dst != self.ll:
            self._drop(src, "addressed to another node: terminals are not routed to each other")
            return
        if dgram.dst_port == RELAY_PORT:
            if hops >= self.max_hops or not self.host.iot_may_relay(src):
                self._drop(src, "relayed frame refused (not a relay or hop limit)")
                return
            if len(dgram.payload) < 8 + 5:
                self._drop(src, "malformed relay tunnel")
                return
            child, inner = dgram.payload[:8], dgram.payload[8:]
            try:
                inner_src = mac.decode(inner).src
            except mac.FrameError:
                self._drop(src, "malformed frame relayed")
                return
            if inner_src != child:
                self._drop(src, "relay tunnel names another source than the frame it carries")
                return
            self._on_psdu(inner, via=src, hops=hops + 1)
            return
        if dgram.dst_port != APP_PORT:
            self._drop(src, f"port {dgram.dst_port} is not served on the IoT route")
            return
        self.stats["rx-app"] += 1
        self.host.iot_rx(src, dgram.payload)

    def _beacon(self) -> None:
        self.seq = (self.seq + 1) & 0xFF
        frame = mac.beacon_frame(self.seq, self.pan_id, self.mac, _pairing(1, self.pan_id))
        self._transmit(mac.encode(frame))

    # ---------------------------------------------------------------- PANA (one PAA per terminal)
    def _on_pana(self, src: bytes, data: bytes, via: bytes | None, hops: int) -> None:
        now = self.timeline.now()
        is_pci = len(data) >= 8 and data[6:8] == b"\x00\x01"
        peer = self.peers.get(src)
        if is_pci:
            cred = self.host.iot_credential(src)
            if cred is None:
                self._drop(src, "admission refused")
                return
            if peer is not None and peer.timer is not None:
                peer.timer.cancel()
            terminal_id, psk = cred
            keep_key = peer.key if peer is not None and peer.via == via else None
            peer = _Peer(src, terminal_id, psk, via, hops, key=keep_key)
            peer.paa = PanaPaa(psk=psk, id_s=self.id_s, expected_id_p=terminal_id, lifetime_s=self.lifetime_s,
                               random_bytes=self.random_bytes, retransmit=self.retransmit, auto_terminate=True)
            self.peers[src] = peer
        elif peer is None or peer.paa is None or peer.via != via:
            self.stats["pana-no-session"] += 1
            return
        self._pana_send(peer, peer.paa.receive(data, now))
        self._pana_after(peer)

    def _pana_send(self, peer: _Peer, messages: list[bytes]) -> None:
        for m in messages:
            psdu = self._psdu(PANA_PORT, lowpan.link_local(peer.addr), PANA_PORT, m, peer.addr)
            self._send_psdu(peer, psdu)

    def _pana_after(self, peer: _Peer) -> None:
        paa = peer.paa
        for ev in paa.pop_events():
            self.stats[f"pana-{ev.kind}"] += 1
            if ev.kind in ("authenticated", "reauthenticated"):
                first = peer.key is None or peer.joined_at is None
                peer.old_key, peer.key = peer.key, ev.link_key
                peer.joined_at = self.timeline.now()
                if ev.kind == "authenticated":       # a new session: its counters start afresh
                    self.rx_counters = {k: v for k, v in self.rx_counters.items() if k[0] != peer.addr}
                if first or ev.kind == "authenticated":
                    self.host.iot_joined(peer.addr, peer.hops)
            elif ev.kind == "auth-failed":
                if peer.key is None:
                    self.peers.pop(peer.addr, None)
                self._drop(peer.addr, f"authentication failed: {ev.detail}")
            else:
                self.peers.pop(peer.addr, None)
                self.host.iot_left(peer.addr, ev.kind)
        if peer.timer is not None:
            peer.timer.cancel()
            peer.timer = None
        deadline = paa.next_deadline()
        if deadline is not None and paa.state != "closed" and self.peers.get(peer.addr) is peer:
            peer.timer = self.timeline.call_at(deadline, self._pana_tick, peer)

    def _pana_tick(self, peer: _Peer) -> None:
        peer.timer = None
        if self.peers.get(peer.addr) is not peer or self.host is None:
            return
        self._pana_send(peer, peer.paa.tick(self.timeline.now()))
        self._pana_after(peer)


# =============================================================================== terminal radio
class EhanNode(_Radio):
    """A terminal's radio: scan, join (PaC) directly or through a relay, secured datagrams to the
    coordinator; ``role`` "relay" also forwards (and is always awake), "sleep" listens only when
    woken. ``on_app(payload)``, ``on_joined(hops)``, ``on_lost()`` are the terminal's callbacks."""

    def __init__(self, air: Air, timeline: Timeline, mac_addr: bytes, *, terminal_id: bytes, psk: bytes,
                 channel: int, role: str = "end", max_hops: int = 2, scan_s: float = 0.5,
                 random_bytes: Callable[[int], bytes] = os.urandom, relay_rate: float = 5.0,
                 retransmit: Retransmit = Retransmit()):
        super().__init__(air, timeline, mac_addr, channel=channel, pan_id=0xFFFF, random_bytes=random_bytes)
        if role not in ("end", "relay", "sleep"):
            raise ValueError(f"role must be end, relay or sleep, got {role!r}")
        self.terminal_id, self.psk, self.role, self.max_hops = terminal_id, psk, role, max_hops
        self.scan_s = scan_s
        self.retransmit = retransmit
        self.awake = True
        self._awake_since = timeline.now()
        self._asleep_since: float | None = None
        self.state = "idle"
        self.parent: bytes | None = None
        self.hops = 0
        self.coordinator: bytes | None = None
        self.key = None
        self.pac: PanaPac | None = None
        self._pana_timer = None
        self._beacons: list[tuple[int, bytes, int]] = []
        self.rx_counters: dict = {}
        self.relay_rate = relay_rate
        self._relay_bucket: dict[bytes, tuple[float, float]] = {}
        self.on_app: Callable[[bytes], None] = lambda payload: None
        self.on_joined: Callable[[int], None] = lambda hops: None
        self.on_lost: Callable[[], None] = lambda: None
        self.join_started: float | None = None
        self.entry_times: list[tuple[int, float]] = []
        """(hops, seconds from scan start to PANA success) of every network entry."""

    # ---------------------------------------------------------------- power
    def wake(self) -> None:
        if not self.awake:
            now = self.timeline.now()
            self.energy.asleep_s += now - (self._asleep_since or now)
            self.awake, self._awake_since = True, now

    def sleep(self) -> None:
        if self.pac is not None and getattr(self.pac, "_out", None) is not None:
            return                      # a PANA request of ours is outstanding: stay awake for the answer
        if self.awake and self.role == "sleep":
            now = self.timeline.now()
            self.energy.awake_s += now - self._awake_since
            self.awake, self._asleep_since = False, now

    def settle_energy(self) -> RadioEnergy:
        """Bring the awake/asleep integrals up to now and return them."""
        now = self.timeline.now()
        if self.awake:
            self.energy.awake_s += now - self._awake_since
            self._awake_since = now
        else:
            self.energy.asleep_s += now - (self._asleep_since or now)
            self._asleep_since = now
        return self.energy

    # ---------------------------------------------------------------- join
    @property
    def joined(self) -> bool:
        return self.state == "joined"

    def join(self) -> None:
        """Scan (beacon request), pick the nearest parent (fewest hops), authenticate."""
        self.wake()
        self.state, self.key, self.parent, self.coordinator = "scanning", None, None, None
        self.pan_id = 0xFFFF
        self._beacons.clear()
        self.join_started = self.timeline.now()        # network entry is timed per attempt
        self.stats["join-attempts"] += 1
        self.seq = (self.seq + 1) & 0xFF
        self._transmit(mac.encode(mac.beacon_request_frame(self.seq)))
        self.timeline.call_later(self.scan_s, self._scan_done)

    def _scan_done(self) -> None:
        if self.state != "scanning":
            return
        usable = sorted(b for b in self._beacons if b[0] < self.max_hops + 1)
        if not usable:
            self.state = "idle"
            self.stats["scan-empty"] += 1
            self.on_lost()
            return
        hops, parent, pan = usable[0]
        self.parent, self.hops, self.pan_id = parent, hops, pan
        self.coordinator = parent if hops == 1 else None
        self.state = "authenticating"
        self.pac = PanaPac(psk=self.psk, id_p=self.terminal_id, random_bytes=self.random_bytes,
                           retransmit=self.retransmit)
        self._pana_send(self.pac.start(self.timeline.now()))
        self._pana_after()

    def leave(self) -> None:
        self.state, self.key, self.pac = "idle", None, None
        if self._pana_timer is not None:
            self._pana_timer.cancel()
            self._pana_timer = None

    # ---------------------------------------------------------------- transmit
    def _uplink(self, psdu: bytes) -> bool:
        if self.hops <= 1:
            return self._transmit(psdu)
        outer = self._psdu(RELAY_PORT, lowpan.link_local(self.parent), RELAY_PORT, psdu, self.parent)
        return self._transmit(outer)

    def send_app(self, payload: bytes) -> bool:
        if not self.joined or self.coordinator is None:
            return False
        psdu = self._psdu(APP_PORT, lowpan.link_local(self.coordinator), APP_PORT, payload, self.coordinator, self.key)
        return self._uplink(psdu)

    def send_raw(self, dst_mac: bytes | None, dst_port: int, payload: bytes, *, secured: bool = True,
                 dst_ip: bytes | None = None) -> bool:
        """Anything (a hostile terminal's tool): a datagram with our key to any MAC/port/IP."""
        dst_ip = dst_ip or (lowpan.link_local(dst_mac) if dst_mac else lowpan.ALL_NODES)
        psdu = self._psdu(dst_port, dst_ip, dst_port, payload, dst_mac, self.key if secured else None)
        return self._uplink(psdu)

    def _pana_send(self, messages: list[bytes]) -> None:
        for m in messages:
            if self.coordinator is not None:
                psdu = self._psdu(PANA_PORT, lowpan.link_local(self.coordinator), PANA_PORT, m, self.coordinator)
            else:
                psdu = self._psdu(PANA_PORT, lowpan.ALL_NODES, PANA_PORT, m, None)
            self._uplink(psdu)

    def _pana_after(self) -> None:
        pac = self.pac
        if pac is None:
            return
        for ev in pac.pop_events():
            self.stats[f"pana-{ev.kind}"] += 1
            if ev.kind in ("authenticated", "reauthenticated"):
                self.old_key, self.key = self.key, ev.link_key
                self.rx_counters.clear()
                if self.state != "joined":
                    self.state = "joined"
                    if self.join_started is not None:
                        self.entry_times.append((self.hops, self.timeline.now() - self.join_started))
                        self.join_started = None
                    self.on_joined(self.hops)
            else:
                self.leave()
                self.on_lost()
                return
        if self._pana_timer is not None:
            self._pana_timer.cancel()
            self._pana_timer = None
        deadline = pac.next_deadline()
        if deadline is not None and pac.state != "closed":
            self._pana_timer = self.timeline.call_at(deadline, self._pana_tick)

    def _pana_tick(self) -> None:
        self._pana_timer = None
        if self.pac is None:
            return
        self.wake()
        self._pana_send(self.pac.tick(self.timeline.now()))
        self._pana_after()

    # ---------------------------------------------------------------- receive
    def on_air_frame(self, psdu: bytes, lqi: int) -> None:
        if not self.awake:
            self.stats["rx-asleep"] += 1
            return
        if self._mac_ack_in(psdu):
            return
        try:
            frame = mac.decode(psdu)
        except mac.FrameError:
            self.stats["rx-bad-frame"] += 1
            return
        if mac.is_beacon_request(frame):
            if self.role == "relay" and self.joined and self.hops < self.max_hops:
                self.seq = (self.seq + 1) & 0xFF
                self._transmit(mac.encode(mac.beacon_frame(self.seq, self.pan_id, self.mac,
                                                           _pairing(self.hops + 1, self.pan_id))))
            return
        if frame.frame_type == mac.FRAME_BEACON:
            if self.state == "scanning":
                try:
                    beacon = mac.parse_beacon(frame)
                except mac.FrameError:
                    return
                hops = _hops_of(beacon.pairing_id)
                if hops is not None:
                    self._beacons.append((hops, beacon.coordinator, beacon.pan_id))
            return
        if frame.frame_type != mac.FRAME_DATA or frame.dst != self.mac:
            return
        if not self._mac_ack_out(frame):
            return
        self._on_data(frame, relayed=False)

    def _on_data(self, frame, relayed: bool) -> None:
        src = frame.src
        secured = frame.security is not None
        from_parent = src == self.parent
        if relayed:
            from_parent = True
        if secured:
            if not from_parent and src != self.coordinator:
                self.stats["rx-not-parent"] += 1
                return
            key = self.key
            old = getattr(self, "old_key", None)
            if key is not None and old is not None and frame.security.key_index == old.index != key.index:
                key = old
            checked = self._unsecure(frame, key, self.rx_counters, self.stats)
            if checked is None:
                return
            frame = checked
        try:
            dgram = lowpan.decode(frame.payload, frame.src, frame.dst)
        except lowpan.LowpanError:
            self.stats["rx-bad-lowpan"] += 1
            return
        if dgram.dst_port == RELAY_PORT:
            self._on_relay(frame.src, dgram.payload, secured)
            return
        if dgram.dst_port == PANA_PORT and not secured:
            if self.pac is None or not (from_parent or relayed):
                return
            if self.coordinator is None:
                self.coordinator = src
            self._pana_send(self.pac.receive(dgram.payload, self.timeline.now()))
            self._pana_after()
            return
        if secured and dgram.dst_port == APP_PORT and src == self.coordinator:
            self.stats["rx-app"] += 1
            self.on_app(dgram.payload)

    def _on_relay(self, src: bytes, payload: bytes, secured: bool) -> None:
        if secured and src == self.coordinator and self.role == "relay":
            # down: coordinator -> (our key) -> child
            child, inner = payload[:8], payload[8:]
            if len(child) == 8 and inner:
                outer = self._psdu(RELAY_PORT, lowpan.link_local(child), RELAY_PORT, inner, child)
                self.stats["relayed-down"] += 1
                self._transmit(outer)
            return
        if not secured and src == self.parent and self.hops > 1:
            # the relay hands us a frame the coordinator built for us
            try:
                inner = mac.decode(payload)
            except mac.FrameError:
                self.stats["rx-bad-frame"] += 1
                return
            if inner.dst == self.mac:
                self._on_data(inner, relayed=True)
            return
        if not secured and self.role == "relay" and self.joined:
            # up: child -> coordinator, in a datagram under our own key
            now = self.timeline.now()
            tokens, at = self._relay_bucket.get(src, (self.relay_rate * 10, now))
            tokens = min(self.relay_rate * 10, tokens + (now - at) * self.relay_rate)
            if tokens < 1:
                self._relay_bucket[src] = (tokens, now)
                self.stats["relay-flood-dropped"] += 1
                return
            self._relay_bucket[src] = (tokens - 1, now)
            wrapped = self._psdu(RELAY_PORT, lowpan.link_local(self.coordinator), RELAY_PORT, src + payload,
                                 self.coordinator, self.key)
            self.stats["relayed-up"] += 1
            self._uplink(wrapped)
