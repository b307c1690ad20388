"""The virtual 920 MHz medium (route-B Wi-SUN) the emulated dongles transmit on.

* Channels 33-60 (SKSTACK numbering; 922.5 + 0.2 (n - 33) MHz); a frame reaches every other
  radio tuned to the same channel (PAN filtering is the receiver's MAC job). Unicast and
  broadcast are the same on air: real IEEE 802.15.4 PSDUs with FCS (see firmware/net).
* Seeded, configurable loss (per receiver) and corruption (a flipped octet -> bad FCS).
* ``mode="accurate"``: airtime at ``bitrate`` (100 kbit/s) including the SUN-FSK PHY overhead
  (preamble 4 + SFD 2 + PHR 2 octets), one frame at a time per channel (the others wait, as
  CSMA would), delivery after airtime + latency, active-scan dwell 0.01 s x (2^D + 1) per
  channel, and the ARIB STD-T108 total-transmit-time limit per radio (``duty_limit_s`` of
  airtime in any ``duty_window_s``; radios are told via ``on_tx_limit`` -> EVENT 32/33).
  ``mode="fast"``: delivery after ``latency_s`` only, scan dwell 1 ms, no limit. Airtime is
  modelled (``modelled_airtime_s``) in both modes.
* MAC ACK: ``transmit(..., ack_from=mac)`` reports whether the radio with that address on the
  channel received the frame (``TxReport.acked``; through a hub the far side is assumed to ack);
  ``acks(sender, mac)`` says whether such a radio is there at all.
* Optional pcap tap (linktype 195) of every transmitted frame; optional hub link
  (``drivers.emulated.air_hub``) so dongles in several processes share one medium.
"""
from __future__ import annotations

import random
import socket
import struct
from collections import Counter, deque
from dataclasses import dataclass
from typing import Protocol

from .wisun.dongle_timing import REAL
from .pcap import PcapWriter
from .timeline import Timeline

CHANNELS = range(33, 61)


def channel_mhz(channel: int) -> float:
    return 922.5 + 0.2 * (channel - 33)


class AirRadio(Protocol):
    """What the air needs from an attached radio."""

    mac: bytes
    channel: int

    def on_air_frame(self, psdu: bytes, lqi: int) -> None: ...

    def on_tx_limit(self, active: bool) -> None: ...


@dataclass(frozen=True)
class AirConfig:
    mode: str = "fast"              # "fast" | "accurate"
    seed: int = 0
    loss: float = 0.0               # probability a receiver misses a frame
    corrupt: float = 0.0            # probability a receiver gets a frame with one octet flipped
    latency_s: float = 0.0          # propagation + processing delay added to every delivery
    bitrate: int = 100_000          # bit/s (802.15.4g SUN FSK as route B uses it)
    phy_overhead_octets: int = 8    # preamble 4 + SFD 2 + PHR 2
    duty_limit_s: float = 360.0     # ARIB STD-T108: total transmit time per window
    duty_window_s: float = 3600.0
    lqi: int = 0xA8                 # reported link quality (≈ -58 dBm)

    def __post_init__(self):
        if self.mode not in ("fast", "accurate"):
            raise ValueError(f"air mode must be 'fast' or 'accurate', got {self.mode!r}")


@dataclass(frozen=True)
class TxReport:
    """ok: the frame went on air; limited: refused by the transmit-time limit.
    airtime_s: modelled airtime; done_at: clock time the transmission ends; acked: the
    addressed radio received it (None when no ACK was asked for)."""

    ok: bool
    limited: bool
    airtime_s: float
    done_at: float
    acked: bool | None = None


class Air:
    def __init__(self, timeline: Timeline, config: AirConfig = AirConfig(), *,
                 pcap_path: str | None = None, hub: tuple[str, int] | None = None):
        self.timeline = timeline
        self.config = config
        self.rng = random.Random(config.seed)
        self.radios: list[AirRadio] = []
        self.stats: Counter[str] = Counter()
        self.modelled_airtime_s = 0.0
        self._busy_until: dict[int, float] = {}
        self._tx_log: dict[int, deque] = {}       # id(radio) -> deque[(start, airtime)]
        self._limited: set[int] = set()
        self._tx_sum: dict[int, float] = {}          # id(radio) -> sum of airtimes in _tx_log
        self.pcap = PcapWriter(pcap_path) if pcap_path else None
        self.link_filter = None
        """Optional ``(sender, receiver) -> bool``: False = this receiver does not hear this sender
        (placement / per-link loss of the Enhanced HAN, ``drivers.emulated.iot.links``)."""
        self._hub_sock: socket.socket | None = None
        self._hub_addr = hub
        if hub is not None:
            self._hub_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._hub_sock.bind(("127.0.0.1", 0))
            self._hub_sock.setblocking(False)
            self._hub_sock.sendto(b"HELLO", hub)

    @property
    def accurate(self) -> bool:
        return self.config.mode == "accurate"

    # ------------------------------------------------------------------ radios
    def attach(self, radio: AirRadio) -> None:
        if radio not in self.radios:
            self.radios.append(radio)

    def detach(self, radio: AirRadio) -> None:
        if radio in self.radios:
            self.radios.remove(radio)

    # ------------------------------------------------------------------ timing model
    def airtime(self, psdu_len: int) -> float:
        """Seconds on air for a PSDU of ``psdu_len`` octets (FCS included)."""
        return (psdu_len + self.config.phy_overhead_octets) * 8 / self.config.bitrate

    def scan_dwell(self, duration: int) -> float:
        """Per-channel active-scan time for SKSCAN DURATION ``duration`` (s)."""
        if self.accurate:
            return REAL.scan_dwell_s(duration)
        # fast: 1 ms in virtual time. On a real clock the beacon must arrive while the scanner
        # still listens on the channel despite processing lag (scaled by the clock's speed
        # ratio); across processes a beacon needs a loopback round trip.
        if self._hub_sock is not None:
            return 0.05
        if self.timeline.virtual:
            return 0.001
        return 0.02 * getattr(self.timeline.clock, "ratio", 1.0)

    def tx_time_in_window(self, radio: AirRadio) -> float:
        """Airtime (s) ``radio`` used in the last ``duty_window_s`` (SKSTACK SFD, in s)."""
        log = self._tx_log.get(id(radio))
        if not log:
            return 0.0
        horizon = self.timeline.now() - self.config.duty_window_s
        total = self._tx_sum.get(id(radio), 0.0)
        while log and log[0][0] + log[0][1] <= horizon:
            total -= log.popleft()[1]
        # running sum (a radio sending thousands of frames an hour must not cost O(n) per frame);
        # re-summed when the log empties so rounding cannot drift
        total = total if log else 0.0
        self._tx_sum[id(radio)] = total
        return max(0.0, total)

    def limit_active(self, radio: AirRadio) -> bool:
        return id(radio) in self._limited

    def acks(self, sender: AirRadio, mac: bytes) -> bool:
        """Is a radio with address ``mac`` listening on ``sender``'s channel (or a hub peer)?"""
        if self._hub_sock is not None:
            return True
        return any(r is not sender and getattr(r, "mac", None) == mac and r.channel == sender.channel
                   for r in self.radios)

    # ------------------------------------------------------------------ transmit
    def transmit(self, radio: AirRadio, psdu: bytes, *, ack_from: bytes | None = None,
                 start_delay: float = 0.0) -> TxReport:
        """Put ``psdu`` on air (after ``start_delay`` s of CSMA backoff in accurate mode)."""
        now = self.timeline.now()
        airtime = self.airtime(len(psdu))
        self.modelled_airtime_s += airtime
        if not self.accurate:
            self.stats["frames"] += 1
            got = self._emit(radio, radio.channel, psdu, now, now + self.config.latency_s, ack_from)
            return TxReport(True, False, airtime, now, self._acked(ack_from, got))
        if id(radio) in self._limited:
            self.stats["refused-limit"] += 1
            return TxReport(False, True, airtime, now)
        if self.tx_time_in_window(radio) + airtime > self.config.duty_limit_s:
            self._limited.add(id(radio))
            self.stats["limit-started"] += 1
            radio.on_tx_limit(True)
            self._schedule_release(radio)
            return TxReport(False, True, airtime, now)
        start = max(now + start_delay, self._busy_until.get(radio.channel, now))
        done = start + airtime
        self._busy_until[radio.channel] = done
        self._tx_log.setdefault(id(radio), deque()).append((start, airtime))
        self._tx_sum[id(radio)] = self._tx_sum.get(id(radio), 0.0) + airtime
        self.stats["frames"] += 1
        got = self._emit(radio, radio.channel, psdu, start, done + self.config.latency_s, ack_from)
        return TxReport(True, False, airtime, done, self._acked(ack_from, got))

    def _acked(self, ack_from: bytes | None, got: bool) -> bool | None:
        if ack_from is None:
            return None
        return True if self._hub_sock is not None else got

    def _schedule_release(self, radio: AirRadio) -> None:
        log = self._tx_log.get(id(radio))
        when = (log[0][0] + log[0][1] + self.config.duty_window_s) if log else self.timeline.now()
        self.timeline.call_at(when, self._try_release, radio)

    def _try_release(self, radio: AirRadio) -> None:
        if id(radio) not in self._limited:
            return
        # release once at least 10 % of the limit is free again
        if self.tx_time_in_window(radio) <= self.config.duty_limit_s * 0.9:
            self._limited.discard(id(radio))
            self.stats["limit-released"] += 1
            radio.on_tx_limit(False)
        else:
            self._schedule_release(radio)

    def _emit(self, sender, channel: int, psdu: bytes, start: float, deliver_at: float,
              ack_from: bytes | None = None) -> bool:
        """Schedule delivery to every radio on the channel; True if ``ack_from``'s radio gets it."""
        if self.pcap is not None:
            self.pcap.write(start, psdu)
        if self._hub_sock is not None:
            try:
                self._hub_sock.sendto(struct.pack(">B", channel) + psdu, self._hub_addr)
            except OSError:
                self.stats["hub-send-failed"] += 1
        got = False
        for radio in list(self.radios):
            if radio is not sender and radio.channel == channel:
                if self.link_filter is not None and not self.link_filter(sender, radio):
                    self.stats["link-missed"] += 1
                    continue
                ok = self._schedule_delivery(radio, psdu, deliver_at, channel)
                got = got or (ok and ack_from is not None and getattr(radio, "mac", None) == ack_from)
        return got

    def _schedule_delivery(self, radio, psdu: bytes, at: float, channel: int) -> bool:
        """False when the frame is lost or arrives corrupted (bad FCS: no ACK)."""
        if self.config.loss and self.rng.random() < self.config.loss:
            self.stats["lost"] += 1
            return False
        intact = True
        if self.config.corrupt and self.rng.random() < self.config.corrupt:
            i = self.rng.randrange(len(psdu))
            psdu = psdu[:i] + bytes([psdu[i] ^ 0x5A]) + psdu[i + 1:]
            self.stats["corrupted"] += 1
            intact = False
        self.timeline.call_at(at, self._deliver, radio, psdu, channel)
        return intact

    def _deliver(self, radio, psdu: bytes, channel: int) -> None:
        if radio in self.radios and radio.channel == channel:
            self.stats["delivered"] += 1
            radio.on_air_frame(psdu, self.config.lqi)

    # ------------------------------------------------------------------ hub (cross-process)
    def fileno(self) -> int:
        """The hub socket (select it for ``on_hub_readable``); -1 without a hub."""
        return self._hub_sock.fileno() if self._hub_sock is not None else -1

    def on_hub_readable(self) -> None:
        """Take frames other processes put on the air and deliver them locally."""
        while self._hub_sock is not None:
            try:
                data, _ = self._hub_sock.recvfrom(4096)
            except BlockingIOError:
                return
            except OSError:
                return
            if len(data) < 2:
                continue
            channel, psdu = data[0], data[1:]
            now = self.timeline.now()
            for radio in list(self.radios):
                if radio.channel == channel:
                    self._schedule_delivery(radio, psdu, now + self.config.latency_s, channel)

    def note_link_key(self, key: bytes, index: int) -> None:
        """A radio installed an 802.15.4 link key: the pcap's key log gets it (no pcap: nothing)."""
        if self.pcap is not None:
            self.pcap.log_key(key, index)

    def close(self) -> None:
        if self.pcap is not None:
            self.pcap.close()
        if self._hub_sock is not None:
            self._hub_sock.close()
            self._hub_sock = None
