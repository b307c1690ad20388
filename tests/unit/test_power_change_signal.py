"""hal.power.ChangeSignal as the emulated supply and USB port keep it: every change of what
they report calls the listeners, and ``changes_signalled()`` is False exactly while something
they report changes with time (the power task then polls every period)."""
from sumame.drivers.emulated.power import EmulatedPowerSupply
from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.drivers.emulated.usb.port import EmulatedUsbPort
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.power import ChangeSignal, PowerSource

T0 = 1_750_000_000.0


def _counted(part):
    calls = []
    part.change_listeners.append(lambda: calls.append(1))
    return calls


def test_supply_signals_every_change_and_says_when_it_cannot():
    clock = VirtualClock(T0)
    supply = EmulatedPowerSupply(PowerSource("mains", 30.0, 2.0, 20.0), clock)
    assert isinstance(supply, ChangeSignal)
    calls = _counted(supply)
    steps = [lambda: supply.admit("a", 3.0), lambda: supply.set_actual("a", 4.0),
             lambda: supply.derate(10.0), supply.restore_capacity,
             lambda: supply.release("a"), supply.lose_line, supply.restore_line]
    for k, step in enumerate(steps, 1):
        step()
        assert len(calls) == k, f"step {k} did not signal"
    assert supply.changes_signalled()
    supply.lose_line()
    assert not supply.changes_signalled()      # the hold-up store drains with time
    supply.restore_line()
    assert supply.changes_signalled()
    supply.admit("b", 1.0)
    supply.set_actual("b", lambda: 1.0 + clock.now() - T0)
    assert not supply.changes_signalled()      # a draw that is a function of time
    supply.set_actual("b", 1.0)
    assert supply.changes_signalled()


def test_usb_port_signals_plug_unplug_authorization_and_vbus():
    port = EmulatedUsbPort()
    assert isinstance(port, ChangeSignal) and port.changes_signalled()
    calls = _counted(port)
    path = port.plug(usb_devices.storage_500ma())
    port.authorize(path, True)
    port.set_vbus(False)
    port.set_vbus(True)
    port.unplug(path)
    assert len(calls) == 5
