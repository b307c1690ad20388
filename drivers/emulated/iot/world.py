"""An IoT-route world for one meter: air, placement, the meter's coordinator, terminals, relay.

``build_iot_world(IotWorldSpec(...), clock, meter_serial)`` places ``gas`` + ``water``
terminals; ``relay_share`` of them (the last ones) reach the meter only through the relay; each
link gets a seeded loss in ``[0, link_loss]`` and ``lossy_link`` one link ``lossy_loss``. The
board allow-list entries (``allow_list()``) go to ``[iot] terminals``; ``coordinator`` goes to
``hw.extras["iot_radio"]``. ``pump(scheduler)`` runs the radio timeline inside a scheduler (a
task of group ``"iot-air"``, so it outlives the meter's power cuts).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from sumame.firmware.net.ieee802154 import pan_from_mac
from sumame.firmware.core.scheduler import Event, Priority

from ..air import Air, AirConfig
from ..timeline import Timeline
from .ehan import EhanCoordinator
from .links import LinkModel
from .terminal import RelayDevice, Terminal, TerminalSpec

GROUP = "iot-air"


@dataclass
class IotWorldSpec:
    gas: int = 3
    water: int = 3
    relay_share: float = 0.34
    max_hops: int = 2
    seed: int = 1
    link_loss: float = 0.05
    lossy_link: bool = True
    lossy_loss: float = 0.3
    poll_interval_s: float = 60.0
    mode: str = "accurate"


def _derive(seed: int, what: str, n: int = 16) -> bytes:
    return hashlib.sha256(f"sumame iot|{seed}|{what}".encode()).digest()[:n]


class PumpedTimeline(Timeline):
    """A Timeline that wakes its scheduler pump whenever a callback is added."""

    wake: Event | None = None

    def call_at(self, when, callback, *args):
        handle = super().call_at(when, callback, *args)
        if self.wake is not None:
            self.wake.set()
        return handle


class IotWorld:
    def __init__(self, spec: IotWorldSpec, clock, meter_serial: str, *, air: Air | None = None,
                 timeline: Timeline | None = None):
        self.spec = spec
        self.timeline = timeline or PumpedTimeline(clock)
        self.air = air or Air(self.timeline, AirConfig(mode=spec.mode, seed=spec.seed))
        self.links = LinkModel(spec.seed)
        self.air.link_filter = self.links
        rng = random.Random(spec.seed)
        self.rng = rng
        meter_mac = b"\x00\x1d\x12\x90" + _derive(spec.seed, f"meter {meter_serial}", 4)
        channel, pan = pan_from_mac(meter_mac.hex())
        self.channel = channel
        counter = iter(range(1, 1 << 30))
        self.random_bytes = lambda n: bytes(rng.randrange(256) for _ in range(n))
        self.coordinator = EhanCoordinator(self.air, self.timeline, meter_mac, channel=channel, pan_id=pan,
                                           id_s=meter_serial.encode("ascii"), max_hops=spec.max_hops,
                                           random_bytes=self.random_bytes)
        self.links.place(meter_mac)
        total = spec.gas + spec.water
        behind = round(spec.relay_share * total) if total else 0
        self.relay: RelayDevice | None = None
        if behind:
            rmac = b"\x00\x1d\x12\xa0" + _derive(spec.seed, "relay", 4)
            self.relay = RelayDevice("RELAY001", rmac, _derive(spec.seed, "psk relay"), self.air, self.timeline,
                                     channel=channel, max_hops=spec.max_hops, random_bytes=self.random_bytes)
            self.links.connect(meter_mac, rmac, rng.uniform(0, spec.link_loss))
        self.terminals: list[Terminal] = []
        kinds = ["gas"] * spec.gas + ["water"] * spec.water
        for i, kind in enumerate(kinds):
            tid = f"{'GAS' if kind == 'gas' else 'WTR'}{i + 1:05d}"
            tmac = b"\x00\x1d\x12\xb0" + _derive(spec.seed, f"mac {tid}", 4)
            ts = TerminalSpec(tid, kind, tmac, _derive(spec.seed, f"psk {tid}"), _derive(spec.seed, f"cmd {tid}"),
                              meter_id=_derive(spec.seed, f"id {tid}", 6), seed=spec.seed * 100 + i,
                              clock_offset_s=rng.uniform(-120, 120), drift_ppm=rng.uniform(-30, 30),
                              poll_interval_s=spec.poll_interval_s, upload_at_s=rng.uniform(600, 5400))
            term = Terminal(ts, self.air, self.timeline, channel=channel, max_hops=spec.max_hops,
                            random_bytes=self.random_bytes)
            self.terminals.append(term)
            via_relay = i >= total - behind
            loss = rng.uniform(0, spec.link_loss)
            if via_relay:
                self.links.connect(tmac, self.relay.node.mac, loss)
            else:
                self.links.connect(tmac, meter_mac, loss)
        if spec.lossy_link and self.terminals:
            lossy = self.terminals[0]
            self.links.set_loss(lossy.node.mac, meter_mac, spec.lossy_loss)
        self._counter = counter
        self.outsiders: list[Terminal] = []
        self.late: list[Terminal] = []

    def add_terminal(self, tid: str, kind: str = "water", *, behind_relay: bool = False, loss: float = 0.0,
                     allow: bool = True, start: bool = True) -> Terminal:
        """One more terminal (tests: a hostile one, an 11th device, one off the allow-list).
        ``start=False``: on the allow-list but not started with the others (``late``)."""
        tmac = b"\x00\x1d\x12\xc0" + _derive(self.spec.seed, f"mac {tid}", 4)
        ts = TerminalSpec(tid, kind, tmac, _derive(self.spec.seed, f"psk {tid}"), _derive(self.spec.seed, f"cmd {tid}"),
                          meter_id=_derive(self.spec.seed, f"id {tid}", 6), seed=len(self.terminals) + 77,
                          poll_interval_s=self.spec.poll_interval_s)
        term = Terminal(ts, self.air, self.timeline, channel=self.channel, max_hops=self.spec.max_hops,
                        random_bytes=self.random_bytes)
        peer = self.relay.node.mac if behind_relay and self.relay is not None else self.coordinator.mac
        self.links.connect(tmac, peer, loss)
        if allow and start:
            self.terminals.append(term)
        elif allow:
            self.late.append(term)
        else:
            self.outsiders.append(term)
        return term

    # ---------------------------------------------------------------- board glue
    def allow_list(self) -> list[dict]:
        out = [{"mac": t.spec.mac.hex(), "id": t.spec.terminal_id, "psk": t.spec.psk.hex(), "kind": t.spec.kind}
               for t in self.terminals + self.late]
        if self.relay is not None:
            out.append({"mac": self.relay.node.mac.hex(), "id": self.relay.terminal_id,
                        "psk": self.relay.node.psk.hex(), "kind": "relay"})
        return out

    def start(self) -> None:
        if self.relay is not None:
            self.relay.start()
        for t in self.terminals:
            self.timeline.call_later(self.rng.uniform(1, 30), t.start)

    def pump(self, scheduler):
        wake = Event()
        self.timeline.wake = wake
        timeline, clock = self.timeline, scheduler.clock

        async def run():
            while True:
                timeline.run_due()
                deadline = timeline.next_deadline()
                wake.clear()
                await wake.wait(timeout=None if deadline is None else max(0.0, deadline - clock.now()))

        return scheduler.spawn(run(), name="iot-air", priority=Priority.COMMS, group=GROUP)

    def terminal(self, tid: str) -> Terminal:
        return next(t for t in self.terminals if t.spec.terminal_id == tid)

    def hops(self, t: Terminal) -> int:
        return 2 if self.relay is not None and self.links.in_range(t.node.mac, self.relay.node.mac) else 1
