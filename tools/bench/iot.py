"""IoT-route benchmarks (virtual time; figures, never asserted in tests).

* ``iot-terminals``: one meter with 3, 6 and 9 terminals (+ the relay: 10 devices at most)
  for a simulated day: collection rate, valve round trip, and the share of terminal uplink
  frames acknowledged (the seed's feasibility rule counts a case "○" at ≥ 80 % response).
* ``iot-meters-per-core``: meter-days per wall second with the IoT route on (6 terminals) and
  off (same meter, ``[iot]`` off), so the IoT route's CPU share is a ratio of the same run.
* ``iot-airtime``: the B-route Wi-SUN load of the seed (HEMS polls every 10 s and 30 s, and every
  30 min) on the meter's channel beside the IoT route: the IoT route's share of the channel's
  airtime, and what it costs the B-route frames (queueing delay on the shared channel,
  measured with the IoT route on vs off), plus the meter radio's ARIB budget use (B-route +
  IoT frames the meter sends, s per hour of the 360 s allowed).
"""
from __future__ import annotations

import statistics
import time

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.firmware.net import ieee802154 as mac

from .cli import Bench, Figure
from ..fleet.fleet import FleetSpec, build_fleet
from ..fleet.jointread import JointReadScenario, run_scenario

DAY = 86400


def _terminals(quick: bool) -> list[Figure]:
    sizes = [(1, 1)] if quick else [(2, 1), (3, 3), (5, 4)]
    days = 1.0                      # values are uploaded once a day: a shorter run collects nothing
    out = []
    for gas, water in sizes:
        r = run_scenario(JointReadScenario(days=days, gas=gas, water=water, outage=None, tail_s=4 * 3600))
        rejoins = sum(t.stats["rejoins"] for t in r.world.terminals)
        retries = sum(t.node.stats["tx-retry"] for t in r.world.terminals)
        lost = sum(t.node.stats["tx-no-ack"] for t in r.world.terminals)
        frames = sum(t.stats["tx-poll"] + t.stats["tx-values"] + t.stats["tx-alarm"] for t in r.world.terminals)
        fig = r.figures()
        r.fleet.close()
        n = gas + water + (1 if r.world.relay else 0)
        out.append(Figure(f"{n} IoT devices: collection rate", fig["collection_rate"] * 100, "%",
                          f"{gas} gas + {water} water{' + relay' if r.world.relay else ''}, {days:g} day"))
        out.append(Figure(f"{n} IoT devices: command round trip p95", fig["round_trip_p95_s"] or 0, "s",
                          f"{fig['valve_ok']}/{fig['valve_sent']} valve commands"))
        out.append(Figure(f"{n} IoT devices: terminal uplink frames acknowledged", 100 * (1 - lost / max(1, frames)),
                          "%", f"MAC ACK within 3 retries ({retries} retries, {rejoins} rejoins); seed rule: >= 80 %"))
    return out


def _meters_per_core(quick: bool) -> list[Figure]:
    days = 0.25 if quick else 1.0
    t0 = time.perf_counter()
    r = run_scenario(JointReadScenario(days=days, outage=None, tail_s=0.0))
    with_iot = days / (time.perf_counter() - t0)
    r.fleet.close()
    fleet = build_fleet(FleetSpec(meters=1, push_randomisation_s=0.0, retention_days=4, flash_pages=96,
                                  present_interval_s=900.0))
    t1 = time.perf_counter()
    fleet.run(fleet.clock.now() + days * DAY)
    without = days / (time.perf_counter() - t1)
    fleet.close()
    return [
        Figure("meter-days per wall second, IoT route on", with_iot, "meter-days/s",
               "1 meter, 3 gas + 3 water terminals + relay, head-end and connection server, boot included"),
        Figure("meters per core in real time, IoT route on", with_iot * DAY, "meters", "meter-days/s x 86400"),
        Figure("meter-days per wall second, IoT route off", without, "meter-days/s", "same meter, no terminals"),
        Figure("IoT route share of the CPU", (1 - with_iot / without) * 100, "%", "same run"),
    ]


class _Radio:
    def __init__(self, air: Air, mac_addr: bytes, channel: int):
        self.mac, self.channel = mac_addr, channel
        self.sent_at: dict[int, float] = {}
        self.delays: list[float] = []
        self.air = air
        self.peer = None
        air.attach(self)

    def on_tx_limit(self, active: bool) -> None:
        pass

    def on_air_frame(self, psdu: bytes, lqi: int) -> None:
        try:
            frame = mac.decode(psdu)
        except mac.FrameError:
            return
        if frame.dst != self.mac or self.peer is None:
            return
        sent = self.peer.sent_at.pop(frame.seq, None)
        if sent is not None:
            self.delays.append(self.air.timeline.now() - sent[0] - sent[1])

    def send(self, seq: int, size: int) -> None:
        psdu = mac.encode(mac.MacFrame(mac.FRAME_DATA, seq & 0xFF, 0x1234, self.peer.mac, self.mac, bytes(size)))
        # (sent, own airtime + medium latency): what is left of the delivery time is queueing
        self.sent_at[seq & 0xFF] = (self.air.timeline.now(), self.air.airtime(len(psdu)) + self.air.config.latency_s)
        self.air.transmit(self, psdu)


def _broute_delay(iot: bool, hours: float) -> tuple[list[float], float, float, float]:
    """B-route frame delays (s, beyond their own airtime) on the shared channel; IoT airtime,
    B-route airtime, meter-radio airtime (both routes) per hour."""
    r = None
    if iot:
        r = run_scenario(JointReadScenario(days=hours / 24, outage=None, tail_s=0.0, valves_per_day=0))
        air, timeline = r.world.air, r.world.timeline
        run = r.fleet.run
        clock = r.fleet.clock
    else:
        from sumame.drivers.emulated.iot.world import PumpedTimeline
        from sumame.firmware.core.clock import VirtualClock
        clock = VirtualClock(1775055600.0)
        timeline = PumpedTimeline(clock)
        air = Air(timeline, AirConfig(mode="accurate"))
        run = None
    channel = r.world.channel if r else 40
    meter_b = _Radio(air, b"\x00\x1d\x12\x90\xaa\xaa\xaa\x01", channel)
    hems = _Radio(air, b"\x00\x1d\x12\x91\xaa\xaa\xaa\x02", channel)
    meter_b.peer, hems.peer = hems, meter_b
    if r:
        r.world.links.known.discard(meter_b.mac)
    start = clock.now()
    seq = 0
    broute_air = 0.0
    events = sorted([(start + k * 10.0, 10) for k in range(int(hours * 360))] +
                    [(start + 3 + k * 30.0, 30) for k in range(int(hours * 120))] +
                    [(start + 7 + k * 1800.0, 1800) for k in range(int(hours * 2))])
    for at, _ in events:
        seq += 1
        if run:
            run(at)
        else:
            timeline.advance(at)
        hems.send(seq, 40)                                      # Get E7 request (~ 60 octets on air)
        timeline.call_later(0.05, meter_b.send, seq, 50)        # Get_Res (~ 70 octets)
        broute_air += air.airtime(40 + 23) + air.airtime(50 + 23)
    if run:
        run(clock.now() + 60)
    else:
        timeline.advance(clock.now() + 60)
    delays = hems.delays + meter_b.delays
    iot_air = 0.0
    meter_radio = sum(air.airtime(50 + 23) for _ in range(len(events)))
    if r:
        w = r.world
        iot_air = w.coordinator.airtime_s + sum(t.node.airtime_s for t in w.terminals) + (
            w.relay.node.airtime_s if w.relay else 0.0)
        meter_radio += w.coordinator.airtime_s
        r.fleet.close()
    return delays, iot_air / hours, broute_air / hours, meter_radio / hours


def _airtime(quick: bool) -> list[Figure]:
    hours = 2.0 if quick else 24.0
    on, iot_h, b_h, meter_h = _broute_delay(True, hours)
    off, _, _, _ = _broute_delay(False, hours)
    share = iot_h / (iot_h + b_h) * 100

    def p95(v):
        return statistics.quantiles(v, n=100, method="inclusive")[94] * 1000 if len(v) > 1 else 0.0

    return [
        Figure("IoT route airtime on the meter's channel", iot_h, "s/h", "6 terminals + relay, all frames incl. ACKs"),
        Figure("B-route airtime (seed load: 10 s, 30 s, 30 min polls)", b_h, "s/h", "request + response"),
        Figure("IoT route share of the shared channel's airtime", share, "%", "IoT / (IoT + B-route)"),
        Figure("meter radio transmit time, both routes", meter_h, "s/h", "ARIB STD-T108 allows 360 s/h"),
        Figure("B-route frame queueing delay p95, IoT on", p95(on), "ms", f"{len(on)} frames"),
        Figure("B-route frame queueing delay p95, IoT off", p95(off), "ms", "same load, channel alone"),
        Figure("B-route frame delay when delayed, mean", 1000 * statistics.fmean([d for d in on if d > 1e-6] or [0]),
               "ms", "frames that waited for an IoT frame"),
        Figure("B-route frames delayed by IoT frames", 100 * sum(d > 1e-6 for d in on) / max(1, len(on)), "%",
               "waited for an IoT frame on the channel"),
    ]


BENCHES = [
    Bench("iot-terminals", _terminals, "IoT devices per meter: collection, round trip, acknowledged uplink"),
    Bench("iot-meters-per-core", _meters_per_core, "meters per core in virtual time with the IoT route on"),
    Bench("iot-airtime", _airtime, "airtime share the IoT route takes from the B-route on the meter's channel"),
]
