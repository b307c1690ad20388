"""The meter's power task skips a budget/USB poll that nothing could have changed (the emulated
supply and USB port announce their changes), and the meter does exactly what it does when every
poll runs: the same sheds, retries, restores and attachments at the same instants."""
from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.firmware.switchgear.power_budget import PowerBudget
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
KINDS = ("load-admit", "load-shed", "load-restore", "load-refused", "load-release",
         "usb-attach", "usb-retry", "usb-refused", "usb-detach")


def _run(skip: bool):
    polls = {"n": 0}
    original = PowerBudget.poll

    def counted(self, now=None):
        polls["n"] += 1
        return original(self, now)
    PowerBudget.poll = counted
    try:
        rt = build_runtime("emulated-lv", virtual=True, start_epoch=START)
        supply, port = rt.built.hardware.power, rt.built.emulated["usb_port"]
        if not skip:   # parts that do not announce their changes: every poll runs
            supply.changes_signalled = port.changes_signalled = lambda: False
        rt.scheduler.run(until=START + 5)   # the comms unit is admitted by its task
        (comms,) = [name for name in rt.meter.switchgear.budget._loads if name.startswith("comms")]
        script = [(30.4, lambda: port.plug(usb_devices.lying_gadget(declared_ma=100, real_ma=450))),
                  (100.0, lambda: port.unplug("1-1")),
                  (300.0, lambda: supply.set_actual(comms, 50.0)),        # a comms unit over-draws
                  (420.0, lambda: rt.meter.switchgear.budget.retry(comms)),
                  (421.0, lambda: supply.set_actual(comms, rt.meter.switchgear.budget.load(comms).declared_va)),
                  (500.5, lambda: supply.derate(2.5)),                   # brown-out ...
                  (530.0, supply.restore_capacity),                      # ... and back
                  (1500.0, lambda: port.plug(usb_devices.lying_gadget(declared_ma=100, real_ma=450))),
                  (1700.0, lambda: port.unplug("1-1")),   # its retry waited 60 s again (back-off reset)
                  (3000.0, lambda: port.plug(usb_devices.storage_500ma()))]   # an honest device, late
        for at, action in script:
            rt.scheduler.run(until=START + at)
            action()
        rt.scheduler.run(until=START + 3600)
        events = [(e.kind, e.at, e.detail) for e in rt.meter.events.of_kind(*KINDS)]
        rt.close()
    finally:
        PowerBudget.poll = original
    return events, polls["n"]


def test_skipped_polls_change_nothing_the_meter_does():
    skipping, skipped_polls = _run(skip=True)
    polling, all_polls = _run(skip=False)
    kinds = {kind for kind, _, _ in polling}
    assert {"load-shed", "load-restore", "usb-attach", "usb-retry", "usb-detach"} <= kinds
    assert [e for e in polling if e[0] == "load-shed"][0][1] == START + 33   # seen at 31, shed at 33
    retries = [(at - START, detail) for kind, at, detail in polling if kind == "usb-retry"]
    assert retries[0][1].endswith("+60 s") and retries[1][1].endswith("+120 s")
    assert [d for at, d in retries if at > 1500][0].endswith("+60 s")   # on for > 600 s: back-off reset
    assert skipping == polling
    assert all_polls >= 3600 and skipped_polls < all_polls / 2, (skipped_polls, all_polls)
