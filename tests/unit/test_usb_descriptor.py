"""USB descriptor codec: real descriptor bytes, bMaxPower units, malformed input."""
import struct

import pytest

from sumame.drivers.emulated.usb import devices as usb_devices
from sumame.firmware.net.usb_descriptor import (
    DescriptorBadLength,
    DescriptorInconsistent,
    DescriptorTruncated,
    DescriptorWrongType,
    build_configuration,
    max_power_ma,
    parse_configuration,
    parse_descriptors,
    parse_device,
)

# A full-speed USB-UART bridge's descriptors written out byte by byte (USB 2.0 §9.6 layout), not
# with our builder: device, then configuration(9) + interface(9) + 2 bulk endpoints(7 each).
DEVICE = bytes([0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x03, 0x04, 0x15, 0x60,
                0x00, 0x10, 0x01, 0x02, 0x03, 0x01])
CONFIG = bytes([0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x2D,
                0x09, 0x04, 0x00, 0x00, 0x02, 0xFF, 0xFF, 0xFF, 0x02,
                0x07, 0x05, 0x81, 0x02, 0x40, 0x00, 0x00,
                0x07, 0x05, 0x02, 0x02, 0x40, 0x00, 0x00])


def test_parses_hand_written_bytes():
    d = parse_descriptors(DEVICE, CONFIG)
    assert (d.device.vendor_id, d.device.product_id, d.device.bcd_usb) == (0x0403, 0x6015, 0x0200)
    assert d.device.max_packet_size0 == 8 and d.device.num_configurations == 1
    c = d.configuration
    assert (c.value, c.attributes, c.max_power, c.num_interfaces) == (1, 0x80, 0x2D, 1)
    assert not c.self_powered
    (intf,) = c.interfaces
    assert intf.interface_class == 0xFF and [e.address for e in intf.endpoints] == [0x81, 0x02]
    assert [e.max_packet_size for e in intf.endpoints] == [64, 64]
    assert d.max_power_ma(superspeed=False) == 90          # 0x2D x 2 mA


def test_builder_reproduces_hand_written_bytes():
    assert build_configuration(parse_configuration(CONFIG)) == CONFIG


@pytest.mark.parametrize("superspeed, bcd, expected", [
    (False, 0x0200, 0x70 * 2), (True, 0x0320, 0x70 * 8),
    (False, 0x0210, 0x70 * 2),   # a USB 3 device on a USB 2 port: high speed, 2 mA units
    (None, 0x0320, 0x70 * 8), (None, 0x0200, 0x70 * 2)])
def test_max_power_units_follow_operating_speed(superspeed, bcd, expected):
    config = parse_configuration(usb_devices.superspeed_896ma().config_descriptor)
    assert max_power_ma(config, superspeed=superspeed, bcd_usb=bcd) == expected


def test_class_specific_descriptors_kept_with_their_parent():
    gadget = parse_configuration(usb_devices.lying_gadget().config_descriptor)
    (intf,) = gadget.interfaces
    assert [x.descriptor_type for x in intf.extra] == [0x21]   # HID descriptor
    ss = parse_configuration(usb_devices.superspeed_896ma().config_descriptor)
    assert all(e.extra[0].descriptor_type == 0x30 for e in ss.interfaces[0].endpoints)


@pytest.mark.parametrize("data, error, words", [
    (DEVICE[:17], DescriptorTruncated, "17 bytes"),
    (bytes([0x12, 0x02]) + DEVICE[2:], DescriptorWrongType, "bDescriptorType 0x02"),
    (bytes([0x11]) + DEVICE[1:], DescriptorBadLength, "bLength 17"),
    (DEVICE[:17] + b"\x00", DescriptorInconsistent, "bNumConfigurations 0"),
])
def test_device_descriptor_refusals(data, error, words):
    with pytest.raises(error, match=words):
        parse_device(data)


def _with_total(body: bytes, total: int | None = None) -> bytes:
    return body[:2] + struct.pack("<H", len(body) if total is None else total) + body[4:]


@pytest.mark.parametrize("data, error, words", [
    (CONFIG[:8], DescriptorTruncated, "8 bytes"),
    (_with_total(CONFIG, 40), DescriptorTruncated, "wTotalLength 40 but only 32"),
    (CONFIG + b"\x00", DescriptorInconsistent, "beyond wTotalLength"),
    (_with_total(CONFIG[:25] + bytes([0x09]) + CONFIG[26:]), DescriptorBadLength, "offset 25"),
    (_with_total(CONFIG[:18] + bytes([0x01]) + CONFIG[19:]), DescriptorBadLength, "minimum is 2"),
    (_with_total(CONFIG[:9] + CONFIG[18:]), DescriptorInconsistent, "precedes any interface"),
    (_with_total(CONFIG[:25]), DescriptorInconsistent, "bNumEndpoints 2 but has 1"),
    (CONFIG[:4] + b"\x02" + CONFIG[5:], DescriptorInconsistent, "bNumInterfaces 2"),
    (_with_total(CONFIG + DEVICE), DescriptorWrongType, "inside a configuration"),
])
def test_configuration_refusals_say_what_is_wrong(data, error, words):
    with pytest.raises(error, match=words):
        parse_configuration(data)


def test_catalogue_malformed_device_is_refused():
    with pytest.raises(DescriptorInconsistent):
        parse_configuration(usb_devices.malformed_gadget().config_descriptor)
