"""The meter's routes on its comms units, in virtual time: B-route answers from the real
registers; a comms-unit hot swap under B-route load interrupts neither metering nor storage."""
from sumame.firmware.net.echonet import Eoj as EOJ, Esv as ESV, Frame, Property
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.core.scheduler import Priority, sleep

SMALL = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
         "storage": {"page_count": 128}}
METER = EOJ(0x02, 0x88, 0x01)
HEMS = EOJ(0x05, 0xFF, 0x01)


def b_route(rt):
    app = next(s for s in rt.meter.services if s.name == "b-route")
    return app


def get(tid, *epcs):
    return Frame(tid=tid, seoj=HEMS, deoj=METER, esv=ESV.GET, props=tuple(Property(e) for e in epcs))


def test_b_route_answers_from_the_real_registers(meter_factory):
    rt = meter_factory(overrides=SMALL, poll_interval_s=1, profile="constant")
    rt.scheduler.run(until=rt.clock.now() + 3 * 3600)
    peer = b_route(rt).inproc.peer("192.0.2.10")
    got = {}

    async def hems():
        got["reply"] = await peer.request(get(1, 0xE7, 0xE0, 0xEA))
        got["power"] = rt.meter.readings.present().power_w
        got["forward"] = rt.meter.readings.cumulative_now(Quantity.FORWARD)

    rt.scheduler.spawn(hems(), name="hems", priority=Priority.UI)
    rt.scheduler.run(until=rt.clock.now() + 5)
    reply = got["reply"]
    assert reply is not None and reply.esv == ESV.GET_RES
    values = {p.epc: p.edt for p in reply.props}
    assert int.from_bytes(values[0xE7], "big", signed=True) == got["power"] == 1000
    assert int.from_bytes(values[0xE0], "big") == got["forward"]
    boundary = rt.meter.readings.latest_boundary(30)
    assert int.from_bytes(values[0xEA][7:], "big") == rt.meter.readings.cumulative_at(Quantity.FORWARD, boundary)


def test_hot_swap_under_b_route_load_loses_no_interval(meter_factory):
    rt = meter_factory(overrides=SMALL, poll_interval_s=1)
    start = rt.clock.now()
    rt.scheduler.run(until=start)  # comms unit inserted, B-route medium up
    peer = b_route(rt).inproc.peer("192.0.2.20")
    answers = []

    async def hems():
        tid = 0
        while True:
            tid += 1
            reply = await peer.request(get(tid, 0xE7, 0xE8), timeout=5)
            answers.append((rt.clock.now(), reply is not None))
            await sleep(10)

    async def operator():
        from sumame.drivers.emulated.comms_unit import CATALOGUE
        await sleep(600)
        rt.meter.switchgear.comms.request_swap("comms", CATALOGUE["wisun-wifi"]())
        await sleep(600)
        rt.meter.switchgear.comms.request_swap("comms", CATALOGUE["lv-next-gen"]())

    rt.scheduler.spawn(hems(), name="hems", priority=Priority.UI)
    rt.scheduler.spawn(operator(), name="operator", priority=Priority.UI)
    rt.scheduler.run(until=start + 1800 + 60)
    meter = rt.meter
    swaps = meter.events.of_kind("comms-swap")
    assert len(swaps) == 2 and all("done" in e.detail for e in swaps)
    # metering never paused: every 1-minute interval of the last hour is measured
    ends = meter.registers.boundaries(1, start + 60, start + 1800 + 60)
    assert len(ends) == 31
    assert all(meter.readings.interval_energy(Quantity.FORWARD, e, 1) is not None for e in ends)
    assert meter.readings.interval_energy(Quantity.FORWARD, start + 1800, 30) is not None
    # the HEMS got answers before, between and after the swaps
    assert all(ok for t, ok in answers if t < start + 590)
    assert any(ok for t, ok in answers if start + 620 < t < start + 1190)
    assert any(ok for t, ok in answers if t > start + 1220)
    assert meter.events.of_kind("comms-route-down") and meter.events.of_kind("comms-route-up")
