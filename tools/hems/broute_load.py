"""Reference B-route load with a flooding device, in virtual time (shared by the flood test and
``make bench``).

Reference load (seed 001): one client polling every 10 s, one every 30 s, one every 30 min, each
a Get of E7 E8 E0; a fourth device floods 1000 Get/s. The meter's CPU is modelled: each frame
advances the virtual clock by what handling it costs (``COSTS``: 2 ms to answer, 20 us to drop
at the guard), so work done for the flood really delays the other tasks; a METERING-priority
task ticking every second records how late it runs.
"""
from __future__ import annotations

from datetime import datetime

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.guard import GuardOptions
from sumame.firmware.routes.broute.inprocess import InProcessMedium
from sumame.firmware.routes.broute.service import BRouteOptions, BRouteService
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep, sleep_until

from .sample_readings import SampleReadings

START = datetime(2025, 6, 15, 12, 0, 30, tzinfo=edt.JST).timestamp()
METER = Eoj.of(0x028801)
COSTS = {"answered": 0.002, "refused": 0.00002, "malformed": 0.0005,
         "rate-limited": 0.00002, "blocked": 0.00002}
REFERENCE = [("vpp", 10.0), ("hems", 30.0), ("ppa", 1800.0)]


def run_scenario(guard: GuardOptions, flood_rate: int = 1000, flood_s: float = 120.0,
                 duration: float = 1900.0, flooder_first: bool = True):
    clock = VirtualClock(START)
    sched = Scheduler(clock)
    svc = BRouteService(SampleReadings(clock), EventLog(clock), sched, clock,
                        BRouteOptions(ip_addresses=(), guard=guard))
    medium = InProcessMedium(svc, sched, buffer=64, cpu_cost_s=COSTS)
    svc.start()
    results = {name: [] for name, _ in REFERENCE}
    lateness = []

    async def poller(name, period):
        peer = medium.peer(name)
        tid = 0
        t = START + 5
        while t < START + duration - 30:
            await sleep_until(t)
            tid += 1
            frame = Frame(tid, CONTROLLER, METER, Esv.GET,
                          (Property(0xE7), Property(0xE8), Property(0xE0)))
            sent = clock.now()
            reply = await peer.request(frame, timeout=20.0)
            results[name].append(None if reply is None else clock.now() - sent)
            t += period

    async def flooder():
        peer = medium.peer("flood")
        frame = el.encode(Frame(1, CONTROLLER, METER, Esv.GET, (Property(0xE2),)))
        if flooder_first:  # before the reference clients: it takes a slot
            await sleep(1.0)
            peer.send(frame)
        await sleep_until(START + 60)
        per_tick = flood_rate // 100
        for _ in range(int(flood_s * 100)):
            for _ in range(per_tick):
                peer.send(frame)
            await sleep(0.01)

    async def metering():
        due = START + 1
        while True:
            await sleep_until(due)
            lateness.append(clock.now() - due)
            due += 1.0

    # the home devices are the outside world: they run whenever they are due (priority -1),
    # their steps cost the meter no CPU
    for name, period in REFERENCE:
        sched.spawn(poller(name, period), name=name, priority=-1)
    sched.spawn(flooder(), name="flooder", priority=-1)
    sched.spawn(metering(), name="metering", priority=Priority.METERING)
    sched.run(until=START + duration)
    sched.close()
    return results, lateness, svc, medium



def percentile(values, q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))]
