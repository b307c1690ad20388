"""Issue 15 speed work on the full-fidelity LV meter (virtual time): tasks sleep until their next
due event instead of polling, and the chip is read only for what somebody needs.

* the metering task's polls read the energy and voltage registers; power and current only when
  asked (``present``: B-route, A-route, display) or while the breaker needs samples;
* the breaker wants the metering task's samples only while its comparator is not armed, or an
  auto-reclose is pending (over the limit or warm it samples every 0.2 s on its own);
* the external-connection log flusher does not wake while nothing is pending, and writes a batch
  at the tick it always did (every ``flush_s`` from the service start).
"""
import math

import pytest
from switch_fakes import LoadAsic

from sumame.boards import load_board
from sumame.drivers import atm90e32_regs as R
from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.core.state import MemoryStateStore
from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig
from sumame.firmware.switchgear.breaker_task import BreakerTask
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
POWER_CURRENT = {R.P_MEAN_T, R.Q_MEAN_T, R.P_MEAN["A"], R.P_MEAN["C"], R.I_RMS["A"], R.I_RMS["C"]}
VOLTAGE = {R.U_RMS["A"], R.U_RMS["C"]}
GET_E7 = bytes.fromhex("1081000105ff010288016201e700")   # Get 0x028801 E7 (instantaneous power)


def _runtime():
    board = load_board("emulated-lv", {"aroute": {"push_transport": "none"}})
    return build_runtime(board, virtual=True, start_epoch=START, poll_interval_s=60)


def _count_reads(chip) -> dict:
    """Count the chip's SPI reads per register address (the bus side of the emulated chip)."""
    reads: dict[int, int] = {}
    transfer = chip.transfer

    def counted(data):
        if len(data) == 4 and data[0] & 0x80:
            address = ((data[0] << 8) | data[1]) & 0x3FF
            reads[address] = reads.get(address, 0) + 1
        return transfer(data)
    chip.transfer = counted
    return reads


def _of(reads: dict, addresses) -> int:
    return sum(reads.get(a, 0) for a in addresses)


def test_idle_polls_read_voltage_not_power_or_current_until_somebody_asks():
    rt = _runtime()
    rt.scheduler.run(until=START + 600)
    reads = _count_reads(rt.built.emulated["chip"])
    rt.scheduler.run(until=START + 600 + 3600)
    # nobody asked and the breaker is armed and idle: at most its own hourly sample (6 registers),
    # not a full reading at each of the 60 polls
    assert _of(reads, POWER_CURRENT) <= len(POWER_CURRENT)
    assert all(60 <= reads.get(a, 0) <= 61 for a in VOLTAGE)   # a voltage sample a minute (+ that one)
    assert reads.get(R.AP_ENERGY_T, 0) == 60       # the energy registers, every poll
    rt.close()


def test_a_b_route_read_gets_power_read_from_the_chip_at_that_moment():
    rt = _runtime()
    rt.scheduler.run(until=START + 600 + 37)       # 37 s after the last poll
    reads = _count_reads(rt.built.emulated["chip"])
    svc = next(s for s in rt.meter.services if s.name == "b-route").service
    assert svc.deliver("inproc", "hems1", GET_E7) == "answered"
    assert _of(reads, {R.P_MEAN_T}) == 1
    present = rt.meter.metering.present
    assert present.at == rt.clock.now()            # read when asked, not at the last poll
    chip_w = rt.built.emulated["chip"].profile.at(rt.clock.now()).power_w
    assert present.power_w == pytest.approx(chip_w, abs=max(2.0, abs(chip_w) * 0.01))
    before = dict(reads)
    assert rt.meter.metering.present is present    # asked again in the same instant: no new read
    assert reads == before
    rt.close()


def test_voltage_integral_is_the_same_with_voltage_only_reads():
    """The 5-min voltage values come from the same samples whether a poll reads all the
    measurement registers or the voltage registers alone."""
    a, b = _runtime(), _runtime()
    b.meter.metering._read_voltage = None           # the old path: a full reading at every poll
    for rt in (a, b):
        rt.scheduler.run(until=START + 3 * 3600)
    ma, mb = a.meter.metering, b.meter.metering
    assert (ma.volt_mvs, ma.volt_time_ms) == (mb.volt_mvs, mb.volt_time_ms)
    assert ma.volt_time_ms > 0
    a.close(), b.close()


def _breaker_task(alarm: bool):
    clock = VirtualClock(1_750_000_000.0)
    relay = EmulatedRelay()
    asic = LoadAsic(relay)
    breaker = Breaker(relay, MemoryStateStore(), EventLog(clock), clock, BreakerConfig(limit_a=30))
    breaker.boot()
    task = BreakerTask(breaker, clock, read=asic.read_instantaneous, alarm=asic if alarm else None)
    return task, asic, clock


def test_breaker_wants_the_metering_samples_only_without_an_armed_comparator_or_a_reclose_due():
    task, asic, clock = _breaker_task(alarm=True)
    assert task.wants_feed()                       # not armed yet (the task has not run)
    task._arm()
    assert not task.wants_feed()                   # armed at the limit, idle
    asic.set_load(45.0)
    task._alarm_pending = False                    # as after the task's own sample on the alarm
    task.feed(clock.now(), asic.read_instantaneous())
    assert task.breaker.sampling_active            # over the limit: the task samples every 0.2 s
    assert not task.wants_feed()                   # itself, the polls add nothing
    for _ in range(11):                            # 1.5x for 10 s: the curve trips
        clock.advance_to(clock.now() + 1.0)
        task.feed(clock.now(), asic.read_instantaneous())
    assert task.breaker.reclose_at is not None     # tripped: the polls wake a deferred reclose
    assert task.wants_feed()
    plain, _, _ = _breaker_task(alarm=False)
    plain._arm()
    assert plain.wants_feed()                      # no comparator: the polls are its samples
    blind = BreakerTask(plain.breaker, plain.clock, alarm=asic)   # no reads of its own
    blind._arm()
    assert blind.wants_feed()                      # a comparator it cannot answer is not armed


def test_external_log_flusher_sleeps_while_nothing_is_pending_and_keeps_its_ticks():
    rt = _runtime()
    steps = {"n": 0}
    step = rt.scheduler._step

    def counting(task):
        steps["n"] += task.name == "extsec-flush"
        step(task)
    rt.scheduler._step = counting
    ext = next(s for s in rt.meter.services if s.name == "ext-security")
    started = START                                  # the service starts at boot
    rt.scheduler.run(until=START + 3600)
    assert steps["n"] <= 8          # the B-route announcements' batches only, not 720 wakes
    journal = rt.meter.storage.journals["extlog"]
    svc = next(s for s in rt.meter.services if s.name == "b-route").service
    t = START + 3600 + 7 * 60 + 2.5               # between two ticks, no announcement pending
    rt.scheduler.run(until=t)
    written, pending = journal.appended, ext.log.pending
    assert pending == 0
    assert svc.deliver("inproc", "hems1", GET_E7) == "answered"
    period = ext.options.flush_s
    tick = started + math.floor((t - started) / period + 1) * period
    rt.scheduler.run(until=tick - 0.01)
    assert ext.log.pending == 2 and journal.appended == written      # request and answer, in RAM
    rt.scheduler.run(until=tick)
    assert ext.log.pending == 0 and journal.appended == written + 1  # one batch, at the tick
    rt.close()
