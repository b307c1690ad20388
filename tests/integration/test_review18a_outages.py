"""Review: a single meter through repeated outages (the emulated mains).

Without hold-up energy the supply dies the instant the line goes: the meter must be down
before any of its tasks runs again (a task due at that instant wrote the dead flash and the
PowerCut stopped the whole run: two outages at the same instant, overlapping, back to back or
40 s apart all failed)."""
import pytest

SMALL = {"registers": {"days_30": 3, "days_15": 3, "days_5": 1, "minutes_1": 60},
         "storage": {"page_count": 128}}


@pytest.mark.parametrize("plan", [
    [(600, 60), (600, 300)],      # two outages from the same instant
    [(600, 60), (630, 60)],       # overlapping
    [(600, 60), (660, 60)],       # back to back
    [(600, 60), (700, 60)],       # 40 s after the meter came back
], ids=["same-instant", "overlapping", "back-to-back", "40s-apart"])
def test_repeated_outages_take_the_meter_down_and_back(meter_factory, plan):
    rt = meter_factory(overrides=SMALL, poll_interval_s=60)
    t0 = rt.clock.now()
    for start, seconds in plan:
        rt.mains.schedule_outage(t0 + start, seconds)
    rt.scheduler.run(until=t0 + 3600)
    assert rt.mains.outages_done == 2
    assert rt.mains.reboots >= 1 and rt.mains.meter_alive
    assert rt.meter.readings.latest_boundary(30) is not None
