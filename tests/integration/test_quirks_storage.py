"""Quirks act on the interfaces only: a meter polled by a HEMS for three hours with every
ECHONET-side profile on stores the same interval data, byte for byte, as one without quirks."""
from __future__ import annotations

from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property
from sumame.tools.quirks import attach_quirks, specs_from

METER = Eoj(0x02, 0x88, 0x01)
EVERY_PROFILE = ["silent-spell:duration_s=600,every_s=1800", "utility-profile:preset=custom,sna=E8",
                 "opc-cap:max_opc=2", "slow-answer:median_s=3", "stale-and-dupes:dup_prob=0.5,late_prob=0.3",
                 "values:reverse_flow=true,sentinel=no-data", "announce:offset_s=200,d5=false",
                 "clock:offset_s=900"]


def _run(meter_factory, specs):
    rt = meter_factory(profile="residential", seed=5, start="2026-04-01T09:00")
    if specs:
        attach_quirks(rt, specs_from(specs, None))
    rt.scheduler.run(until=rt.clock.now() + 5)
    app = next(s for s in rt.meter.services if s.name == "b-route")
    peer = app.inproc.peer("hems")
    answers = []

    async def hems():
        tid = 0
        while True:
            tid += 1
            frame = Frame(tid, CONTROLLER, METER, Esv.GET, tuple(Property(e) for e in (0xE7, 0xE8, 0xE0, 0xEA)))
            answers.append(await peer.request(frame, timeout=5.0))
            if tid % 6 == 0:
                await peer.request(Frame(tid + 10_000, CONTROLLER, METER, Esv.SETC, (Property(0xE5, b"\x01"),)),
                                   timeout=5.0)
            from sumame.firmware.core.scheduler import sleep
            await sleep(10.0)
    rt.scheduler.spawn(hems(), name="hems")
    rt.scheduler.run(until=rt.clock.now() + 3 * 3600)
    flash, layout = rt.built.emulated["flash"], rt.meter.storage.layout
    stored = {name: flash.read(first * layout.page_size, count * layout.page_size)
              for name, (first, count) in layout.partitions.items() if name in ("long", "mid", "short")}
    return stored, rt.meter.registers.snapshots(), answers, rt.extras.get("quirks")


def test_every_quirk_leaves_the_stored_intervals_byte_identical(meter_factory):
    clean, clean_snaps, clean_answers, _ = _run(meter_factory, [])
    quirky, quirky_snaps, quirky_answers, engine = _run(meter_factory, EVERY_PROFILE)
    assert quirky == clean and quirky_snaps == clean_snaps
    assert all(a is not None for a in clean_answers)
    assert sum(a is None for a in quirky_answers) > 10            # the quirks really acted ...
    assert all(q.fired > 0 for name, q in engine.quirks.items() if name not in ("announce",)), \
        {n: q.fired for n, q in engine.quirks.items()}
