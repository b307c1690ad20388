"""PyUsbPort (the real pyusb driver) against the emulated pyusb backend."""
import pytest
import usb.core

from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.drivers.emulated.usb.backend import EmulatedUsbBackend
from sumame.drivers.emulated.usb.port import EmulatedUsbPort
from sumame.drivers.usb import PyUsbPort, rebuild_descriptors
from sumame.firmware.net.usb_descriptor import parse_descriptors
from sumame.hal.errors import ConfigurationError
from sumame.hal.usb import HotplugKind, UsbPort, UsbSpeed


def test_emulated_port_satisfies_the_contract():
    assert isinstance(EmulatedUsbPort(), UsbPort)


def test_hotplug_events_and_raw_descriptors():
    port = EmulatedUsbPort()
    assert port.poll() == []
    dongle = usb_devices.bp35c2_like_dongle()
    path = port.plug(dongle)
    (event,) = port.poll()
    assert event.kind is HotplugKind.ARRIVED and event.device.path == path == "1-1"
    info = event.device
    assert info.descriptor_source == "device"            # read with GET_DESCRIPTOR
    assert info.device_descriptor == dongle.device_descriptor
    assert info.config_descriptor == dongle.config_descriptor
    assert (info.vendor_id, info.product_id, info.speed) == (0x0403, 0x6015, UsbSpeed.FULL)
    assert port.poll() == []                              # nothing changed
    port.unplug(path)
    (left,) = port.poll()
    assert left.kind is HotplugKind.LEFT and left.device == info


def test_pyusb_sees_the_same_bmaxpower_and_unit():
    """pyusb's own Configuration object, built from the backend, agrees with our parser on the
    bMaxPower field and on the unit (pyusb picks 8 mA units from the device's speed)."""
    port = EmulatedUsbPort()
    port.plug(usb_devices.superspeed_896ma(), hub_port=1)
    port.plug(usb_devices.storage_500ma(), hub_port=2)
    backend = port._backend
    seen = {}
    for handle in backend.enumerate_devices():
        dev = usb.core.Device(handle, backend)
        cfg = dev[0]
        ours = parse_descriptors(handle.device.device_descriptor, handle.device.config_descriptor)
        superspeed = handle.device.speed is UsbSpeed.SUPER
        assert cfg.bMaxPower == ours.configuration.max_power
        assert cfg._get_power_multiplier() * cfg.bMaxPower == ours.max_power_ma(superspeed)
        seen[handle.path] = ours.max_power_ma(superspeed)
    assert seen == {"1-1.1": 896, "1-1.2": 500}


@pytest.mark.parametrize("make", [usb_devices.bp35c2_like_dongle, usb_devices.storage_500ma,
                                  usb_devices.superspeed_896ma, usb_devices.lying_gadget])
def test_rebuilt_descriptors_equal_the_raw_bytes(make):
    """When the device cannot be opened, the driver re-serialises pyusb's parsed copy; the
    result must be byte-identical to what the device holds."""
    device = make()
    port = EmulatedUsbPort()
    port.plug(device)
    (handle,) = list(port._backend.enumerate_devices())
    dev_bytes, cfg_bytes = rebuild_descriptors(usb.core.Device(handle, port._backend))
    assert (dev_bytes, cfg_bytes) == (device.device_descriptor, device.config_descriptor)


class _NoControl(EmulatedUsbBackend):
    def ctrl_transfer(self, *args, **kwargs):
        raise usb.core.USBError("Access denied (insufficient permissions)", error_code=-3)


def test_falls_back_to_rebuilt_descriptors_without_permission():
    emulated = EmulatedUsbPort()
    emulated.plug(usb_devices.storage_500ma())
    port = PyUsbPort(backend=_NoControl(emulated._enumerated))
    (event,) = port.poll()
    assert event.device.descriptor_source == "rebuilt"
    assert event.device.config_descriptor == usb_devices.storage_500ma().config_descriptor


def test_malformed_configuration_is_reported_not_fatal():
    port = EmulatedUsbPort()
    port.plug(usb_devices.malformed_gadget(), hub_port=1)
    port.plug(usb_devices.bp35c2_like_dongle(), hub_port=2)
    events = {e.device.path: e.device for e in port.poll()}
    assert set(events) == {"1-1.1", "1-1.2"}
    # raw bytes reached the firmware unchanged: it decides (and refuses) from them
    assert events["1-1.1"].config_descriptor == usb_devices.malformed_gadget().config_descriptor


def test_vbus_off_makes_devices_leave_and_on_brings_them_back():
    port = EmulatedUsbPort()
    port.plug(usb_devices.storage_500ma())
    port.poll()
    port.set_vbus(False)
    assert [e.kind for e in port.poll()] == [HotplugKind.LEFT]
    assert port.measured_draw_ma() == 0.0
    port.set_vbus(True)
    assert [e.kind for e in port.poll()] == [HotplugKind.ARRIVED]


def test_draw_depends_on_authorization():
    port = EmulatedUsbPort()
    path = port.plug(usb_devices.lying_gadget(real_ma=450))
    assert port.measured_draw_ma() == pytest.approx(50.0)   # unconfigured
    port.authorize(path, True)
    assert port.measured_draw_ma() == pytest.approx(450.0)


def test_port_without_vbus_switch_refuses_switching():
    emulated = EmulatedUsbPort()
    port = PyUsbPort(backend=emulated._backend)
    assert not port.vbus_switchable and port.vbus()
    with pytest.raises(ConfigurationError, match="no VBUS switch"):
        port.set_vbus(False)
