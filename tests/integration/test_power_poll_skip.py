"""The meter's power task skips a budget/USB poll that nothing could have changed (the emulated
supply and USB port announce their changes), and the meter does exactly what it does when every
poll runs: the same sheds, retries, restores and attachments at the same instants."""
from power_poll import START, run_power_script

from sumame.drivers.emulated.usb import devices as usb_devices

SCRIPT = [(30.4, lambda c: c["port"].plug(usb_devices.lying_gadget(declared_ma=100, real_ma=450))),
          (100.0, lambda c: c["port"].unplug("1-1")),
          (300.0, lambda c: c["supply"].set_actual(c["comms"], 50.0)),        # a comms unit over-draws
          (420.0, lambda c: c["budget"].retry(c["comms"])),
          (421.0, lambda c: c["supply"].set_actual(c["comms"], c["budget"].load(c["comms"]).declared_va)),
          (500.5, lambda c: c["supply"].derate(2.5)),                        # brown-out ...
          (530.0, lambda c: c["supply"].restore_capacity()),                 # ... and back
          (1500.0, lambda c: c["port"].plug(usb_devices.lying_gadget(declared_ma=100, real_ma=450))),
          (1700.0, lambda c: c["port"].unplug("1-1")),   # its retry waited 60 s again (back-off reset)
          (3000.0, lambda c: c["port"].plug(usb_devices.storage_500ma()))]   # an honest device, late


def _run(skip: bool):
    return run_power_script(skip, SCRIPT, until=3600)


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
