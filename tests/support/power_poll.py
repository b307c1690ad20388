"""Run the emulated LV meter through a script of power/USB actions, with the power task's
skipped polls on (``skip``) or with every poll running (the supply and USB port made to say they
do not signal their changes); returns the power events (kind, epoch s, detail) and the count of
budget polls."""
from sumame.firmware.switchgear.power_budget import PowerBudget
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
KINDS = ("load-admit", "load-shed", "load-restore", "load-refused", "load-release",
         "usb-attach", "usb-retry", "usb-refused", "usb-detach")


def run_power_script(skip: bool, script, *, until: float, setup=None):
    """``script``: [(s after START, action(ctx))], ctx = rt, supply, port, budget, comms."""
    polls = {"n": 0}
    original = PowerBudget.poll

    def counted(self, now=None):
        polls["n"] += 1
        return original(self, now)
    PowerBudget.poll = counted
    try:
        rt = build_runtime("emulated-lv", virtual=True, start_epoch=START)
        supply, port = rt.built.hardware.power, rt.built.emulated["usb_port"]
        budget = rt.meter.switchgear.budget
        if not skip:   # parts that do not announce their changes: every poll runs
            supply.changes_signalled = port.changes_signalled = lambda: False
        if setup is not None:
            setup(rt, supply, port, budget)
        rt.scheduler.run(until=START + 5)   # the comms unit is admitted by its task
        (comms,) = [name for name in budget._loads if name.startswith("comms")]
        ctx = {"rt": rt, "supply": supply, "port": port, "budget": budget, "comms": comms}
        for at, action in script:
            rt.scheduler.run(until=START + at)
            action(ctx)
        rt.scheduler.run(until=START + until)
        events = [(e.kind, e.at, e.detail) for e in rt.meter.events.of_kind(*KINDS)]
        rt.close()
    finally:
        PowerBudget.poll = original
    return events, polls["n"]
