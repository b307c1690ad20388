"""The network side of an emulated SKSTACK dongle: MAC, 6LoWPAN/UDP, PANA and link security.

One ``WisunStack`` is one radio on the virtual air (``AirRadio``). The dongle's command
interpreter (``dongle.py``) drives it and receives what it reports through ``StackHost``
callbacks (EVENT numbers as in reference §6, EPANDESC data, received datagrams). Frames on
air are real IEEE 802.15.4 + 6LoWPAN IPHC + UDP bytes (``sumame.firmware.net``); PANA runs on
UDP 716 unsecured; after PANA both ends install the link key and protect data frames with
CCM* ENC-MIC-32 (level 5, key-id mode 1). Received secured frames are checked for MIC and for a
frame counter above the last one seen from that sender under that key (replays are dropped and
counted). The replay state belongs to the key: a new PANA session (new MSK, so new link key,
even with the same key index) starts with no counters, as IEEE 802.15.4's per-key frame-counter
handling implies; a HEMS whose dongle was reset (frame counter back to 0) is answered from its
first frame after its new join. Inside one session a replay is still refused.

PAA rule: one PaC holds the session; a PCI from another PaC is dropped (counted, reported as
EVENT 24 <PaC> to the meter) until the session is terminated or expires.

MAC: unicast frames ask for an ACK; only a radio with that address on the channel acks (the
air tells), a lost frame is retried macMaxFrameRetries times. A peer not yet in the neighbour
cache is first resolved with a (unicast) neighbour solicitation: answered -> ``EVENT 21 … 02``
then ``EVENT 02`` and the data follows; never acked -> ``EVENT 21 … 01`` and no neighbour entry
(a peer that is not there is never invented). Delays come from ``dongle_timing``.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Callable, Protocol

from sumame.firmware.net import eap_psk, ieee802154 as mac, lowpan
from sumame.firmware.net.lowpan import UdpDatagram
from sumame.firmware.net.pana import PanaEvent, PanaPaa, PanaPac, Retransmit

from ..air import Air
from .dongle_timing import DongleTiming, for_air
from ..timeline import Timeline

PANA_PORT = 716
EV_NS, EV_NA, EV_ED_DONE, EV_BEACON, EV_UDP_SENT, EV_SCAN_DONE = 0x01, 0x02, 0x1F, 0x20, 0x21, 0x22
EV_PANA_FAIL, EV_PANA_OK, EV_PEER_TERM, EV_TERM_OK, EV_TERM_TIMEOUT, EV_EXPIRED = 0x24, 0x25, 0x26, 0x27, 0x28, 0x29
EV_LIMIT_ON, EV_LIMIT_OFF = 0x32, 0x33

_PAA_EVENTS = {"authenticated": EV_PANA_OK, "reauthenticated": EV_PANA_OK, "auth-failed": EV_PANA_FAIL,
               "terminated-by-peer": EV_PEER_TERM, "terminated": EV_TERM_OK,
               "termination-timeout": EV_TERM_TIMEOUT, "expired": EV_EXPIRED}


class StackHost(Protocol):
    def stack_event(self, num: int, addr: bytes | None, param: int | None = None) -> None: ...

    def stack_pandesc(self, channel: int, pan_id: int, addr: bytes, lqi: int, pairing_id: str | None) -> None: ...

    def stack_rx(self, dgram: UdpDatagram, src_mac: bytes, secured: bool, lqi: int) -> None: ...

    def stack_edscan(self, levels: list[tuple[int, int]]) -> None: ...

    def port_open(self, port: int) -> bool: ...


class WisunStack:
    def __init__(self, air: Air, timeline: Timeline, mac_addr: bytes, host: StackHost, *,
                 random_bytes: Callable[[int], bytes] = os.urandom,
                 retransmit: Retransmit = Retransmit(), timing: DongleTiming | None = None):
        self.air, self.timeline, self.mac, self.host = air, timeline, mac_addr, host
        self.timing = timing or for_air(air.accurate)
        self.random_bytes = random_bytes
        self.retransmit = retransmit
        self.ll = lowpan.link_local(mac_addr)
        self.stats: Counter[str] = Counter()
        self.channel = 33
        self.reset()
        air.attach(self)

    # ------------------------------------------------------------------ configuration
    def reset(self) -> None:
        self.home_channel = 33
        self.channel = 33
        self.pan_id = 0xFFFF
        self.pairing_id = "CCDDEEFF"
        self.coordinator = False
        self.lifetime_s = 900
        self.auto = True
        self.rbid = ""
        self.password = ""
        self.psk_override: bytes | None = None
        self.keys: dict[bytes, object] = {}          # peer EUI-64 -> LinkKey
        self.tx_counter = 0
        self.rx_counters: dict[tuple[bytes, int], int] = {}
        self.neighbours: set[bytes] = set()
        self.seq = self.random_bytes(1)[0]
        self.paa: PanaPaa | None = None
        self.paa_next: PanaPaa | None = None     # a re-join handshake of the same PaC
        self.paa_peer: bytes | None = None
        self.pac: PanaPac | None = None
        self.pac_peer: bytes | None = None
        self._pana_timers: dict[int, object] = {}
        self._scan = None
        self.tx_limited = False
        self._pac_inflight = 0                   # PaC PANA messages whose EVENT 21 is pending
        self._pac_events: list = []              # PANA events printed after that EVENT 21

    def psk(self) -> bytes:
        if self.psk_override is not None:
            return self.psk_override
        return eap_psk.DEFAULT_DERIVATION.derive(self.rbid, self.password, self.rbid.encode("ascii"))

    def set_channel(self, channel: int) -> None:
        self.home_channel = self.channel = channel

    # ------------------------------------------------------------------ AirRadio
    def on_tx_limit(self, active: bool) -> None:
        self.tx_limited = active
        self.host.stack_event(EV_LIMIT_ON if active else EV_LIMIT_OFF, None)

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def _transmit(self, frame: mac.MacFrame):
        return self.air.transmit(self, mac.encode(frame))

    def on_air_frame(self, psdu: bytes, lqi: int) -> None:
        try:
            frame = mac.decode(psdu)
        except mac.FrameError:
            self.stats["rx-bad-frame"] += 1
            return
        if mac.is_beacon_request(frame):
            if self.coordinator and self.pan_id != 0xFFFF:
                self._send_beacon()
            return
        if frame.frame_type == mac.FRAME_BEACON:
            self._on_beacon(frame, lqi)
            return
        if frame.frame_type != mac.FRAME_DATA:
            return
        if frame.pan_id not in (self.pan_id, mac.BROADCAST_PAN) or frame.dst not in (self.mac, mac.BROADCAST_SHORT):
            return
        secured = frame.security is not None
        if secured:
            key = self.keys.get(frame.src)
            if key is None or key.index != frame.security.key_index:
                self.stats["rx-no-key"] += 1
                return
            try:
                frame = mac.unsecure(frame, key.key)
            except mac.SecurityError:
                self.stats["rx-bad-mic"] += 1
                return
            slot = (frame.src, key.index)
            if frame.security.counter <= self.rx_counters.get(slot, -1):
                self.stats["rx-replayed-frame"] += 1
                return
            self.rx_counters[slot] = frame.security.counter
        try:
            dgram = lowpan.decode(frame.payload, frame.src, frame.dst)
        except lowpan.LowpanError:
            self.stats["rx-bad-lowpan"] += 1
            return
        if dgram.dst not in (self.ll, lowpan.ALL_NODES):
            return
        self.neighbours.add(frame.src)
        if dgram.dst_port == PANA_PORT and dgram.src_port == PANA_PORT:
            if secured:
                self.stats["rx-pana-secured"] += 1
                return
            if self.host.port_open(PANA_PORT):
                self.host.stack_rx(dgram, frame.src, secured, lqi)
            self._on_pana(frame.src, dgram.payload)
            return
        if self.host.port_open(dgram.dst_port):
            self.stats["rx-udp"] += 1
            self.host.stack_rx(dgram, frame.src, secured, lqi)
        else:
            self.stats["rx-port-closed"] += 1

    # ------------------------------------------------------------------ UDP send
    def sendto(self, src_port: int, dst: bytes, dst_port: int, sec: int, data: bytes,
               done: Callable[[int], None] | None) -> None:
        """Send a datagram; ``done(result)`` is called once (0 sent and acked, 1 failed / no
        ACK, 2 a neighbour solicitation was sent first; the data follows once resolved)."""
        multicast = dst[0] == 0xFF
        dst_mac = None
        if not multicast:
            try:
                dst_mac = lowpan.eui64_of(dst)
            except lowpan.LowpanError:
                self._report(done, 1, 0.0)
                return
        key = self._key_for(dst_mac)
        if sec == 1 and key is None:
            self._report(done, 1, 0.0)
            return
        use_key = key if sec in (1, 2) else None
        if not multicast and dst_mac not in self.neighbours:
            self._resolve(dst, dst_mac, lambda: self._send_datagram(src_port, dst, dst_port, data, dst_mac,
                                                                    use_key, None), done)
            return
        self._send_datagram(src_port, dst, dst_port, data, dst_mac, use_key, done)

    def _report(self, done, result: int, delay: float) -> None:
        if done is not None:
            self.timeline.call_later(delay, done, result)

    def _resolve(self, dst: bytes, dst_mac: bytes, then: Callable[[], None], done) -> None:
        """Neighbour solicitation to ``dst_mac`` (unicast, ACK requested; NS/NA ~70 octets)."""
        t = self.timing
        ns_s = t.csma_s + self.air.airtime(70) + t.ack_s(self.air.airtime)
        if not self.air.acks(self, dst_mac):
            self.stats["ns-unanswered"] += 1
            self._report(done, 1, t.no_ack_s(self.air.airtime(70)))
            return
        self._report(done, 2, ns_s)
        na_s = ns_s + t.csma_s + self.air.airtime(70) + t.rx_processing_s

        def answered():
            self.neighbours.add(dst_mac)
            self.host.stack_event(EV_NA, dst)
            then()
        self.timeline.call_later(na_s, answered)

    def _key_for(self, dst_mac: bytes | None):
        if dst_mac is not None:
            return self.keys.get(dst_mac)
        return next(iter(self.keys.values()), None)   # multicast: the one session's key

    def _send_datagram(self, src_port, dst, dst_port, data, dst_mac, key, done) -> None:
        dgram = UdpDatagram(self.ll, dst, src_port, dst_port, data)
        payload = lowpan.encode(dgram, self.mac, dst_mac)
        frame = mac.MacFrame(mac.FRAME_DATA, self._next_seq(), self.pan_id,
                             dst_mac if dst_mac is not None else mac.BROADCAST_SHORT, self.mac, payload,
                             ack_request=dst_mac is not None)
        if key is not None:
            self.tx_counter += 1
            frame = mac.secure(frame, key.key, mac.AuxSecurity(5, self.tx_counter, key.index))
        self.stats["tx-udp"] += 1
        self._attempt(mac.encode(frame), dst_mac, 0, done)

    def _attempt(self, psdu: bytes, dst_mac: bytes | None, tries: int, done) -> None:
        t = self.timing
        if t.csma_s and tries == 0:
            report = self.air.transmit(self, psdu, ack_from=dst_mac, start_delay=t.csma_s)
        else:
            report = self.air.transmit(self, psdu, ack_from=dst_mac)
        end = max(report.done_at, self.timeline.now())
        if not report.ok:
            self._report_at(done, 1, end)
        elif dst_mac is None or report.acked:
            self._report_at(done, 0, end + (t.ack_s(self.air.airtime) if dst_mac is not None else 0.0))
        elif tries < t.mac_retries:
            self.stats["mac-retry"] += 1
            self.timeline.call_at(end + t.ack_wait_s + t.csma_s, self._attempt, psdu, dst_mac, tries + 1, done)
        else:
            self.stats["tx-no-ack"] += 1
            self._report_at(done, 1, end + t.ack_wait_s)

    def _report_at(self, done, result: int, at: float) -> None:
        if done is not None:
            self.timeline.call_at(at, done, result)

    def probe(self, dst_mac: bytes) -> bool:
        """Would ``dst_mac`` answer on this channel (SKPING's echo)?"""
        return self.air.acks(self, dst_mac)

    # ------------------------------------------------------------------ beacons and scans
    def _send_beacon(self) -> None:
        delay = self.air.rng.uniform(0.0, 0.01) if self.air.accurate else 0.0
        frame = mac.beacon_frame(self._next_seq(), self.pan_id, self.mac, self.pairing_id)
        self.timeline.call_later(delay, self._transmit, frame)

    def scan(self, mode: int, mask: int, duration: int) -> None:
        channels = [33 + i for i in range(28) if mask >> i & 1]
        dwell = self.timing.scan_dwell_s(duration) if self.timing.realistic else self.air.scan_dwell(duration)
        self._scan = {"mode": mode, "channels": channels, "dwell": dwell, "ed": []}
        self.timeline.call_later(0, self._scan_step)

    def _scan_step(self) -> None:
        scan = self._scan
        if scan is None:
            return
        if not scan["channels"]:
            self._scan = None
            self.channel = self.home_channel
            if scan["mode"] == 0:        # EVENT 1F, then EEDSCAN with the pairs (S1 §5.8)
                self.host.stack_event(EV_ED_DONE, self.ll)
                self.host.stack_edscan(scan["ed"])
            else:
                self.host.stack_event(EV_SCAN_DONE, self.ll)
            return
        self.channel = scan["channels"].pop(0)
        if scan["mode"] == 0:
            busy = any(getattr(r, "coordinator", False) and r.channel == self.channel for r in self.air.radios)
            scan["ed"].append((self.channel, 0x30 if busy else 0x04))
        else:
            self._transmit(mac.beacon_request_frame(self._next_seq()))
        self.timeline.call_later(scan["dwell"], self._scan_step)

    def _on_beacon(self, frame, lqi) -> None:
        scan = self._scan
        if scan is None or scan["mode"] not in (2, 3):
            return
        try:
            beacon = mac.parse_beacon(frame)
        except mac.FrameError:
            self.stats["rx-bad-beacon"] += 1
            return
        if scan["mode"] == 2 and beacon.pairing_id != self.pairing_id:
            self.stats["beacon-other-pairing"] += 1
            return
        self.host.stack_event(EV_BEACON, self.ll)
        self.host.stack_pandesc(self.channel, beacon.pan_id, beacon.coordinator, lqi,
                                beacon.pairing_id if scan["mode"] == 2 else None)

    @property
    def scanning(self) -> bool:
        return self._scan is not None

    # ------------------------------------------------------------------ PANA
    def start_paa(self) -> None:
        self.coordinator = True
        self._drop_session()

    def join(self, peer_ll: bytes) -> bool:
        try:
            peer_mac = lowpan.eui64_of(peer_ll)
        except lowpan.LowpanError:
            return False
        self._drop_session()
        self.pac_peer = peer_mac
        self.pac = PanaPac(psk=self.psk(), id_p=self.rbid.encode("ascii"), random_bytes=self.random_bytes,
                           retransmit=self.retransmit, auto_reauth=self.auto)
        self._pana_send(peer_mac, self.pac.start(self.timeline.now()))
        self._pana_after(self.pac, peer_mac)
        return True

    def rejoin(self) -> bool:
        if self.pac is None or not self.pac.is_open:
            return False
        self._pana_send(self.pac_peer, self.pac.reauthenticate(self.timeline.now()))
        self._pana_after(self.pac, self.pac_peer)
        return True

    def terminate(self) -> bool:
        now = self.timeline.now()
        if self.pac is not None and self.pac.is_open:
            self._pana_send(self.pac_peer, self.pac.terminate(now))
            self._pana_after(self.pac, self.pac_peer)
            return True
        if self.paa is not None and self.paa.state in ("open", "re-authenticating"):
            self._pana_send(self.paa_peer, self.paa.terminate(now))
            self._pana_after(self.paa, self.paa_peer)
            return True
        return False

    @property
    def has_session(self) -> bool:
        return bool(self.keys)

    def session_id_with(self, peer_mac: bytes) -> int:
        for machine, peer in ((self.paa, self.paa_peer), (self.pac, self.pac_peer)):
            if machine is not None and peer == peer_mac:
                return machine.session_id or 0
        return 0

    def drop_local_session(self) -> None:
        """Forget this radio's PANA session (keys, PaC/PAA state) without telling the peer."""
        self._drop_session()

    def _drop_session(self) -> None:
        self.keys.clear()
        self.paa = self.paa_next = self.pac = None
        self.paa_peer = self.pac_peer = None
        for timer in self._pana_timers.values():
            timer.cancel()
        self._pana_timers.clear()
        self._pac_inflight = 0
        self._pac_events = []

    def _new_paa(self) -> PanaPaa:
        return PanaPaa(psk=self.psk(), id_s=self.rbid.encode("ascii"), expected_id_p=self.rbid.encode("ascii"),
                       lifetime_s=self.lifetime_s, random_bytes=self.random_bytes, retransmit=self.retransmit,
                       auto_terminate=self.auto)

    def _on_pana(self, src_mac: bytes, data: bytes) -> None:
        now = self.timeline.now()
        if self.pac is not None and src_mac == self.pac_peer:
            self._pana_send(src_mac, self.pac.receive(data, now))
            self._pana_after(self.pac, src_mac)
            return
        if not self.coordinator:
            self.stats["pana-not-for-us"] += 1
            return
        is_pci = len(data) >= 8 and data[6:8] == b"\x00\x01"
        holding = self.paa is not None and self.paa.holds_session
        if holding and src_mac != self.paa_peer:
            self.stats["pana-second-pac-refused"] += 1
            if is_pci:
                self.host.stack_event(EV_PANA_FAIL, lowpan.link_local(src_mac))
            return
        if is_pci:
            if holding:
                # the same PaC starts over (e.g. its dongle was reset): run a new handshake
                # beside the open session; it replaces the session only if it succeeds, so a
                # replayed PCI cannot end a working session
                self.stats["pana-rejoin-attempt"] += 1
                if self.paa_next is not None:
                    self._cancel_timer(self.paa_next)
                self.paa_next = machine = self._new_paa()
            else:
                self.paa_peer = src_mac
                self.paa = machine = self._new_paa()
        elif (self.paa_next is not None and len(data) >= 12
              and int.from_bytes(data[8:12], "big") == self.paa_next.session_id):
            machine = self.paa_next
        else:
            machine = self.paa
        if machine is None:
            self.stats["pana-no-session"] += 1
            return
        self._pana_send(src_mac, machine.receive(data, now))
        self._pana_after(machine, src_mac)

    def _pana_send(self, peer_mac: bytes, messages: list[bytes]) -> None:
        """PANA messages go out after the module's processing time; the PaC prints EVENT 21 for
        each (with 02 + EVENT 02 while the PAA is being resolved), the PAA prints none."""
        peer_ll = lowpan.link_local(peer_mac)
        for m in messages:
            done = None
            if self.pac is not None and peer_mac == self.pac_peer:
                self._pac_inflight += 1
                done = self._pac_sent(peer_ll)
            delay = self.timing.pana_processing_s
            if delay:
                self.timeline.call_later(delay, self.sendto, PANA_PORT, peer_ll, PANA_PORT, 0, m, done)
            else:
                self.sendto(PANA_PORT, peer_ll, PANA_PORT, 0, m, done)

    def _pac_sent(self, peer_ll: bytes):
        def done(result: int) -> None:
            self.host.stack_event(EV_UDP_SENT, peer_ll, result)
            self._pac_inflight = max(0, self._pac_inflight - 1)
            if not self._pac_inflight:
                events, self._pac_events = self._pac_events, []
                for num, addr in events:          # after the EVENT 21 of the message just sent
                    self.host.stack_event(num, addr)
        return done

    def _cancel_timer(self, machine) -> None:
        timer = self._pana_timers.pop(id(machine), None)
        if timer is not None:
            timer.cancel()

    def _pana_after(self, machine, peer_mac: bytes) -> None:
        peer_ll = lowpan.link_local(peer_mac)
        for ev in machine.pop_events():
            self._pana_event(machine, peer_mac, peer_ll, ev)
        self._cancel_timer(machine)
        deadline = machine.next_deadline()
        if deadline is not None and machine.state != "closed":
            self._pana_timers[id(machine)] = self.timeline.call_at(deadline, self._pana_tick, machine, peer_mac)

    def _pana_tick(self, machine, peer_mac) -> None:
        self._pana_timers.pop(id(machine), None)
        if machine not in (self.pac, self.paa, self.paa_next):
            return
        self._pana_send(peer_mac, machine.tick(self.timeline.now()))
        self._pana_after(machine, peer_mac)

    def _pana_event(self, machine, peer_mac: bytes, peer_ll: bytes, ev: PanaEvent) -> None:
        self.stats[f"pana-{ev.kind}"] += 1
        if ev.kind in ("authenticated", "reauthenticated"):
            old = self.keys.get(peer_mac)
            if old is None or old.key != ev.link_key.key:
                # new key material: the counters seen under the old key do not apply to it
                for slot in [s for s in self.rx_counters if s[0] == peer_mac]:
                    del self.rx_counters[slot]
                self.stats["rx-counters-reset"] += 1
            self.keys[peer_mac] = ev.link_key
            self.air.note_link_key(ev.link_key.key, ev.link_key.index)
        elif machine is self.paa_next or (ev.kind == "auth-failed" and machine.sa_key is not None):
            pass                      # the open session (and its key) is not affected
        else:
            self.keys.pop(peer_mac, None)
        num = _PAA_EVENTS[ev.kind]
        if machine is self.pac and self._pac_inflight:   # after the EVENT 21 just pending (§7.2)
            self._pac_events.append((num, peer_ll))
        else:
            self.host.stack_event(num, peer_ll)
        if machine is self.paa_next and ev.kind in ("authenticated", "reauthenticated"):
            old, self.paa, self.paa_next = self.paa, machine, None
            if old is not None:
                self._cancel_timer(old)
        if machine.state == "closed":
            if machine is self.pac:
                self.pac = None
            elif machine is self.paa:
                self.paa = None
            elif machine is self.paa_next:
                self.paa_next = None
        if ev.kind == "auth-failed" and machine in (self.paa, self.paa_next):
            self.last_auth_failure = ev.detail
