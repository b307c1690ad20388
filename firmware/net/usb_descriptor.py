"""USB standard descriptors (USB 2.0 §9.6, USB 3.2 §9.6): parse and build.

Pure: bytes in, objects out.

The meter reads a customer device's configuration descriptor to learn how much current it may
draw (bMaxPower) before it lets the device draw from the power budget. The bytes come from
outside, so ``parse_device`` / ``parse_configuration`` reject anything malformed with a
``UsbDescriptorError`` subclass that says what is wrong and where; no other exception escapes
(proved by the fuzz tests).

bMaxPower unit (USB 2.0 Table 9-10, USB 3.2 Table 9-22): **2 mA** when the device operates at
low/full/high speed, **8 mA** when it operates at SuperSpeed or faster. A USB 3 device plugged into
a USB 2 port operates at high speed and reports bcdUSB 0x0210 with a 2 mA-unit descriptor, so the
unit follows the *operating* speed; only when the host does not report the speed is bcdUSB >=
0x0300 taken as a sign of SuperSpeed operation (the same rule pyusb applies).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

DT_DEVICE = 0x01
DT_CONFIGURATION = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05
DT_INTERFACE_ASSOCIATION = 0x0B
DT_SS_ENDPOINT_COMPANION = 0x30

DEVICE_LEN = 18
CONFIG_LEN = 9
INTERFACE_LEN = 9
ENDPOINT_LEN = 7

MA_PER_UNIT_USB2 = 2
MA_PER_UNIT_SUPERSPEED = 8

_DEVICE = struct.Struct("<BBHBBBBHHHBBBB")
_CONFIG = struct.Struct("<BBHBBBBB")
_INTERFACE = struct.Struct("<BBBBBBBBB")
_ENDPOINT = struct.Struct("<BBBBHB")


class UsbDescriptorError(ValueError):
    """Malformed descriptor bytes; the message says what and at which byte offset."""


class DescriptorTruncated(UsbDescriptorError):
    """Fewer bytes than a descriptor (or wTotalLength) needs."""


class DescriptorBadLength(UsbDescriptorError):
    """A bLength that is too small for its type or runs past the end of the data."""


class DescriptorWrongType(UsbDescriptorError):
    """bDescriptorType is not the one expected at this place."""


class DescriptorInconsistent(UsbDescriptorError):
    """Counts or lengths that contradict each other (bNumInterfaces, bNumEndpoints,
    wTotalLength)."""


@dataclass(frozen=True)
class RawDescriptor:
    """A descriptor kept as bytes (class-specific, IAD, SuperSpeed companion ...)."""

    descriptor_type: int
    data: bytes


@dataclass(frozen=True)
class DeviceDescriptor:
    bcd_usb: int
    device_class: int
    device_subclass: int
    device_protocol: int
    max_packet_size0: int
    vendor_id: int
    product_id: int
    bcd_device: int
    i_manufacturer: int
    i_product: int
    i_serial: int
    num_configurations: int


@dataclass(frozen=True)
class EndpointDescriptor:
    address: int
    attributes: int
    max_packet_size: int
    interval: int
    extra: tuple[RawDescriptor, ...] = ()
    length: int = ENDPOINT_LEN


@dataclass(frozen=True)
class InterfaceDescriptor:
    number: int
    alternate: int
    interface_class: int
    interface_subclass: int
    interface_protocol: int
    i_interface: int
    endpoints: tuple[EndpointDescriptor, ...] = ()
    extra: tuple[RawDescriptor, ...] = ()
    num_endpoints: int | None = None
    """bNumEndpoints as declared; None = the number of ``endpoints`` (when building)."""


@dataclass(frozen=True)
class ConfigurationDescriptor:
    value: int
    i_configuration: int
    attributes: int
    max_power: int
    """bMaxPower, in 2 mA or 8 mA units (see ``max_power_ma``)."""
    interfaces: tuple[InterfaceDescriptor, ...] = ()
    extra: tuple[RawDescriptor, ...] = ()
    num_interfaces: int | None = None
    """bNumInterfaces as declared; None = distinct interface numbers (when building)."""

    @property
    def self_powered(self) -> bool:
        return bool(self.attributes & 0x40)

    @property
    def remote_wakeup(self) -> bool:
        return bool(self.attributes & 0x20)


def ma_per_unit(superspeed: bool | None, bcd_usb: int = 0x0200) -> int:
    """mA per bMaxPower unit. superspeed: True/False when the host reports the operating speed;
    None when unknown (then bcd_usb >= 0x0300 counts as SuperSpeed)."""
    if superspeed is None:
        superspeed = bcd_usb >= 0x0300
    return MA_PER_UNIT_SUPERSPEED if superspeed else MA_PER_UNIT_USB2


def max_power_ma(config: ConfigurationDescriptor, *, superspeed: bool | None,
                 bcd_usb: int = 0x0200) -> int:
    """The most current the device may draw from VBUS in this configuration, mA."""
    return config.max_power * ma_per_unit(superspeed, bcd_usb)


# --------------------------------------------------------------------------- parsing


def parse_device(data: bytes) -> DeviceDescriptor:
    """Parse an 18-byte device descriptor."""
    data = bytes(data)
    if len(data) < DEVICE_LEN:
        raise DescriptorTruncated(f"device descriptor has {len(data)} bytes, needs {DEVICE_LEN}")
    (length, dtype, bcd_usb, dclass, dsub, dproto, mps0, vid, pid, bcd_dev, i_man, i_prod,
     i_ser, n_conf) = _DEVICE.unpack_from(data)
    if dtype != DT_DEVICE:
        raise DescriptorWrongType(f"device descriptor has bDescriptorType 0x{dtype:02x}, "
                                  f"expected 0x{DT_DEVICE:02x}")
    if length != DEVICE_LEN:
        raise DescriptorBadLength(f"device descriptor bLength {length}, must be {DEVICE_LEN}")
    if n_conf == 0:
        raise DescriptorInconsistent("device descriptor declares bNumConfigurations 0")
    return DeviceDescriptor(bcd_usb, dclass, dsub, dproto, mps0, vid, pid, bcd_dev, i_man,
                            i_prod, i_ser, n_conf)


def _walk(data: bytes, start: int):
    """Yield (offset, bLength, bDescriptorType) of each descriptor from ``start`` to the end."""
    offset = start
    while offset < len(data):
        if len(data) - offset < 2:
            raise DescriptorTruncated(f"1 stray byte at offset {offset} (a descriptor needs >= 2)")
        length, dtype = data[offset], data[offset + 1]
        if length < 2:
            raise DescriptorBadLength(f"bLength {length} at offset {offset} (type 0x{dtype:02x}); "
                                      f"minimum is 2")
        if offset + length > len(data):
            raise DescriptorBadLength(f"descriptor type 0x{dtype:02x} at offset {offset} has "
                                      f"bLength {length}, only {len(data) - offset} bytes remain")
        yield offset, length, dtype
        offset += length


class _Builder:
    """Mutable interface under construction while walking a configuration."""

    def __init__(self, fields: tuple, declared_endpoints: int):
        self.fields = fields
        self.declared_endpoints = declared_endpoints
        self.endpoints: list[list] = []   # [fields, extra list, length]
        self.extra: list[RawDescriptor] = []

    def freeze(self) -> InterfaceDescriptor:
        eps = tuple(EndpointDescriptor(*f, extra=tuple(x), length=n)
                    for f, x, n in self.endpoints)
        return InterfaceDescriptor(*self.fields, endpoints=eps, extra=tuple(self.extra),
                                   num_endpoints=self.declared_endpoints)


def parse_configuration(data: bytes) -> ConfigurationDescriptor:
    """Parse a full configuration descriptor set (wTotalLength bytes).

    Interface and endpoint descriptors are attached to their parents; any other descriptor
    (class-specific, IAD, SuperSpeed companion) is kept as ``RawDescriptor`` in the ``extra`` of
    the item it follows, as libusb does.
    """
    data = bytes(data)
    if len(data) < CONFIG_LEN:
        raise DescriptorTruncated(f"configuration descriptor has {len(data)} bytes, needs "
                                  f">= {CONFIG_LEN}")
    length, dtype, total, n_intf, value, i_conf, attrs, max_power = _CONFIG.unpack_from(data)
    if dtype != DT_CONFIGURATION:
        raise DescriptorWrongType(f"configuration descriptor has bDescriptorType 0x{dtype:02x}, "
                                  f"expected 0x{DT_CONFIGURATION:02x}")
    if length < CONFIG_LEN:
        raise DescriptorBadLength(f"configuration bLength {length}, minimum {CONFIG_LEN}")
    if total < length:
        raise DescriptorInconsistent(f"wTotalLength {total} is shorter than the configuration "
                                     f"descriptor itself ({length})")
    if len(data) < total:
        raise DescriptorTruncated(f"wTotalLength {total} but only {len(data)} bytes present")
    if len(data) > total:
        raise DescriptorInconsistent(f"{len(data) - total} bytes beyond wTotalLength {total}")
    config_extra: list[RawDescriptor] = []
    interfaces: list[_Builder] = []
    current: _Builder | None = None
    target_extra = config_extra
    for offset, dlen, dtype in _walk(data, length):
        if dtype == DT_INTERFACE:
            if dlen < INTERFACE_LEN:
                raise DescriptorBadLength(f"interface descriptor at offset {offset} has bLength "
                                          f"{dlen}, minimum {INTERFACE_LEN}")
            _, _, number, alt, n_ep, cls, sub, proto, i_intf = _INTERFACE.unpack_from(data, offset)
            _check_endpoint_count(current)
            current = _Builder((number, alt, cls, sub, proto, i_intf), n_ep)
            interfaces.append(current)
            target_extra = current.extra
        elif dtype == DT_ENDPOINT:
            if current is None:
                raise DescriptorInconsistent(f"endpoint descriptor at offset {offset} precedes "
                                             f"any interface descriptor")
            if dlen < ENDPOINT_LEN:
                raise DescriptorBadLength(f"endpoint descriptor at offset {offset} has bLength "
                                          f"{dlen}, minimum {ENDPOINT_LEN}")
            _, _, address, ep_attrs, mps, interval = _ENDPOINT.unpack_from(data, offset)
            entry = [(address, ep_attrs, mps, interval), [], dlen]
            current.endpoints.append(entry)
            target_extra = entry[1]
        elif dtype in (DT_DEVICE, DT_CONFIGURATION):
            raise DescriptorWrongType(f"descriptor type 0x{dtype:02x} at offset {offset} inside "
                                      f"a configuration")
        else:
            target_extra.append(RawDescriptor(dtype, data[offset:offset + dlen]))
    _check_endpoint_count(current)
    distinct = len({b.fields[0] for b in interfaces})
    if distinct != n_intf:
        raise DescriptorInconsistent(f"bNumInterfaces {n_intf} but {distinct} distinct interface "
                                     f"numbers present")
    return ConfigurationDescriptor(value, i_conf, attrs, max_power,
                                   tuple(b.freeze() for b in interfaces), tuple(config_extra),
                                   num_interfaces=n_intf)


def _check_endpoint_count(builder: _Builder | None) -> None:
    if builder is not None and len(builder.endpoints) != builder.declared_endpoints:
        number, alt = builder.fields[0], builder.fields[1]
        raise DescriptorInconsistent(
            f"interface {number} alt {alt} declares bNumEndpoints {builder.declared_endpoints} "
            f"but has {len(builder.endpoints)} endpoint descriptors")


# --------------------------------------------------------------------------- building


def build_device(d: DeviceDescriptor) -> bytes:
    return _DEVICE.pack(DEVICE_LEN, DT_DEVICE, d.bcd_usb, d.device_class, d.device_subclass,
                        d.device_protocol, d.max_packet_size0, d.vendor_id, d.product_id,
                        d.bcd_device, d.i_manufacturer, d.i_product, d.i_serial,
                        d.num_configurations)


def _build_extra(extra) -> bytes:
    return b"".join(x.data for x in extra)


def build_configuration(c: ConfigurationDescriptor) -> bytes:
    """Serialise with wTotalLength computed; bNumInterfaces / bNumEndpoints default to the counts
    present (set them explicitly to build a deliberately inconsistent descriptor)."""
    body = bytearray(_build_extra(c.extra))
    for intf in c.interfaces:
        n_ep = len(intf.endpoints) if intf.num_endpoints is None else intf.num_endpoints
        body += _INTERFACE.pack(INTERFACE_LEN, DT_INTERFACE, intf.number, intf.alternate, n_ep,
                                intf.interface_class, intf.interface_subclass,
                                intf.interface_protocol, intf.i_interface)
        body += _build_extra(intf.extra)
        for ep in intf.endpoints:
            raw = _ENDPOINT.pack(ep.length, DT_ENDPOINT, ep.address, ep.attributes,
                                 ep.max_packet_size, ep.interval)
            body += raw + bytes(max(0, ep.length - ENDPOINT_LEN))
            body += _build_extra(ep.extra)
    n_intf = (len({i.number for i in c.interfaces}) if c.num_interfaces is None
              else c.num_interfaces)
    head = _CONFIG.pack(CONFIG_LEN, DT_CONFIGURATION, CONFIG_LEN + len(body), n_intf, c.value,
                        c.i_configuration, c.attributes, c.max_power)
    return head + bytes(body)


@dataclass(frozen=True)
class UsbDescriptors:
    """A parsed device: its device descriptor and first configuration."""

    device: DeviceDescriptor
    configuration: ConfigurationDescriptor

    def max_power_ma(self, superspeed: bool | None) -> int:
        return max_power_ma(self.configuration, superspeed=superspeed,
                            bcd_usb=self.device.bcd_usb)


def parse_descriptors(device: bytes, configuration: bytes) -> UsbDescriptors:
    """Parse both descriptors of one device (see ``parse_device`` / ``parse_configuration``)."""
    return UsbDescriptors(parse_device(device), parse_configuration(configuration))
