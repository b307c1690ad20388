"""The breaker on a whole emulated meter trips on its curve whatever the load did before.

Since the metering polls stopped feeding an idle breaker whose over-current comparator is armed
(issue 15), every rise of the current above the limit must reach the breaker as a fresh
comparator interrupt: the emulated chip's comparator follows the current between two
excursions (the real part's status bit does), so a second overload after the first one has
cooled is an edge again, not a bit that stayed latched.
"""

import pytest
from step_load import START, Steps, stepped_meter

from sumame.boards import load_board
from sumame.tools.emulate.runtime import build_runtime


def _trips(board_name, steps, until):
    rt = stepped_meter(board_name, steps, poll_interval_s=60)
    rt.scheduler.run(until=START + until)
    trips = [e.at - START for e in rt.meter.events.of_kind("switch-trip")]
    rt.close()
    return trips


@pytest.mark.parametrize("board", ["emulated-lv", "emulated-lv-fleet"])
def test_overload_after_a_cooled_excursion_trips_on_the_curve(board):
    # 1.1x for 10 s (the comparator fires, the breaker warms, no trip), under the limit long
    # enough to cool, then 1.5x: the curve says 10 s
    steps = [(1000, 33.0), (1010, 27.0), (2000, 45.0), (2030, 27.0)]
    # an idle breaker keeps up to 1e-3 of residual heat (trip_curve: "warm" ends there; its
    # gaps cool at most max_step_s), so the trip may come up to 1e-3 x 10 s early, never late
    (trip,) = _trips(board, steps, 2100)
    assert 2010.0 - 0.0101 <= trip <= 2010.0 + 1e-3


@pytest.mark.parametrize("board", ["emulated-lv", "emulated-lv-fleet"])
def test_overload_soon_after_a_blip_trips_on_the_curve(board):
    # a 0.3 s blip just over the limit (the breaker samples, sees it gone, stays cool), then
    # 1.5x from 1030 s: within the minute the comparator used to look again after an alarm
    steps = [(1000, 30.6), (1000.3, 20.0), (1030, 45.0), (1060, 20.0)]
    (trip,) = _trips(board, steps, 1100)
    assert 1040.0 - 0.0101 <= trip <= 1040.0 + 1e-3   # residual heat: see above


def test_a_board_without_the_chip_irq_wired_still_trips_from_the_metering_polls():
    # irq_pin = -1 ("not wired (polled)"): the comparator can be programmed but nothing tells
    # the firmware when it fires, so the breaker must keep taking the metering polls' samples
    board = load_board("emulated-lv", {"aroute": {"push_transport": "none"}})
    rt = build_runtime(board, virtual=True, start_epoch=START, boot=False)
    chip = rt.built.emulated["chip"]
    chip.profile = Steps([(1000, 45.0)])
    chip.irq = None                                # the IRQ pin goes nowhere
    rt.built.hardware.asic.irq_wired = False       # what the board says for irq_pin = -1
    rt.boot()
    rt.scheduler.run(until=START + 1015)
    trips = [e.at - START for e in rt.meter.events.of_kind("switch-trip")]
    rt.close()
    assert trips and 1010.0 <= trips[0] <= 1011.0   # 10 s at 1.5x, within one 1 s poll
