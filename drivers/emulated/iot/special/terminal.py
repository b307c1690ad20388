"""An emulated special-meter terminal: ECHONET Lite to its special meter, DLMS/COSEM to the smart
meter over Enhanced HAN (reference/iot-route.md §1.5 ③④⑥⑦).

``SpecialTerminal(spec, air, timeline, meter, channel=...)``, mains powered (an Enhanced HAN end
device, always awake):

* **reads** its special meter (``meter.exchange``: real ECHONET Lite frames, in-process in
  virtual time; the same requests go over UDP 3610 to a real one) every 30 min, ``read_delay_s``
  after each :00/:30 of its clock: 0x028E D1 (must be ``expected_id``: the terminal is paired with
  one meter), D2, DB, E6/E7 (the latest fixed-time registers with their date-time);
* **stores** the 30-min forward (AC input) / reverse (AC output) cumulative registers by slot end
  (``store``, ≥ ``retention_days``, kept through its own power cuts like flash);
* **fills gaps** itself: any slot since ``since`` missing from the store is read back from the
  meter's 48-slot history (Set D5 = day, Get E1/E3); a history slot marked no data is forwarded as
  no data, never 0;
* **converts** to our COSEM model (``firmware/routes/iot/special_cosem.py``: profile-generic
  buffer rows {clock, +A, −A, status}) and sends ``SPECIAL_VALUES`` (≤ 8 slots each) until the
  smart meter ACKs them; events (ID mismatch, clock fault, read failures, sync) go as
  ``SPECIAL_EVENT``;
* **sends again** the slots of a ``HISTORY_REQUEST`` (the MDMS's gap fill through the smart meter:
  an IoT push lost on the A-route) from its store;
* **time sync**: HELLO/POLL carry its clock, the smart meter answers TIME and the terminal
  corrects itself (a wrong clock at start is fixed at the first answer); only once synchronised
  does it forward values and set the special meter's clock (0x028E DA), whose DB then reads 0x01.
  A meter whose clock stays off after the setting (``CLOCK_FAULT_S``) is a clock fault: its values
  are refused until it is right again.

``power_off()`` / ``power_on()`` model a terminal outage (the store survives).
"""
from __future__ import annotations

import random
import struct
from collections import Counter
from dataclasses import dataclass

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj, Esv, Frame, Property
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot import special_cosem as sc
from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_datetime

from ..node import EhanNode
from .meter import NO_DATA, SLOT, parse_date_time

CONTROLLER = Eoj(0x05, 0xFF, 0x01)
METER_EOJ = Eoj(0x02, 0x8E, 0x01)
CLOCK_FAULT_S = 60.0
SYNC_SET_S = 2.0
PER_MESSAGE = 8
LOST_AFTER_S = 1000.0


@dataclass
class SpecialTerminalSpec:
    terminal_id: str                # 8 ASCII, e.g. "SPM00001"
    mac: bytes                      # EUI-64
    psk: bytes
    expected_id: bytes              # the paired special meter's 0x028E D1 (7 bytes)
    since: int                      # first slot end this terminal is responsible for (epoch s)
    channel_b: int = 1
    clock_offset_s: float = 0.0
    poll_interval_s: float = 60.0
    read_delay_s: float = 20.0
    retention_days: int = 10
    seed: int = 1

    @property
    def tid(self) -> bytes:
        return self.terminal_id.encode("ascii")[:8].ljust(8, b" ")


def _midnight(t: float) -> int:
    return int((t + JST_OFFSET_S) // DAY_S * DAY_S - JST_OFFSET_S)


class SpecialTerminal:
    def __init__(self, spec: SpecialTerminalSpec, air, timeline, meter, *, channel: int, max_hops: int = 2,
                 random_bytes=None):
        self.spec, self.timeline, self.meter = spec, timeline, meter
        kw = {} if random_bytes is None else {"random_bytes": random_bytes}
        self.node = EhanNode(air, timeline, spec.mac, terminal_id=spec.tid, psk=spec.psk, channel=channel,
                             role="end", max_hops=max_hops, **kw)
        self.node.on_app, self.node.on_joined, self.node.on_lost = self._on_app, self._on_joined, self._on_lost
        self.rng = random.Random(spec.seed)
        self.offset = spec.clock_offset_s
        self.synced = False
        self.store: dict[int, tuple[int | None, int | None]] = {}
        self.acked: set[int] = set()
        self.pending: dict[int, list] = {}           # msg_id -> [payload, slots, tries]
        self.tolerance_class, self.sync_status, self.device_class = 0xFF, 0x00, 0x027E
        self.meter_clock_bad = False
        self.msg_id = 0
        self.tid = 0
        self.heard_at = timeline.now()
        self.backoff_s = 30.0
        self.running = False
        self.stats: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []
        self._timers: dict[str, object] = {}
        self._event_sent: dict[int, float] = {}

    # ---------------------------------------------------------------- clock and timers
    def local_now(self) -> float:
        return self.timeline.now() + self.offset

    def _later(self, name: str, delay: float, fn) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = self.timeline.call_later(max(0.0, delay), fn)

    def _note(self, text: str) -> None:
        self.log.append((self.timeline.now(), text))

    # ---------------------------------------------------------------- power
    def start(self) -> None:
        self.power_on()

    def power_on(self) -> None:
        self.running = True
        self.heard_at = self.timeline.now()
        self.node.join()
        self._schedule_read()

    def power_off(self) -> None:
        """Terminal outage: radio and timers stop; the value store (flash) is kept."""
        self.running = False
        self.synced = False            # its RTC keeps time, but it trusts it again only after TIME
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.pending.clear()
        self.node.leave()
        self._note("power off")

    # ---------------------------------------------------------------- Enhanced HAN side
    def _on_joined(self, hops: int) -> None:
        self.backoff_s = 30.0
        self.heard_at = self.timeline.now()
        self._send(c.HELLO, c.Hello(c.KIND_SPECIAL, self.spec.expected_id[:6], int(self.local_now())).encode())
        self._later("poll", self.rng.uniform(5.0, self.spec.poll_interval_s), self._poll)

    def _on_lost(self) -> None:
        self.stats["lost"] += 1
        self._timers.pop("poll", None)
        if self.running:
            self._later("rejoin", self.backoff_s * self.rng.uniform(0.8, 1.2), self._rejoin)
            self.backoff_s = min(300.0, self.backoff_s * 2)

    def _rejoin(self) -> None:
        if self.running and not self.node.joined and self.node.state == "idle":
            self.node.join()

    def _poll(self) -> None:
        if not self.running or not self.node.joined:
            return
        if self.timeline.now() - self.heard_at > LOST_AFTER_S:
            self.stats["rejoins"] += 1
            self.node.leave()
            self._on_lost()
            return
        self._send(c.POLL, c.poll_body(int(self.local_now()), 1000))
        self._later("poll", self.spec.poll_interval_s, self._poll)

    def _send(self, msg_type: int, body: bytes, slots: tuple = ()) -> int:
        self.msg_id = (self.msg_id + 1) & 0xFFFF
        payload = c.encode(msg_type, self.msg_id, body)
        if msg_type in (c.SPECIAL_VALUES, c.SPECIAL_EVENT):
            self.pending[self.msg_id] = [payload, slots, 1]
        if self.node.send_app(payload):
            self.stats[f"tx-{c.NAMES[msg_type]}"] += 1
        return self.msg_id

    def _on_app(self, payload: bytes) -> None:
        try:
            msg = c.decode(payload)
        except c.IotCodecError:
            self.stats["rx-malformed"] += 1
            return
        self.heard_at = self.timeline.now()
        self.stats[f"rx-{msg.name}"] += 1
        try:
            if msg.type == c.TIME:
                clock, _ = c.parse_time(msg.body)
                err = self.local_now() - clock
                if abs(err) > 1.0:
                    self.offset -= err
                    self.stats["clock-corrected"] += 1
                    self._note(f"clock corrected by {-err:+.0f} s")
                first = not self.synced
                self.synced = True
                if first or abs(err) > 1.0:
                    self._later("sync", 0.5, self._sync_meter)
                    self._later("flush", 2.0, self.flush)
                    self._schedule_read()
            elif msg.type == c.HISTORY_REQUEST:            # the MDMS misses these slots: send them again
                first, last = c.parse_history(msg.body)
                again = [s for s in self.acked if first <= s <= last]
                self.acked.difference_update(again)
                self.stats["history-requests"] += 1
                self._note(f"history request {first}..{last}: {len(again)} slot(s) to send again")
                self._later("flush", 2.0, self.flush)
            elif msg.type == c.ACK:
                mid, status = c.parse_ack(msg.body)
                entry = self.pending.pop(mid, None)
                if entry is not None and status == c.ERR_NONE:
                    self.acked.update(entry[1])
                elif entry is not None:
                    self.stats[f"nack-{status}"] += 1
        except c.IotCodecError:
            self.stats["rx-malformed"] += 1

    # ---------------------------------------------------------------- ECHONET Lite side
    def _request(self, esv: Esv, props: tuple[Property, ...]) -> dict[int, bytes] | None:
        self.tid = (self.tid + 1) & 0xFFFF
        replies = self.meter.exchange(el.encode(Frame(self.tid, CONTROLLER, METER_EOJ, esv, props)))
        for raw in replies:
            try:
                frame = el.decode(raw)
            except el.EchonetError as exc:
                self.stats["echonet-malformed"] += 1
                self._event(sc.EV_READ_FAILED, f"malformed ECHONET: {exc}"[:48])
                return None
            if frame.tid == self.tid and frame.seoj == METER_EOJ:
                if frame.esv not in (Esv.GET_RES, Esv.SET_RES):
                    self.stats["echonet-refused"] += 1
                    return None
                return {p.epc: p.edt for p in frame.props}
        self.stats["echonet-no-answer"] += 1
        return None

    def _get(self, *epcs: int) -> dict[int, bytes] | None:
        return self._request(Esv.GET, tuple(Property(e) for e in epcs))

    def _set(self, epc: int, edt: bytes) -> bool:
        return self._request(Esv.SETC, (Property(epc, edt),)) is not None

    def _event(self, code: int, detail: str) -> None:
        """A SPECIAL_EVENT to the smart meter (at most one per code per 30 min)."""
        now = self.timeline.now()
        self._note(f"event {sc.EVENT_NAMES[code]}: {detail}")
        self.stats[f"event-{sc.EVENT_NAMES[code]}"] += 1
        if now - self._event_sent.get(code, -1e9) < SLOT or not self.node.joined:
            return
        self._event_sent[code] = now
        self._send(c.SPECIAL_EVENT, sc.SpecialEvent(self.spec.expected_id, int(self.local_now()), code, detail).encode())

    def _time_of_day(self, t: float) -> int:
        d = jst_datetime(t)
        return d.hour * 3600 + d.minute * 60 + d.second

    def _meter_clock_error(self) -> float | None:
        got = self._get(0xDA)
        if not got or len(got.get(0xDA, b"")) != 3:
            return None
        h, m, s = got[0xDA]
        err = (h * 3600 + m * 60 + s) - self._time_of_day(self.local_now())
        return (err + DAY_S / 2) % DAY_S - DAY_S / 2

    def _sync_meter(self) -> None:
        """Set the special meter's clock (DA) from ours, once ours is synchronised."""
        if not self.running or not self.synced:
            return
        err = self._meter_clock_error()
        if err is None:
            self._event(sc.EV_SYNC_FAILED, "no DA answer")
            return
        if abs(err) > SYNC_SET_S or self.sync_status != 0x01:
            d = jst_datetime(self.local_now())
            self._set(0xDA, bytes([d.hour, d.minute, d.second]))
            err = self._meter_clock_error()
        bad = err is None or abs(err) > CLOCK_FAULT_S
        if bad and not self.meter_clock_bad:
            self._event(sc.EV_CLOCK_FAULT, f"special meter clock {err:+.0f} s off after setting"
                        if err is not None else "special meter clock unreadable")
        elif not bad and (self.meter_clock_bad or self.sync_status != 1):
            self._event(sc.EV_SYNC_OK, f"special meter clock within {abs(err):.0f} s")
        self.meter_clock_bad = bad
        got = self._get(0xDB)
        if got and len(got.get(0xDB, b"")) == 1:
            self.sync_status = got[0xDB][0]

    def _schedule_read(self) -> None:
        if not self.running:
            return
        local = self.local_now()
        nxt = (int(local) // SLOT + 1) * SLOT + self.spec.read_delay_s
        if nxt - SLOT > local:                  # still before this slot's read time
            nxt -= SLOT
        self._later("read", nxt - local, self._read_cycle)

    def _read_cycle(self) -> None:
        if not self.running:
            return
        self.read_now()
        self._schedule_read()
        if self.synced and self.timeline.now() % (6 * 3600) < SLOT:
            self._later("sync", 1.0, self._sync_meter)        # keep the meter's clock right

    def read_now(self) -> int:
        """One read of the special meter, gap fill, then forward; returns slots newly stored."""
        self.stats["reads"] += 1
        got = self._get(0xD1, 0xD2, 0xD0, 0xDB, 0xE6, 0xE7)
        if got is None or any(e not in got for e in (0xD1, 0xD2, 0xD0, 0xE6, 0xE7)):
            self._event(sc.EV_READ_FAILED, "special meter did not answer the read")
            return 0
        if got[0xD1] != self.spec.expected_id:
            self._event(sc.EV_ID_MISMATCH, f"meter reports {got[0xD1].hex().upper()}")
            return 0
        if self.meter_clock_bad:
            self._sync_meter()
            if self.meter_clock_bad:
                return 0
        try:
            self.tolerance_class = got[0xD2][0]
            self.device_class = int.from_bytes(got[0xD0][:2], "big")
            if 0xDB in got and len(got[0xDB]) == 1:
                self.sync_status = got[0xDB][0]
            t_in, v_in = self._fixed(got[0xE6])
            t_out, v_out = self._fixed(got[0xE7])
        except (ValueError, IndexError, struct.error) as exc:
            self._event(sc.EV_READ_FAILED, f"bad fixed-time value: {exc}"[:48])
            return 0
        if t_in != t_out or t_in % SLOT:
            self._event(sc.EV_READ_FAILED, "fixed-time values not on one :00/:30 slot")
            return 0
        if self.synced and abs(t_in + SLOT / 2 - self.local_now()) > SLOT / 2 + CLOCK_FAULT_S + self.spec.read_delay_s:
            self._event(sc.EV_CLOCK_FAULT, f"latest slot {t_in - self.local_now():+.0f} s from the terminal clock")
            self.meter_clock_bad = True
            return 0
        n = 0
        if v_in != NO_DATA and v_out != NO_DATA and t_in >= self.spec.since and t_in not in self.store:
            self.store[t_in] = (v_in, v_out)
            n += 1
        n += self._fill_gaps(t_in)
        self._prune()
        self.flush()
        return n

    @staticmethod
    def _fixed(edt: bytes) -> tuple[int, int]:
        if len(edt) != 11:
            raise ValueError(f"fixed-time value of {len(edt)} octets")
        return int(parse_date_time(edt[:7])), struct.unpack(">I", edt[7:])[0]

    def _fill_gaps(self, latest: int) -> int:
        first = max(self.spec.since, latest - self.spec.retention_days * DAY_S)
        missing = [s for s in range(first - first % SLOT, latest, SLOT) if s >= self.spec.since and s not in self.store]
        if not missing:
            return 0
        today = _midnight(latest)
        n = 0
        for day in sorted({(today - _midnight(s)) // DAY_S for s in missing}):
            if not self._set(0xD5, int(day).to_bytes(2, "big")):
                self._event(sc.EV_READ_FAILED, f"history day {day} refused")
                continue
            got = self._get(0xE1, 0xE3)
            if got is None or len(got.get(0xE1, b"")) != 194 or len(got.get(0xE3, b"")) != 194:
                self._event(sc.EV_READ_FAILED, f"history of day {day} unreadable")
                continue
            if int.from_bytes(got[0xE1][:2], "big") != day or int.from_bytes(got[0xE3][:2], "big") != day:
                self._event(sc.EV_READ_FAILED, f"history answered for another day than {day}")
                continue
            ins = struct.unpack(">48I", got[0xE1][2:])
            outs = struct.unpack(">48I", got[0xE3][2:])
            midnight = today - day * DAY_S
            for i in range(48):
                s = midnight + i * SLOT
                if s in missing:
                    if ins[i] == NO_DATA or outs[i] == NO_DATA:
                        self.store[s] = (None, None)          # the meter did not measure it
                    else:
                        self.store[s] = (ins[i], outs[i])
                    n += 1
        self.stats["gap-filled"] += n
        if n:
            self._note(f"gap fill: {n} slot(s) from the 48-slot history")
        return n

    def _prune(self) -> None:
        horizon = self.local_now() - self.spec.retention_days * DAY_S
        for s in [s for s in self.store if s < horizon]:
            del self.store[s]
            self.acked.discard(s)

    def flush(self) -> int:
        """Send every stored slot the smart meter has not acknowledged (≤ 8 per message)."""
        if not (self.running and self.synced and self.node.joined):
            return 0
        in_flight = {s for entry in self.pending.values() for s in entry[1]}
        for mid, entry in list(self.pending.items()):           # unanswered: once more, then drop
            if entry[2] >= 3:
                del self.pending[mid]
                continue
            entry[2] += 1
            self.node.send_app(entry[0])
        todo = sorted(s for s in self.store if s not in self.acked and s not in in_flight)
        for i in range(0, len(todo), PER_MESSAGE):
            chunk = tuple(todo[i:i + PER_MESSAGE])
            rows = tuple(sc.Slot(s, *self.store[s]) for s in chunk)
            body = sc.SpecialValues(self.spec.expected_id, self.tolerance_class, self.sync_status,
                                    self.device_class, rows).encode()
            self._send(c.SPECIAL_VALUES, body, chunk)
        return len(todo)
