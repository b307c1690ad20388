"""An emulated special meter (特例計量器) inside an EV charger/discharger or a PV inverter.

``SpecialMeter(spec, site, timeline)`` integrates its device's power from the site model
(``site.py``) into AC-input / AC-output counters (exact, mWh) and, at every :00/:30 of **its own
clock**, records both registers (Wh) into a 30-min history of ``retention_days`` + today. Its
ECHONET Lite node (``node``) holds a node profile, a distributed generator's electric energy meter
0x028E01 and the device object (0x027E01 EV charger/discharger, 0x02A101 EV charger, or 0x027901
household PV), with EPC layouts from the MRA (reference/iot-route.md §2.2):

* 0x028E: D0 device type (class group, class, 0x00 grid-tied), D1 device ID (6-byte MAC + index),
  D2 tolerance class (1..7 = n1..n7), D3 history retention days (u16), D4 unit 0x03 (0.001 kWh:
  registers are Wh), D5 history day (u16, Set 0..retention), D6 identification (0xFE + maker code +
  13 bytes), DA current time HH MM SS (Get/Set: the terminal's time sync), DB time-sync status
  (0x00 none, 0x01 ok, 0x02 failed), E0/E2 cumulative AC input/output (u32, 9 digits), E1/E3 day
  u16 + 48 × u32 cumulative at 00:00..23:30 of day D5, E6/E7 latest fixed-time value: date-time
  (YYYY u16, MM, DD, hh, mm, ss) + u32. No data = 0xFFFFFFFE (future slots, before metering
  started, slots skipped by a clock jump).
* 0x027E: 80, 88, 8A, C7 vehicle connection (0x43 connected, chargeable and dischargeable; 0x30
  not connected), D3 instantaneous ±W (s32), D6/D8 cumulative discharge/charge (u32, Wh), DA
  operation mode (0x42 charging, 0x43 discharging, 0x44 standby). 0x02A1: C7 0x41 when charging.
  0x02A1: 80, 88, 8A, C7, D8, DA.  0x0279: 80, 88, 8A, E0 instantaneous output (u16 W), E1
  cumulative generated (u32, Wh).

Faults for tests (``lie_id``, ``lie_clock``): a meter that reports another device ID, or whose
clock ignores the terminal's setting and runs far off.
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj, Frame
from sumame.firmware.routes.broute.node import EchonetNode
from sumame.firmware.routes.broute.node_profile import NodeProfile
from sumame.firmware.routes.broute.objects import EchonetObject, identification_number
from sumame.hal.jst import DAY_S, JST_OFFSET_S, jst_datetime

from ..udp_server import UdpNodeServer

NO_DATA = 0xFFFFFFFE
SLOT = 1800
MOD = 1_000_000_000
DEVICE_CLASS = {"ev": 0x027E, "ev-charger": 0x02A1, "pv": 0x0279}


@dataclass
class SpecialMeterSpec:
    name: str                       # e.g. "EVC00001" (production number)
    device: str                     # "ev" (0x027E), "ev-charger" (0x02A1) or "pv" (0x0279)
    mac: bytes                      # 6 bytes: the ECHONET node's MAC (D1 bytes 1-6)
    index: int = 1
    tolerance_class: int = 3        # n3
    retention_days: int = 7
    clock_offset_s: float = 0.0
    initial_wh: tuple[int, int] = (1_000_000, 200_000)
    maker_code: int = 0xFFFFFF
    lie_id: bytes | None = None
    lie_clock_s: float | None = None

    @property
    def device_id(self) -> bytes:
        return self.mac[:6] + bytes([self.index])

    @property
    def serial(self) -> str:
        return self.name

    @property
    def model_device(self) -> str:
        return "pv" if self.device == "pv" else "ev"


def date_time(epoch_local: float) -> bytes:
    d = jst_datetime(epoch_local)
    return struct.pack(">HBBBBB", d.year, d.month, d.day, d.hour, d.minute, d.second)


def parse_date_time(raw: bytes) -> float:
    """ECHONET date-time (7 bytes, JST) -> epoch s; ValueError when malformed."""
    from sumame.hal.jst import from_jst
    if len(raw) != 7:
        raise ValueError(f"date-time of {len(raw)} octets (expected 7)")
    y, mo, d, h, mi, s = struct.unpack(">HBBBBB", raw)
    return float(from_jst(y, mo, d, h, mi, s))


class SpecialMeter:
    def __init__(self, spec: SpecialMeterSpec, site, timeline, *, site_key: str | None = None):
        self.spec, self.site, self.timeline = spec, site, timeline
        self.site_key = site_key or spec.model_device
        """The device of the site model whose power this meter measures ("ev", "pv", "ev:2"...)."""
        self.offset = spec.clock_offset_s if spec.lie_clock_s is None else spec.lie_clock_s
        self.in_mwh, self.out_mwh = spec.initial_wh[0] * 1000.0, spec.initial_wh[1] * 1000.0
        self._at = timeline.now()
        self.history: dict[int, tuple[int, int]] = {}       # own-clock slot -> (in Wh, out Wh)
        self.sync_status = 0x00
        self.day_selected = 0
        self.started = timeline.now()
        self._timer = None
        self.lock = threading.Lock()
        self.sets: list[tuple[float, str]] = []
        self._schedule()
        self.node = self._build_node()

    # ---------------------------------------------------------------- physics and clock
    def local_now(self) -> float:
        return self.timeline.now() + self.offset

    def _advance(self) -> None:
        now = self.timeline.now()
        if now > self._at:
            imp, exp = self.site.energy_wh(lambda t: self.site.device_w(self.site_key, t), self._at, now)
            self.in_mwh += imp * 1000.0
            self.out_mwh += exp * 1000.0
            self._at = now

    def registers_wh(self) -> tuple[int, int]:
        self._advance()
        return int(self.in_mwh // 1000) % MOD, int(self.out_mwh // 1000) % MOD

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        nxt = (int(self.local_now()) // SLOT + 1) * SLOT
        self._timer = self.timeline.call_later(max(0.0, nxt - self.local_now()), self._tick, nxt)

    def _tick(self, slot: int) -> None:
        self._timer = None
        self.history.setdefault(slot, self.registers_wh())
        horizon = slot - (self.spec.retention_days + 1) * DAY_S
        for old in [k for k in self.history if k < horizon]:
            del self.history[old]
        self._schedule()

    def set_time_of_day(self, h: int, m: int, s: int) -> bool:
        """DA Set: move the clock to h:m:s JST, on the day nearest to its current time."""
        if not (h < 24 and m < 60 and s < 60):
            return False
        if self.spec.lie_clock_s is not None:       # a faulty/dishonest meter: accepts, ignores
            return True
        local = self.local_now()
        midnight = (int(local) + JST_OFFSET_S) // DAY_S * DAY_S - JST_OFFSET_S
        target = midnight + h * 3600 + m * 60 + s
        best = min((target - DAY_S, target, target + DAY_S), key=lambda x: abs(x - local))
        self.offset += best - local
        self.sync_status = 0x01
        self.sets.append((self.timeline.now(), f"{h:02d}:{m:02d}:{s:02d} ({best - local:+.1f} s)"))
        self._schedule()
        return True

    # ---------------------------------------------------------------- history views
    def latest(self) -> tuple[int, tuple[int, int]] | None:
        return (max(self.history), self.history[max(self.history)]) if self.history else None

    def day_values(self, which: int) -> list[int]:
        """48 registers (which 0 = AC input, 1 = output) of day ``day_selected`` (0 = today)."""
        local = self.local_now()
        midnight = (int(local) + JST_OFFSET_S) // DAY_S * DAY_S - JST_OFFSET_S - self.day_selected * DAY_S
        out = []
        for i in range(48):
            v = self.history.get(midnight + i * SLOT)
            out.append(NO_DATA if v is None else v[which])
        return out

    # ---------------------------------------------------------------- ECHONET Lite
    def _build_node(self) -> EchonetNode:
        meter = DistributedMeterObject(self)
        device = DeviceObject(self)
        self.objects = (meter, device)
        return EchonetNode([NodeProfile(self.spec, [meter, device]), meter, device])

    def exchange(self, data: bytes) -> list[bytes]:
        """One ECHONET Lite datagram in, the node's answers out (in-process, no socket)."""
        with self.lock:
            try:
                frame = el.decode(data)
            except el.EchonetError as exc:
                reply = self.node.handle_error(exc)
                return [] if reply is None else [el.encode(reply)]
            replies, _ = self.node.handle(frame)
            return [el.encode(r) for r in replies]


class DistributedMeterObject(EchonetObject):
    """0x028E01, distributed generator's electric energy meter."""

    def __init__(self, m: SpecialMeter):
        super().__init__(Eoj(0x02, 0x8E, 0x01))
        self.m = m
        spec = m.spec
        cls = DEVICE_CLASS[spec.device]
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x81, lambda: b"\x00")
        self._add(0x82, lambda: b"\x00\x00R\x00")
        self._add(0x88, lambda: b"\x42", announce=True)
        self._add(0x8A, lambda: spec.maker_code.to_bytes(3, "big"))
        self._add(0xD0, lambda: bytes([cls >> 8, cls & 0xFF, 0x00]))
        self._add(0xD1, lambda: spec.lie_id or spec.device_id)
        self._add(0xD2, lambda: bytes([spec.tolerance_class]))
        self._add(0xD3, lambda: spec.retention_days.to_bytes(2, "big"))
        self._add(0xD4, lambda: b"\x03")
        self._add(0xD5, lambda: m.day_selected.to_bytes(2, "big"), self._set_day)
        self._add(0xD6, lambda: identification_number(spec))
        self._add(0xDA, self._time, self._set_time)
        self._add(0xDB, lambda: bytes([m.sync_status]))
        self._add(0xE0, lambda: struct.pack(">I", m.registers_wh()[0]))
        self._add(0xE2, lambda: struct.pack(">I", m.registers_wh()[1]))
        self._add(0xE1, lambda: self._history(0))
        self._add(0xE3, lambda: self._history(1))
        self._add(0xE6, lambda: self._fixed(0))
        self._add(0xE7, lambda: self._fixed(1))

    def _set_day(self, edt: bytes) -> bool:
        if len(edt) != 2 or int.from_bytes(edt, "big") > self.m.spec.retention_days:
            return False
        self.m.day_selected = int.from_bytes(edt, "big")
        return True

    def _time(self) -> bytes:
        d = jst_datetime(self.m.local_now())
        return bytes([d.hour, d.minute, d.second])

    def _set_time(self, edt: bytes) -> bool:
        return len(edt) == 3 and self.m.set_time_of_day(*edt)

    def _history(self, which: int) -> bytes:
        return self.m.day_selected.to_bytes(2, "big") + b"".join(struct.pack(">I", v) for v in self.m.day_values(which))

    def _fixed(self, which: int) -> bytes | None:
        latest = self.m.latest()
        if latest is None:
            return date_time(self.m.local_now() // SLOT * SLOT) + struct.pack(">I", NO_DATA)
        slot, regs = latest
        return date_time(slot) + struct.pack(">I", regs[which])


class DeviceObject(EchonetObject):
    """The device the special meter sits in: 0x027E01 / 0x02A101 EV charger, 0x027901 PV."""

    def __init__(self, m: SpecialMeter):
        cls = DEVICE_CLASS[m.spec.device]
        super().__init__(Eoj(cls >> 8, cls & 0xFF, 0x01))
        self.m = m
        spec = m.spec
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x81, lambda: b"\x00")
        self._add(0x82, lambda: b"\x00\x00R\x00")
        self._add(0x88, lambda: b"\x42", announce=True)
        self._add(0x8A, lambda: spec.maker_code.to_bytes(3, "big"))
        if spec.device == "pv":
            self._add(0xE0, lambda: struct.pack(">H", max(0, min(0xFFFD, int(-self._w())))))
            self._add(0xE1, lambda: struct.pack(">I", m.registers_wh()[1]))
            return
        active = b"\x43" if spec.device == "ev" else b"\x41"        # connected, (dis)chargeable
        self._add(0xC7, lambda: active if self._w() != 0 else b"\x30", announce=True)
        self._add(0xD8, lambda: struct.pack(">I", m.registers_wh()[0]))
        self._add(0xDA, lambda: b"\x42" if self._w() > 0 else (b"\x43" if self._w() < 0 else b"\x44"), announce=True)
        if spec.device == "ev":
            self._add(0xD3, lambda: struct.pack(">i", int(self._w())))
            self._add(0xD6, lambda: struct.pack(">I", m.registers_wh()[1]))

    def _w(self) -> float:
        return self.m.site.device_w(self.m.site_key, self.m.timeline.now())


class EchonetUdpServer(UdpNodeServer):
    """Serve a special meter's node on ``address``:``port`` (UDP, loopback; a thread)."""

    thread_prefix = "special"

    def __init__(self, meter: SpecialMeter, address: str, port: int = 3610):
        super().__init__(address, port)
        self.meter = meter

    def answers(self, data: bytes) -> list[bytes]:
        return self.meter.exchange(data)

    def reply_to(self, peer: tuple) -> tuple:
        return (peer[0], 3610)                 # answers go to port 3610 (Part 2 §1.2)


__all__ = ["SpecialMeter", "SpecialMeterSpec", "EchonetUdpServer", "NO_DATA", "Frame", "date_time",
           "parse_date_time"]
