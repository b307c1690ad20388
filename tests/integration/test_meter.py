"""The meter as a whole in virtual time: determinism, gaps, restarts, leap day, damaged flash."""
import pytest

from sumame.firmware.core.events import Severity
from sumame.firmware.metrology.readings import Quantity
from sumame.hal.jst import from_jst, parse_jst

SMALL = {"registers": {"days_30": 3, "days_15": 3, "days_5": 1, "minutes_1": 60},
         "storage": {"page_count": 128}}


def run(meter_factory, hours, **kw):
    rt = meter_factory(overrides=SMALL, poll_interval_s=60, **kw)
    rt.scheduler.run(until=rt.clock.now() + hours * 3600)
    return rt


def test_same_seed_same_stored_bytes_and_events(meter_factory):
    a, b = run(meter_factory, 6, seed=11), run(meter_factory, 6, seed=11)
    assert a.built.emulated["flash"].image() == b.built.emulated["flash"].image()
    assert [(e.at, e.kind, e.detail) for e in a.meter.events] == [(e.at, e.kind, e.detail) for e in b.meter.events]
    c = run(meter_factory, 6, seed=12)
    assert c.built.emulated["flash"].image() != a.built.emulated["flash"].image()


def test_energy_in_registers_matches_the_load_profile(meter_factory):
    rt = run(meter_factory, 24, profile="constant")  # 1000 W import all day
    r = rt.meter.readings
    end = r.latest_boundary(30)
    assert r.interval_energy(Quantity.FORWARD, end, 30) == pytest.approx(0.5, abs=0.0001)
    assert r.interval_energy(Quantity.REVERSE, end, 30) == 0
    assert r.interval_voltage(end, 30)[0] == pytest.approx(101.0, abs=0.05)
    assert rt.meter.metering.counters["forward"] == pytest.approx(24_000_000, abs=40)


def test_reboot_gap_is_no_data_never_zero(meter_factory, tmp_path):
    rt = run(meter_factory, 2, state_dir=tmp_path)
    stop = rt.clock.now() + 10 * 60 + 17
    rt.scheduler.run(until=stop)
    rt.meter.shutdown()
    rt.close()
    restart = stop + 37 * 60
    rt2 = meter_factory(overrides=SMALL, poll_interval_s=60, state_dir=tmp_path,
                        start=_iso(restart))
    rt2.scheduler.run(until=restart + 3 * 3600)
    r = rt2.meter.readings
    gap_intervals = [e for e in rt2.meter.registers.boundaries(30, stop, restart + 1800)]
    assert gap_intervals
    for end in gap_intervals:
        assert r.interval_energy(Quantity.FORWARD, end, 30) is None
    before = rt2.meter.registers.boundaries(30, stop - 3600, stop)
    after = rt2.meter.registers.boundaries(30, restart + 3600, restart + 3 * 3600)
    assert all(r.interval_energy(Quantity.FORWARD, e, 30) is not None for e in before + after)
    restarts = rt2.meter.events.of_kind("restart")
    assert restarts and "gap" in restarts[-1].detail, "the gap was not reported"


def test_restart_continues_cumulative_energy_exactly(meter_factory, tmp_path):
    rt = run(meter_factory, 1, state_dir=tmp_path, profile="constant")
    rt.scheduler.run(until=rt.clock.now() + 25)  # stop in the middle of a minute
    before = rt.meter.metering.counters["forward"]
    rt.meter.shutdown()  # reads the chip one last time, then saves the counters
    counters = dict(rt.meter.metering.counters)
    assert counters["forward"] == pytest.approx(before + 1000 * 25 / 3.6, abs=20)
    rt.close()
    rt2 = meter_factory(overrides=SMALL, poll_interval_s=60, state_dir=tmp_path, profile="constant",
                        start=_iso(rt.clock.now() + 5))
    assert rt2.meter.metering.counters == counters
    assert rt2.meter.metering.session > rt.meter.metering.session


def test_leap_day_history_has_every_half_hour(meter_factory):
    rt = meter_factory(overrides=SMALL, poll_interval_s=60, start="2028-02-28T23:00")
    rt.scheduler.run(until=from_jst(2028, 3, 1, 1, 0))
    day = from_jst(2028, 2, 29)
    slots = rt.meter.registers.boundaries(30, day, day + 86400 - 1)
    assert len(slots) == 48
    assert all(rt.meter.readings.cumulative_at(Quantity.FORWARD, s) is not None for s in slots)
    assert all(rt.meter.readings.interval_energy(Quantity.FORWARD, s, 30) is not None for s in slots)


def test_unreadable_chip_makes_a_metering_gap(meter_factory):
    rt = run(meter_factory, 1)
    spi = rt.built.emulated["spi"]
    spi.stuck_miso = True
    broken_at = rt.clock.now()
    rt.scheduler.run(until=broken_at + 15 * 60)
    spi.stuck_miso = False
    rt.scheduler.run(until=broken_at + 75 * 60)
    assert rt.meter.events.of_kind("metering-gap") and rt.meter.events.of_kind("metering-resumed")
    r = rt.meter.readings
    across = r.latest_boundary(30) - 1800 if r.latest_boundary(30) - 1800 > broken_at else r.latest_boundary(30)
    assert any(r.interval_energy(Quantity.FORWARD, e, 5) is None
               for e in rt.meter.registers.boundaries(5, broken_at, broken_at + 20 * 60))
    assert r.interval_energy(Quantity.FORWARD, r.latest_boundary(5), 5) is not None
    assert across


def test_truncated_flash_file_keeps_what_survived(meter_factory, tmp_path):
    rt = run(meter_factory, 3, state_dir=tmp_path)
    keep = {s.minute: s for s in rt.meter.registers.snapshots()}
    rt.meter.shutdown()
    rt.close()
    path = tmp_path / "flash.bin"
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    rt2 = meter_factory(overrides=SMALL, poll_interval_s=60, state_dir=tmp_path, start=_iso(rt.clock.now() + 60))
    alarms = [e for e in rt2.meter.events if e.severity is Severity.ALARM]
    assert any("truncated" in e.detail for e in alarms)
    restored = {s.minute: s for s in rt2.meter.registers.snapshots()}
    assert restored and all(keep.get(m) == s for m, s in restored.items())
    rt2.scheduler.run(until=rt2.clock.now() + 600)
    assert rt2.meter.registers.newest.epoch > rt.clock.now()


def test_garbage_flash_file_boots_with_alarms(meter_factory, tmp_path):
    (tmp_path / "flash.bin").write_bytes(bytes(range(256)) * 2048)
    rt = meter_factory(overrides=SMALL, poll_interval_s=60, state_dir=tmp_path)
    assert [e for e in rt.meter.events if e.severity is Severity.ALARM]
    rt.scheduler.run(until=rt.clock.now() + 3600)
    assert len(rt.meter.registers) >= 60


def _iso(epoch: float) -> str:
    from sumame.hal.jst import jst_datetime
    return jst_datetime(epoch).strftime("%Y-%m-%dT%H:%M:%S")


def test_parse_iso_helper_round_trips():
    assert parse_jst(_iso(from_jst(2026, 4, 1, 9, 30, 5))) == from_jst(2026, 4, 1, 9, 30, 5)


def test_mains_outage_takes_the_meter_down_and_back(meter_factory):
    rt = meter_factory(overrides=SMALL, poll_interval_s=60)
    start = rt.clock.now()
    rt.mains.schedule_outage(start + 3600 + 125, 47 * 60)
    rt.scheduler.run(until=start + 4 * 3600)
    meter = rt.meter
    assert rt.mains.reboots == 1 and meter.boot_report is not None
    fails, restores = meter.events.of_kind("power-fail"), meter.events.of_kind("power-restore")
    assert fails and restores
    assert fails[-1].at <= start + 3600 + 125 and restores[-1].at == pytest.approx(start + 3600 + 125 + 47 * 60)
    r = meter.readings
    during = meter.registers.boundaries(30, start + 3600 + 1800, start + 3600 + 125 + 47 * 60 + 1799)
    assert during and all(r.interval_energy(Quantity.FORWARD, e, 30) is None for e in during)
    assert r.interval_energy(Quantity.FORWARD, start + 3600, 30) is not None
    assert r.interval_energy(Quantity.FORWARD, start + 4 * 3600, 30) is not None


def test_hold_up_energy_sends_a_last_gasp(meter_factory):
    rt = meter_factory(overrides={**SMALL, "power": {"hold_up_j": 20.0}}, poll_interval_s=1)
    sent = []
    rt.meter.switchgear.outage.last_gasp_senders.append(sent.append)
    start = rt.clock.now()
    rt.mains.schedule_outage(start + 600, 300)
    rt.scheduler.run(until=start + 1200)
    assert sent and sent[0].hold_up_s > 0
    assert rt.mains.reboots == 1


def test_usb_device_is_re_enumerated_after_an_outage(meter_factory):
    from sumame.drivers.emulated.usb.devices import CATALOGUE
    rt = meter_factory(overrides=SMALL, poll_interval_s=1)
    start = rt.clock.now()
    rt.scheduler.run(until=start + 10)
    rt.built.emulated["usb_port"].plug(CATALOGUE["ss896"]())
    rt.mains.schedule_outage(start + 100, 30)
    rt.scheduler.run(until=start + 400)
    after = [e for e in rt.meter.events if e.at >= start + 130]
    assert any(e.kind == "usb-attach" for e in after), "device not enumerated after the reboot"
    assert not any(e.kind == "load-shed" for e in after), "device shed as if it lied about its draw"
