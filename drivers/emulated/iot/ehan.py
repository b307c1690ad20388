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
from dataclasses import dataclass
from typing import Callable

from sumame.firmware.net import ieee802154 as mac, lowpan
from sumame.firmware.net.pana import PanaPaa, Retransmit
from sumame.firmware.routes.iot.codec import APP_PORT

from ..air import Air
from ..timeline import Timeline
from .ehan_mac import PANA_PORT, RELAY_PORT, _pairing, _Radio


MAX_BUCKETS = 64
"""Per-source rate buckets kept before idle (refilled) ones are forgotten."""


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
        self.pending: dict[bytes, _Peer] = {}
        """PANA starts for an address that already has a session: that session is replaced only
        when the new authentication succeeds (an unsecured PCI must not end someone's session)."""
        self.rx_counters: dict = {}
        self.max_frame_rate = max_frame_rate
        self._bucket: dict[bytes, tuple[float, float]] = {}

    # ---------------------------------------------------------------- IotRadio
    def open(self, host) -> None:
        self.host = host
        self.stats["opened"] += 1

    def close(self) -> None:
        for peer in [*self.peers.values(), *self.pending.values()]:
            if peer.timer is not None:
                peer.timer.cancel()
        self.peers.clear()
        self.pending.clear()
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
        for peer in (self.peers.pop(addr, None), self.pending.pop(addr, None)):
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
        if len(self._bucket) > MAX_BUCKETS:      # spoofed sources: a refilled bucket = no bucket
            full = self.max_frame_rate * 10
            self._bucket = {a: (t, at) for a, (t, at) in self._bucket.items()
                            if t + (now - at) * self.max_frame_rate < full}
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
            if key is None:             # 802.15.4 UNAVAILABLE_KEY: no session (e.g. after our reboot), not a bad MIC
                self.stats["rx-no-key"] += 1
                self._drop(src, "no link session for a secured frame (the terminal must join again)")
                return
            checked = self._unsecure(frame, key, self.rx_counters, self.stats)
            if checked is None:
                self._drop(src, "frame failed link security (bad MIC or replayed counter)")
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
            terminal_id, psk = cred
            new = _Peer(src, terminal_id, psk, via, hops)
            new.paa = PanaPaa(psk=psk, id_s=self.id_s, expected_id_p=terminal_id, lifetime_s=self.lifetime_s,
                              random_bytes=self.random_bytes, retransmit=self.retransmit, auto_terminate=True)
            old = self.pending.pop(src, None) if peer is not None and peer.key is not None else peer
            if old is not None and old.timer is not None:
                old.timer.cancel()
            if peer is not None and peer.key is not None:
                self.pending[src] = new          # the session in place stays until this one succeeds
            else:
                self.peers[src] = new
            peer = new
        else:
            peer = self._pana_peer(src, data, via)
            if peer is None:
                self.stats["pana-no-session"] += 1
                return
        self._pana_send(peer, peer.paa.receive(data, now))
        self._pana_after(peer)

    def _pana_peer(self, src: bytes, data: bytes, via: bytes | None) -> _Peer | None:
        """The PAA a non-PCI PANA message belongs to: a pending start or the session in place
        (matched by path and PANA session identifier)."""
        session = int.from_bytes(data[8:12], "big") if len(data) >= 12 else None
        cands = [p for p in (self.pending.get(src), self.peers.get(src))
                 if p is not None and p.paa is not None and p.via == via]
        for p in cands:
            if p.paa.session_id and p.paa.session_id == session:
                return p
        return cands[0] if cands else None

    def _live(self, peer: _Peer) -> bool:
        return self.peers.get(peer.addr) is peer or self.pending.get(peer.addr) is peer

    def _promote(self, peer: _Peer) -> None:
        """A pending start authenticated: it replaces the session in place."""
        prior = self.peers.get(peer.addr)
        if prior is not None:
            if prior.timer is not None:
                prior.timer.cancel()
            if prior.via == peer.via:
                peer.key = prior.key            # frames sent under the old key still decrypt
        self.pending.pop(peer.addr, None)
        self.peers[peer.addr] = peer

    def _pana_send(self, peer: _Peer, messages: list[bytes]) -> None:
        for m in messages:
            psdu = self._psdu(PANA_PORT, lowpan.link_local(peer.addr), PANA_PORT, m, peer.addr)
            self._send_psdu(peer, psdu)

    def _pana_after(self, peer: _Peer) -> None:
        paa = peer.paa
        for ev in paa.pop_events():
            self.stats[f"pana-{ev.kind}"] += 1
            pending = self.pending.get(peer.addr) is peer
            if ev.kind in ("authenticated", "reauthenticated"):
                if pending:
                    self._promote(peer)
                first = peer.key is None or peer.joined_at is None
                peer.old_key, peer.key = peer.key, ev.link_key
                peer.joined_at = self.timeline.now()
                if ev.kind == "authenticated":       # a new session: its counters start afresh
                    self.rx_counters = {k: v for k, v in self.rx_counters.items() if k[0] != peer.addr}
                if first or ev.kind == "authenticated":
                    self.host.iot_joined(peer.addr, peer.hops)
            elif ev.kind == "auth-failed":
                if pending:
                    self.pending.pop(peer.addr, None)
                elif peer.key is None:
                    self.peers.pop(peer.addr, None)
                self._drop(peer.addr, f"authentication failed: {ev.detail}")
            elif pending:
                self.pending.pop(peer.addr, None)
            else:
                self.peers.pop(peer.addr, None)
                self.host.iot_left(peer.addr, ev.kind)
        if peer.timer is not None:
            peer.timer.cancel()
            peer.timer = None
        deadline = paa.next_deadline()
        if deadline is not None and paa.state != "closed" and self._live(peer):
            peer.timer = self.timeline.call_at(deadline, self._pana_tick, peer)

    def _pana_tick(self, peer: _Peer) -> None:
        peer.timer = None
        if not self._live(peer) or self.host is None:
            return
        self._pana_send(peer, peer.paa.tick(self.timeline.now()))
        self._pana_after(peer)

