"""Review of the power task's skipped polls: scenarios the first test did not script, each run
with the skip on and with every poll running (the parts made to say they do not signal their
changes); the meter must do the same things at the same instants. And a part that lacks
``hal.power.ChangeSignal`` altogether (a real driver) is polled every period."""
from power_poll import START, run_power_script

from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.firmware.switchgear.power_budget import LoadState
from sumame.hal.power import ChangeSignal
from sumame.tools.emulate.runtime import build_runtime


def _run(skip: bool, script, *, until: float = 900.0, setup=None):
    events, polls = run_power_script(skip, script, until=until, setup=setup)
    return [(kind, at - START, detail) for kind, at, detail in events], polls


def _same(script, **kw):
    skipping, n_skip = _run(True, script, **kw)
    polling, n_all = _run(False, script, **kw)
    assert skipping == polling
    return polling, n_skip, n_all


def test_a_brownout_shed_load_resized_to_fit_comes_back_on_time():
    """``resize`` of a shed load changes the budget without touching the supply (only ``version``
    tells): it then fits, and is restored ``restore_after_s`` later, as when every poll runs."""
    def shrink(c):
        c["budget"].resize(c["comms"], 1.0)
    script = [(100.5, lambda c: c["supply"].derate(2.0 + c["budget"].load(c["comms"]).declared_va - 0.5)),
              (200.5, shrink)]
    events, n_skip, n_all = _same(script)
    restores = [at for kind, at, _ in events if kind == "load-restore"]
    assert restores and 200.5 < restores[0] < 215, events
    assert n_skip < n_all / 2


def test_a_time_varying_draw_is_polled_every_period():
    """A load whose draw is a function of time (``set_actual`` with a callable) cannot be
    signalled: the over-draw it starts at 300 s is shed when polling every period would."""
    def ramp(c):
        rt, declared = c["rt"], c["budget"].load(c["comms"]).declared_va
        c["supply"].set_actual(c["comms"], lambda: declared * (3.0 if rt.clock.now() >= START + 300.2 else 1.0))
    events, _, _ = _same([(100.0, ramp)])
    sheds = [at for kind, at, _ in events if kind == "load-shed"]
    assert sheds and 300 < sheds[0] < 304, events


def test_a_device_plugged_into_a_brownout_shed_port_then_power_back():
    """The USB port shed by a brown-out, a device plugged meanwhile, then capacity back: the port
    is restored and the device admitted at the same instants."""
    def brownout(c):
        b = c["budget"]
        on = sum(ld.declared_va for ld in b._loads.values() if ld.state is LoadState.ON)
        c["supply"].derate(2.0 + on - 0.1)      # just too little: the USB port goes first
    script = [(50.5, brownout),
              (80.2, lambda c: c["port"].plug(usb_devices.storage_500ma())),
              (120.7, lambda c: c["supply"].restore_capacity())]
    events, n_skip, n_all = _same(script)
    kinds = [k for k, _, _ in events]
    assert "load-shed" in kinds and "load-restore" in kinds and "usb-attach" in kinds, events
    assert n_skip < n_all / 2


def test_backoff_reset_with_a_one_poll_overdraw_rule():
    """``overdraw_polls = 1``: a lying device is shed by the first poll that sees it; the port's
    back-off must still have been reset by its long good behaviour (polling every period resets
    it in the poll before)."""
    def setup(rt, supply, port, budget):
        budget.overdraw_polls = 1
    lie = lambda c: c["port"].plug(usb_devices.lying_gadget(declared_ma=100, real_ma=450))
    script = [(30.4, lie), (100.0, lambda c: c["port"].unplug("1-1")),
              (1500.0, lie), (1700.0, lambda c: c["port"].unplug("1-1"))]
    events, _, _ = _same(script, until=1800.0, setup=setup)
    retries = [(at, d) for kind, at, d in events if kind == "usb-retry"]
    assert [d for at, d in retries if at > 1500][0].endswith("+60 s"), retries


def test_a_part_without_change_signal_is_polled_every_period():
    """A real driver (no ``change_listeners`` / ``changes_signalled``: here the emulated port
    with the protocol hidden) means every period polls, and the meter still runs."""
    def setup(rt, supply, port, budget):
        port.changes_signalled = None      # a Protocol member set to None: not a ChangeSignal
        assert not isinstance(port, ChangeSignal)
    _, n = _run(True, [], until=600.0, setup=setup)
    assert n >= 595, n


def test_a_reset_meter_leaves_no_change_listener_behind():
    """The supply and the USB port outlive a firmware reset (same hardware, a new Meter): the
    stopped meter's power task must take its listener with it, or every reset adds one that
    is called on every change for the life of the emulator."""
    rt = build_runtime("emulated-lv", virtual=True, start_epoch=START)
    supply, port = rt.built.hardware.power, rt.built.emulated["usb_port"]
    rt.scheduler.run(until=START + 5)
    before = (len(supply.change_listeners), len(port.change_listeners))
    for k in range(3):
        rt.request_reset()
        rt.scheduler.run(until=START + 60 * (k + 1))
    assert rt.resets == 3
    assert (len(supply.change_listeners), len(port.change_listeners)) == before == (1, 1)
    rt.close()
