"""Emulated USB devices for the customer port: real descriptor bytes plus a physical draw.

Each device carries the raw device and configuration descriptor bytes a real device would
return to GET_DESCRIPTOR, built with the same codec the firmware parses them with, and the
current it really draws once configured (``draw_ma``), which may differ from what it declares
(a device that lies about its draw). Vendor/product IDs are arbitrary emulation IDs except where
a docstring says otherwise; none is a capture of a specific commercial product.
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.firmware.net.usb_descriptor import (
    ConfigurationDescriptor,
    DeviceDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    RawDescriptor,
    build_configuration,
    build_device,
)
from sumame.hal.usb import UsbSpeed

EMULATION_VID = 0x1209
"""Vendor ID used for the emulated test devices (arbitrary; product IDs are not allocated)."""

UNIT_LOAD_MA = 100
"""What an unconfigured USB 2 device may draw (one unit load), mA."""


@dataclass
class EmulatedUsbDevice:
    """A device that can be plugged into an emulated port.

    name:                 label for logs and tests
    device_descriptor:    18 raw bytes
    config_descriptor:    raw configuration descriptor set (wTotalLength bytes)
    speed:                operating speed on the emulated port
    draw_ma:              current really drawn from VBUS once configured (authorized), mA
    unconfigured_draw_ma: current drawn before configuration / when de-authorized, mA
    """

    name: str
    device_descriptor: bytes
    config_descriptor: bytes
    speed: UsbSpeed
    draw_ma: float
    unconfigured_draw_ma: float = 50.0

    @property
    def vendor_id(self) -> int:
        return int.from_bytes(self.device_descriptor[8:10], "little") \
            if len(self.device_descriptor) >= 10 else 0

    @property
    def product_id(self) -> int:
        return int.from_bytes(self.device_descriptor[10:12], "little") \
            if len(self.device_descriptor) >= 12 else 0


def _device(vid: int, pid: int, *, bcd_usb: int = 0x0200, mps0: int = 64, cls: int = 0,
            bcd_device: int = 0x0100) -> bytes:
    return build_device(DeviceDescriptor(bcd_usb, cls, 0, 0, mps0, vid, pid, bcd_device,
                                         1, 2, 3, 1))


def _bulk_pair(mps: int, companion: bool = False) -> tuple[EndpointDescriptor, ...]:
    extra = (RawDescriptor(0x30, bytes([6, 0x30, 0, 0, 0, 0])),) if companion else ()
    return (EndpointDescriptor(0x81, 0x02, mps, 0, extra),
            EndpointDescriptor(0x02, 0x02, mps, 0, extra))


def bp35c2_like_dongle() -> EmulatedUsbDevice:
    """A Wi-SUN stick shaped like the BP35C2 class of dongles: a USB-UART bridge (vendor-specific
    interface, two bulk endpoints, one interrupt-less function) at full speed, bus powered,
    bMaxPower 0x32 = 100 mA. The IDs are FTDI's FT-X defaults (0403:6015), which USB-UART
    bridges of this kind commonly enumerate with; not a capture of the ROHM product."""
    config = ConfigurationDescriptor(
        value=1, i_configuration=0, attributes=0x80, max_power=0x32,
        interfaces=(InterfaceDescriptor(0, 0, 0xFF, 0xFF, 0xFF, 2, _bulk_pair(64)),))
    return EmulatedUsbDevice("bp35c2-like Wi-SUN dongle", _device(0x0403, 0x6015, mps0=8),
                             build_configuration(config), UsbSpeed.FULL, draw_ma=80.0)


def storage_500ma() -> EmulatedUsbDevice:
    """A high-speed mass-storage device (class 08/06/50) declaring bMaxPower 0xFA = 500 mA."""
    config = ConfigurationDescriptor(
        value=1, i_configuration=0, attributes=0x80, max_power=0xFA,
        interfaces=(InterfaceDescriptor(0, 0, 0x08, 0x06, 0x50, 0, _bulk_pair(512)),))
    return EmulatedUsbDevice("usb2 storage 500 mA", _device(EMULATION_VID, 0x5301),
                             build_configuration(config), UsbSpeed.HIGH, draw_ma=450.0)


def superspeed_896ma() -> EmulatedUsbDevice:
    """A SuperSpeed storage device: bcdUSB 3.20, bMaxPacketSize0 9 (2^9), bMaxPower 0x70 = 112 x
    8 mA = 896 mA, SuperSpeed endpoint companion descriptors after each endpoint."""
    config = ConfigurationDescriptor(
        value=1, i_configuration=0, attributes=0x80, max_power=0x70,
        interfaces=(InterfaceDescriptor(0, 0, 0x08, 0x06, 0x50, 0,
                                        _bulk_pair(1024, companion=True)),))
    return EmulatedUsbDevice("usb3 storage 896 mA",
                             _device(EMULATION_VID, 0x5302, bcd_usb=0x0320, mps0=9),
                             build_configuration(config), UsbSpeed.SUPER, draw_ma=800.0)


def lying_gadget(declared_ma: int = 100, real_ma: float = 450.0) -> EmulatedUsbDevice:
    """A gadget (HID class) that declares ``declared_ma`` but draws ``real_ma`` once configured."""
    config = ConfigurationDescriptor(
        value=1, i_configuration=0, attributes=0xA0, max_power=declared_ma // 2,
        interfaces=(InterfaceDescriptor(0, 0, 0x03, 0x00, 0x00, 0,
                                        (EndpointDescriptor(0x81, 0x03, 8, 10),),
                                        extra=(RawDescriptor(0x21, bytes(
                                            [9, 0x21, 0x11, 0x01, 0, 1, 0x22, 0x20, 0])),)),))
    return EmulatedUsbDevice(f"gadget declaring {declared_ma} mA", _device(EMULATION_VID, 0x5303),
                             build_configuration(config), UsbSpeed.FULL, draw_ma=real_ma)


def malformed_gadget() -> EmulatedUsbDevice:
    """A device whose configuration says bNumEndpoints 2 but carries one endpoint."""
    config = ConfigurationDescriptor(
        value=1, i_configuration=0, attributes=0x80, max_power=0x19,
        interfaces=(InterfaceDescriptor(0, 0, 0xFF, 0, 0, 0,
                                        (EndpointDescriptor(0x81, 0x02, 64, 0),),
                                        num_endpoints=2),))
    return EmulatedUsbDevice("malformed gadget", _device(EMULATION_VID, 0x5304),
                             build_configuration(config), UsbSpeed.FULL, draw_ma=40.0)


CATALOGUE = {
    "bp35c2": bp35c2_like_dongle,
    "storage500": storage_500ma,
    "ss896": superspeed_896ma,
    "liar": lying_gadget,
    "malformed": malformed_gadget,
}
"""Names the emulator's UI / tools can plug by."""
