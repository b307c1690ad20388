"""Real USB devices through pyusb + libusb (Raspberry Pi / any Linux host with devices)."""
import pytest

from sumame.firmware.net.usb_descriptor import UsbDescriptorError, parse_descriptors

pytestmark = pytest.mark.hil


def _port():
    import usb.backend.libusb1
    if usb.backend.libusb1.get_backend() is None:
        pytest.skip("no libusb 1.0 backend installed: pyusb cannot reach real USB devices")
    from sumame.drivers.usb import PyUsbPort
    port = PyUsbPort()
    events = port.poll()
    if not events:
        pytest.skip("libusb sees no non-hub USB device on this host")
    return events


def test_real_devices_parse_and_declare_a_draw():
    for event in _port():
        info = event.device
        if not info.config_descriptor:
            continue
        try:
            parsed = parse_descriptors(info.device_descriptor, info.config_descriptor)
        except UsbDescriptorError as exc:   # a real device with broken descriptors: report it
            pytest.fail(f"{info.path} {info.vendor_id:04x}:{info.product_id:04x}: {exc}")
        assert parsed.device.vendor_id == info.vendor_id
        assert 0 <= parsed.max_power_ma(info.speed.is_superspeed) <= 255 * 8
