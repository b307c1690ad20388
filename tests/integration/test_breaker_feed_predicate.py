"""Which metering polls the breaker needs (``BreakerTask.wants_feed``), on the whole emulated LV
meter (virtual time, register-level ATM90E32 with its over-current comparator armed).

Each condition of the predicate has a test here that goes red when the condition is dropped:
* a reclose pending: a reclose that fell due during a brown-out happens when the supply is back
  (the fed polls wake the task), not an idle period (1 h) later;
* comparator not armed (the IRQ not wired): tests/integration/test_breaker_comparator_edges.py;
and the two conditions of ``feed``'s wake: a reclose pending (the brown-out test) and "due sooner"
(without the IRQ the fed poll that makes the breaker warm wakes the task to sample at the
predicted trip). The states the task covers by sampling on its own (over the limit or warm, an alarm pending, the
limit just changed) are not in the predicate; the tests below and the comparator-edge tests
show the breaker still trips on its curve there.
"""

import pytest
from step_load import START, Steps, stepped_meter

from sumame.boards import load_board
from sumame.tools.emulate.runtime import build_runtime

from sumame.firmware.switchgear.command_source import CommandSource

def _meter(steps, limit_a=30):
    return stepped_meter("emulated-lv", steps, {"breaker": {"limit_a": limit_a}})


def _at(rt, kind):
    return [e.at - START for e in rt.meter.events.of_kind(kind)]


def test_reclose_due_in_a_brown_out_happens_when_the_supply_is_back():
    rt = _meter([(1000, 45.0), (1012, 5.0)])      # 1.5x: trips at 1010, reclose due at 1025
    power = rt.built.hardware.power
    rt.scheduler.run(until=START + 1020)
    assert _at(rt, "switch-trip") == [pytest.approx(1010.0, abs=1e-3)]
    power.derate(0.0)                              # brown-out over the reclose time
    rt.scheduler.run(until=START + 1030.5)
    assert _at(rt, "switch-reclose") == []         # never a stroke without the supply
    power.restore_capacity()
    rt.scheduler.run(until=START + 1100)
    (reclose,) = _at(rt, "switch-reclose")
    rt.close()
    poll_s = rt.meter.metering.config.poll_interval_s
    assert 1030.5 <= reclose <= 1030.5 + poll_s    # at the first poll after the supply is back


def test_limit_lowered_below_the_load_trips_on_the_curve():
    rt = _meter([(1000, 40.0)], limit_a=60)        # 0.67x of 60 A: idle, the comparator quiet
    breaker = rt.meter.switchgear.breaker
    rt.scheduler.run(until=START + 2000)
    assert _at(rt, "switch-trip") == []
    assert breaker.command_set_limit(30, CommandSource.A_ROUTE).action == "limit-set"
    rt.scheduler.run(until=START + 2100)
    trips = _at(rt, "switch-trip")
    rt.close()
    due = 2000 + breaker.config.curve.trip_time_s(40.0 / 30)   # 1.33x of the new limit
    assert trips and due - 1e-3 <= trips[0] <= due + 1e-3


def test_without_the_irq_wired_the_fed_polls_make_the_task_sample_at_the_predicted_trip():
    # the polls are the breaker's samples (1 s apart); 1.33x trips 16.07 s on: the fed sample
    # that makes it warm wakes the task, which samples at that moment, not at the next poll
    board = load_board("emulated-lv", {"aroute": {"push_transport": "none"}})
    rt = build_runtime(board, virtual=True, start_epoch=START, boot=False)
    chip = rt.built.emulated["chip"]
    chip.profile = Steps([(1000, 40.0)])
    chip.irq = None                                # the IRQ pin goes nowhere (irq_pin = -1)
    rt.built.hardware.asic.irq_wired = False
    rt.boot()
    rt.scheduler.run(until=START + 1030)
    trips = _at(rt, "switch-trip")
    curve = rt.meter.switchgear.breaker.config.curve
    rt.close()
    due = 1000 + curve.trip_time_s(40.0 / 30)
    assert due % 1 > 0.05                          # between two polls
    assert trips and due - 1e-3 <= trips[0] <= due + 1e-3
