"""Missing and flaky hardware: the meter keeps metering with what works, alarms once, and picks
each part up again when it answers (issue 13 point 4)."""
from __future__ import annotations

import os

from sumame.drivers import atm90e32_regs as R
from sumame.drivers.skstack import SkstackModem
from sumame.tools.emulate.meter_thread import MeterThread
from sumame.tools.emulate.wisun_setup import attach_emulated_wisun

HOUR = 3600


def _kinds(rt):
    return [e.kind for e in rt.meter.events]


def test_metering_chip_that_resets_is_configured_again_with_an_alarm(meter_factory):
    rt = meter_factory(profile="constant")
    rt.scheduler.run(until=rt.clock.now() + HOUR)
    chip = rt.built.emulated["chip"]
    before = rt.meter.metering.counters["forward"]
    session = rt.meter.metering.session
    chip.power_on_reset()                               # supply dip on the chip's own rail
    rt.scheduler.run(until=rt.clock.now() + HOUR)
    kinds = _kinds(rt)
    assert kinds.count("asic-reset") == 1 and kinds.count("asic-started") == 1
    assert chip._regs[R.METER_EN] == 1 and chip._regs[R.MMODE0] == R.MMODE0_TWO_ELEMENT
    # metering goes on after the reset: a constant 1 kW load adds ~1 kWh in the hour
    assert rt.meter.metering.counters["forward"] - before > 900_000
    # the minutes around the reset are no data (a new measurement session), never made up
    assert rt.meter.metering.session == session + 1


def test_metering_chip_absent_at_boot_is_retried_and_taken_up_when_it_answers(meter_factory):
    rt = meter_factory(profile="constant", boot=False)
    spi = rt.built.emulated["spi"]
    spi.stuck_miso = True                               # chip not powered / not fitted
    rt.boot()
    rt.scheduler.run(until=rt.clock.now() + 600)
    assert _kinds(rt).count("asic-fault") == 1          # one alarm, not one per retry
    assert rt.meter.metering.supervisor.started is False
    spi.stuck_miso = False
    rt.scheduler.run(until=rt.clock.now() + 600)
    assert rt.meter.metering.supervisor.started is True
    assert "asic-started" in _kinds(rt)
    assert rt.meter.metering.counters["forward"] > 0


def test_dongle_missing_at_boot_is_retried_until_plugged(tmp_path):
    plug = tmp_path / "ttyUSB-route-b"                  # nothing there yet: the dongle is absent
    worlds = []

    def setup(rt):
        worlds.append(attach_emulated_wisun(rt, tmp_path, seed=3))
        rt.built.hardware.extras["wisun_modem"] = lambda: SkstackModem(str(plug), clock=rt.clock.now)

    with MeterThread("emulated-lv", state_dir=tmp_path, profile="constant", setup=setup) as m:
        m.wait_for_event("wisun-fault", timeout=20)
        task_alive = m.call(lambda rt: any(t.name == "b-route-wisun" for t in rt.scheduler.live_tasks()))
        assert task_alive
        os.symlink(worlds[0].meter_path, plug)          # plug the dongle in
        m.wait_for_event("wisun-pan", timeout=30)
        kinds = m.call(lambda rt: [e.kind for e in rt.meter.events])
        assert kinds.count("wisun-fault") == 1 and "wisun-restored" in kinds
