"""Non-interference in virtual time: the seeds' reference load (one client every 10 s, one every
30 s, one every 30 min) keeps 100 % answers with low latency while another device floods at
1000 frames/s — either a fourth device (refused by the client limit) or an admitted client gone
haywire (rate-limited, then blocked as a DoS) — and the metering task keeps its 1-s tick.

The meter's CPU is modelled: each frame advances the virtual clock by what handling it costs
(2 ms to answer, 20 us to drop at the guard), so work done for the flood really delays the
other tasks. The same scenario without the guard shows the reference clients losing answers,
which is what makes the protected run a real proof."""
from datetime import datetime

from sumame.firmware.clock import VirtualClock
from sumame.firmware.events import EventLog
from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.guard import GuardOptions
from sumame.firmware.routes.broute.inprocess import InProcessMedium
from sumame.firmware.routes.broute.service import BRouteOptions, BRouteService
from sumame.firmware.scheduler import Priority, Scheduler, sleep, sleep_until
from sumame.tools.sample_readings import SampleReadings

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


def _p99(values):
    values = sorted(values)
    return values[int(0.99 * (len(values) - 1))]


import pytest


@pytest.mark.parametrize("max_clients, flooder", [(3, "refused fourth device"),
                                                  (4, "admitted client")])
def test_reference_clients_get_every_answer_while_one_floods(max_clients, flooder):
    results, lateness, svc, medium = run_scenario(GuardOptions(max_clients=max_clients),
                                                  flooder_first=max_clients == 4)
    for name, period in REFERENCE:
        answers = results[name]
        assert answers and all(a is not None for a in answers), name
        assert _p99(answers) < 0.05, (name, _p99(answers))
    assert len(results["vpp"]) > 180 and len(results["ppa"]) == 2
    assert max(lateness) < 0.02                       # metering tick never more than 20 ms late
    dropped = sum(svc.counters[k] for k in ("blocked", "rate-limited", "refused"))
    assert dropped > 110_000
    if max_clients == 3:
        refusals = svc.events.of_kind("b-route-refused")    # logged once a minute, counted always
        assert 1 <= len(refusals) <= 3 and all("flood" in e.detail for e in refusals)
        assert svc.guard.counters["refused"] > 110_000
    else:
        assert svc.guard.counters["dos-detected"] >= 1 and svc.events.of_kind("dos-detected")
    assert medium.dropped_full == 0


def test_without_the_guard_the_same_flood_starves_the_reference_clients():
    open_door = GuardOptions(rate_per_s=1e9, burst=1e9, max_clients=4)
    results, lateness, svc, medium = run_scenario(open_door, flood_s=60.0)
    lost = sum(a is None for name, _ in REFERENCE for a in results[name])
    assert lost > 0 or max(a for n, _ in REFERENCE for a in results[n] if a is not None) > 0.05
    assert medium.dropped_full > 0
