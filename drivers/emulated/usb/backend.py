"""A pyusb backend over emulated devices, so ``drivers/usb.py`` runs unchanged against them.

pyusb lets a program pass its own backend to ``usb.core.find(backend=...)``. This one answers
from the raw descriptor bytes of ``EmulatedUsbDevice`` objects: the parsed descriptor objects
pyusb asks for (like libusb's cached descriptors) and standard GET_DESCRIPTOR control transfers
that return the raw bytes. Malformed descriptors fail the way libusb fails on them: a USBError.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import usb.backend
import usb.core
import usb.util

from sumame.firmware.net.usb_descriptor import (
    DT_CONFIGURATION,
    DT_DEVICE,
    DT_STRING,
    UsbDescriptorError,
    parse_configuration,
    parse_device,
)
from sumame.hal.usb import UsbSpeed

from .devices import EmulatedUsbDevice

_SPEED_CODE = {UsbSpeed.UNKNOWN: usb.util.SPEED_UNKNOWN, UsbSpeed.LOW: usb.util.SPEED_LOW,
               UsbSpeed.FULL: usb.util.SPEED_FULL, UsbSpeed.HIGH: usb.util.SPEED_HIGH,
               UsbSpeed.SUPER: usb.util.SPEED_SUPER}
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_PIPE = -9


@dataclass
class EnumeratedDevice:
    """A device as the emulated host controller sees it (bus 1, a port chain, an address)."""

    device: EmulatedUsbDevice
    bus: int
    port_numbers: tuple[int, ...]
    address: int

    @property
    def path(self) -> str:
        return f"{self.bus}-{'.'.join(str(p) for p in self.port_numbers)}"


def _io_error(what: str, exc: Exception) -> usb.core.USBError:
    return usb.core.USBError(f"{what}: {exc}", error_code=LIBUSB_ERROR_IO)


class EmulatedUsbBackend(usb.backend.IBackend):
    """pyusb backend; ``devices`` returns the devices currently enumerated (VBUS on, plugged)."""

    def __init__(self, devices: Callable[[], list[EnumeratedDevice]]):
        self._devices = devices
        self.control_requests = 0

    # ---------------------------------------------------------------- enumeration
    def enumerate_devices(self):
        return iter(list(self._devices()))

    def get_device_descriptor(self, dev: EnumeratedDevice):
        try:
            d = parse_device(dev.device.device_descriptor)
        except UsbDescriptorError as exc:
            raise _io_error("device descriptor", exc) from None
        return SimpleNamespace(
            bLength=18, bDescriptorType=DT_DEVICE, bcdUSB=d.bcd_usb, bDeviceClass=d.device_class,
            bDeviceSubClass=d.device_subclass, bDeviceProtocol=d.device_protocol,
            bMaxPacketSize0=d.max_packet_size0, idVendor=d.vendor_id, idProduct=d.product_id,
            bcdDevice=d.bcd_device, iManufacturer=d.i_manufacturer, iProduct=d.i_product,
            iSerialNumber=d.i_serial, bNumConfigurations=d.num_configurations,
            bus=dev.bus, address=dev.address, port_number=dev.port_numbers[-1],
            port_numbers=dev.port_numbers, speed=_SPEED_CODE[dev.device.speed])

    def _config(self, dev: EnumeratedDevice, config: int):
        if config != 0:
            raise usb.core.USBError(f"configuration index {config} not present",
                                    error_code=LIBUSB_ERROR_IO)
        try:
            return parse_configuration(dev.device.config_descriptor)
        except UsbDescriptorError as exc:
            raise _io_error("configuration descriptor", exc) from None

    def get_configuration_descriptor(self, dev, config):
        c = self._config(dev, config)
        return SimpleNamespace(
            bLength=9, bDescriptorType=DT_CONFIGURATION,
            wTotalLength=len(dev.device.config_descriptor), bNumInterfaces=c.num_interfaces,
            bConfigurationValue=c.value, iConfiguration=c.i_configuration,
            bmAttributes=c.attributes, bMaxPower=c.max_power,
            extra_descriptors=list(b"".join(x.data for x in c.extra)))

    def _altsettings(self, dev, config):
        groups: OrderedDict[int, list] = OrderedDict()
        for intf in self._config(dev, config).interfaces:
            groups.setdefault(intf.number, []).append(intf)
        return list(groups.values())

    def get_interface_descriptor(self, dev, intf, alt, config):
        i = self._altsettings(dev, config)[intf][alt]
        return SimpleNamespace(
            bLength=9, bDescriptorType=0x04, bInterfaceNumber=i.number,
            bAlternateSetting=i.alternate, bNumEndpoints=len(i.endpoints),
            bInterfaceClass=i.interface_class, bInterfaceSubClass=i.interface_subclass,
            bInterfaceProtocol=i.interface_protocol, iInterface=i.i_interface,
            extra_descriptors=list(b"".join(x.data for x in i.extra)))

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        e = self._altsettings(dev, config)[intf][alt].endpoints[ep]
        return SimpleNamespace(
            bLength=e.length, bDescriptorType=0x05, bEndpointAddress=e.address,
            bmAttributes=e.attributes, wMaxPacketSize=e.max_packet_size, bInterval=e.interval,
            bRefresh=0, bSynchAddress=0,
            extra_descriptors=list(b"".join(x.data for x in e.extra)))

    # ---------------------------------------------------------------- I/O
    def open_device(self, dev):
        return dev

    def close_device(self, dev_handle):
        pass

    def get_configuration(self, dev_handle):
        return 1

    def set_configuration(self, dev_handle, config_value):
        pass

    def claim_interface(self, dev_handle, intf):
        pass

    def release_interface(self, dev_handle, intf):
        pass

    def ctrl_transfer(self, dev_handle: EnumeratedDevice, bmRequestType, bRequest, wValue, wIndex,
                      data, timeout):
        """Standard GET_DESCRIPTOR (0x80, 6) for device, configuration 0 and strings."""
        self.control_requests += 1
        if bmRequestType != 0x80 or bRequest != 0x06:
            raise usb.core.USBError("request not supported (stall)", error_code=LIBUSB_ERROR_PIPE)
        dtype, index = wValue >> 8, wValue & 0xFF
        device = dev_handle.device
        if dtype == DT_DEVICE:
            raw = device.device_descriptor
        elif dtype == DT_CONFIGURATION and index == 0:
            raw = device.config_descriptor
        elif dtype == DT_STRING:
            raw = (bytes([4, 3, 0x09, 0x04]) if index == 0 else
                   bytes([2 + 2 * len(device.name), 3]) + device.name.encode("utf-16-le"))[:255]
        else:
            raise usb.core.USBError("descriptor not present (stall)", error_code=LIBUSB_ERROR_PIPE)
        n = min(len(data), len(raw))
        data[:n] = type(data)(data.typecode, raw[:n])
        return n
