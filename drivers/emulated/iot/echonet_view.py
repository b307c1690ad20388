"""ECHONET Lite view of an emulated terminal's meter: water flow meter 0x0281 / gas meter 0x0282.

``TerminalEchonetNode(terminal, address)`` serves a node profile (0x0EF001) and one device
object on ``address``:3610 (UDP, a loopback address; a thread), so a HEMS (pychonet) reads the
gas/water meter behind an IoT-route terminal like any ECHONET Lite meter. Values come from the
terminal's hourly store (litres = 0.001 m³):

* 0x0281 water: 80, 81, 82, 88, 8A, 9D-9F, D0 type 0x30 (tap water), E0 cumulative (unit E1 =
  0x03, 0.001 m³), E1, E2 48 half-hour slots of the past 24 h (the :30 slots, which an hourly
  terminal does not measure, are no data 0xFFFFFFFE), E3 abnormal value 0x41/0x42, E5 ID (6 B).
* 0x0282 gas: 80, 81, 82, 88, 8A, 9D-9F, E0 cumulative (0.001 m³), E2 48-slot log as above.
  (0x0282 has no valve EPC: the valve is an IoT-route matter, reference §2.2.)
* 0x0289 smart gas meter (not in the MRA; EPC names from OpenECHO/pychonet), beside 0x0282 on a
  gas terminal, Get only (the valve is status here, never an ECHONET Set): E2 cumulative, E3
  unit (0x03 = 0.001 m³, as 0x0281 E1), E6 abnormal value 0x41/0x42, E8 closed by the centre
  0x41/0x42, EA emergency shut-off 0x41/0x42, EB valve 0x41 open / 0x42 closed, EC the last 3
  shut-off reasons (our alarm codes, oldest first, 0 = none: the real encoding is not public).
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import Eoj
from sumame.firmware.routes.broute.node import EchonetNode
from sumame.firmware.routes.broute.node_profile import NodeProfile
from sumame.firmware.routes.broute.objects import EchonetObject, identification_number

from .udp_server import UdpNodeServer

NO_DATA = 0xFFFFFFFE
HOUR = 3600


@dataclass(frozen=True)
class _Ident:
    serial: str
    maker_code: int = 0xFFFFFF


class MeterObject(EchonetObject):
    def __init__(self, terminal, ident: _Ident):
        water = terminal.spec.kind == "water"
        super().__init__(Eoj(0x02, 0x81 if water else 0x82, 0x01))
        self.terminal = terminal
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x81, lambda: b"\x00")
        self._add(0x82, lambda: b"\x00\x00R\x00")
        self._add(0x83, lambda: identification_number(ident))
        self._add(0x88, lambda: b"\x42", announce=True)
        self._add(0x8A, lambda: ident.maker_code.to_bytes(3, "big"))
        self._add(0xE0, self._cumulative)
        self._add(0xE2, self._history)
        if water:
            self._add(0xD0, lambda: b"\x30")
            self._add(0xE1, lambda: b"\x03")
            self._add(0xE3, lambda: b"\x41" if terminal.abnormal else b"\x42", announce=True)
            self._add(0xE5, lambda: terminal.spec.meter_id[:6])

    def _latest(self):
        store = self.terminal.store
        return store[max(store)] if store else None

    def _cumulative(self) -> bytes | None:
        v = self._latest()
        return None if v is None else struct.pack(">I", v[0] % 1_000_000_000)

    def _history(self) -> bytes:
        store = self.terminal.store
        last = max(store) if store else int(self.terminal.local_now()) // HOUR * HOUR
        slots = []
        for i in range(48):                      # oldest first, half-hour steps ending at ``last``
            t = last - (47 - i) * 1800
            v = store.get(t) if t % HOUR == 0 else None
            slots.append(NO_DATA if v is None else v[0] % 1_000_000_000)
        return b"".join(struct.pack(">I", x) for x in slots)


def _flag(on: bool) -> bytes:
    return b"\x41" if on else b"\x42"


class SmartGasObject(EchonetObject):
    def __init__(self, terminal, ident: _Ident):
        super().__init__(Eoj(0x02, 0x89, 0x01))
        t = terminal
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x82, lambda: b"\x00\x00R\x00")
        self._add(0x88, lambda: b"\x42", announce=True)
        self._add(0x8A, lambda: ident.maker_code.to_bytes(3, "big"))
        self._add(0xE2, lambda: MeterObject._cumulative(self))
        self._add(0xE3, lambda: b"\x03")
        self._add(0xE6, lambda: _flag(t.abnormal))
        self._add(0xE8, lambda: _flag(not t.valve_open and not t.shutoff_reasons))
        self._add(0xEA, lambda: _flag(bool(t.shutoff_reasons) and not t.valve_open))
        self._add(0xEB, lambda: _flag(t.valve_open), announce=True)
        self._add(0xEC, lambda: bytes(([0, 0, 0] + list(t.shutoff_reasons))[-3:]))
        self.terminal = terminal

    _latest = MeterObject._latest


class TerminalEchonetNode(UdpNodeServer):
    def __init__(self, terminal, address: str, port: int = 3610):
        super().__init__(address, port)
        ident = _Ident(terminal.spec.terminal_id)
        self.device = MeterObject(terminal, ident)
        devices = [self.device]
        if terminal.spec.kind == "gas":
            devices.append(SmartGasObject(terminal, ident))
        self.node = EchonetNode([NodeProfile(ident, devices), *devices])
        self.lock = threading.Lock()

    def answers(self, data: bytes) -> list[bytes]:
        try:
            frame = el.decode(data)
        except el.EchonetError:
            return []
        with self.lock:
            replies, _ = self.node.handle(frame)
        return [el.encode(reply) for reply in replies]
