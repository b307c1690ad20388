"""A terminal's Enhanced HAN radio (end, relay or sleep device); see ``ehan.py`` for the design."""
from __future__ import annotations

import os
from typing import Callable

from sumame.firmware.net import ieee802154 as mac, lowpan
from sumame.firmware.net.pana import PanaPac, Retransmit
from sumame.firmware.routes.iot.codec import APP_PORT

from ..air import CHANNELS, Air
from ..timeline import Timeline
from .ehan_mac import PANA_PORT, RELAY_PORT, _hops_of, _pairing, _Radio


# =============================================================================== terminal radio
class EhanNode(_Radio):
    """A terminal's radio: scan, join (PaC) directly or through a relay, secured datagrams to the
    coordinator; ``role`` "relay" also forwards (and is always awake), "sleep" listens only when
    woken. ``on_app(payload)``, ``on_joined(hops)``, ``on_lost()`` are the terminal's callbacks."""

    def __init__(self, air: Air, timeline: Timeline, mac_addr: bytes, *, terminal_id: bytes, psk: bytes,
                 channel: int, role: str = "end", max_hops: int = 2, scan_s: float = 0.65,
                 random_bytes: Callable[[int], bytes] = os.urandom, relay_rate: float = 5.0,
                 retransmit: Retransmit = Retransmit()):
        super().__init__(air, timeline, mac_addr, channel=channel, pan_id=0xFFFF, random_bytes=random_bytes)
        if role not in ("end", "relay", "sleep"):
            raise ValueError(f"role must be end, relay or sleep, got {role!r}")
        self.terminal_id, self.psk, self.role, self.max_hops = terminal_id, psk, role, max_hops
        self.scan_s = scan_s
        self.known_channel = False
        self._scan_plan: list[int] = []
        self._scanned_all: list = []
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
        """Active scan (a beacon request per channel, ``scan_s`` dwell each), pick the nearest
        parent (fewest hops), authenticate. The first entry scans every channel (33-60); a
        rejoin tries the channel it knew first and scans them all only if that finds nothing."""
        self.wake()
        self.state, self.key, self.parent, self.coordinator = "scanning", None, None, None
        self.pan_id = 0xFFFF
        self._beacons.clear()
        self.join_started = self.timeline.now()        # network entry is timed per attempt
        self.stats["join-attempts"] += 1
        known = self.channel if self.known_channel else None
        self._scanned_all = []
        self._scan_plan = [known] if known else list(CHANNELS)
        self._scan_next()

    def _scan_next(self) -> None:
        if self.state != "scanning":
            return
        if not self._scan_plan:
            self._scan_done()
            return
        self.channel = self._scan_plan.pop(0)
        self.seq = (self.seq + 1) & 0xFF
        self._transmit(mac.encode(mac.beacon_request_frame(self.seq)))
        self.timeline.call_later(self.scan_s, self._scan_dwell_over)

    def _scan_dwell_over(self) -> None:
        if self.state != "scanning":
            return
        if self._beacons:
            self._scan_done()
        elif not self._scan_plan and self.known_channel and len(self._scanned_all) == 0:
            self._scanned_all.append(True)
            self._scan_plan = [ch for ch in CHANNELS if ch != self.channel]
            self._scan_next()
        else:
            self._scan_next()

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
        self.known_channel = True
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
