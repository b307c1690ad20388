"""The customer USB port on a Raspberry Pi (or any Linux host), through pyusb.

Devices are discovered with pyusb (libusb 1.0 backend by default, or any backend passed in: the
emulated port passes its own). Each device's descriptors are read as raw bytes with standard
GET_DESCRIPTOR requests; when the device cannot be opened (permissions) they are re-serialised
from the copy the OS already parsed (``descriptor_source = "rebuilt"``). The firmware parses them.

Hot-plug: pyusb has no hot-plug callbacks, so ``poll()`` enumerates and reports the difference.
VBUS: optional switch object with ``on()``, ``off()`` and ``is_active`` (a gpiozero
``DigitalOutputDevice`` driving a USB load switch's enable pin fits as is). Current sense: an
optional callable returning mA. Authorization: Linux's ``/sys/bus/usb/devices/<path>/authorized``
(a de-authorized device is de-configured and may draw one unit load at most); with
``authorized_default=False`` new devices on the bus stay unconfigured until the firmware allows
them (``/sys/bus/usb/devices/usbN/authorized_default``). Both need root; failures are CommsError.
"""
from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Callable, Protocol

import usb.backend.libusb1
import usb.control
import usb.core
import usb.util

from sumame.hal.errors import CommsError, ConfigurationError, DeviceNotFound
from sumame.hal.usb import HotplugKind, UsbDeviceInfo, UsbHotplug, UsbSpeed

log = logging.getLogger("sumame.drivers.usb")

SYSFS_USB = Path("/sys/bus/usb/devices")
HUB_CLASS = 0x09
_SPEEDS = {usb.util.SPEED_LOW: UsbSpeed.LOW, usb.util.SPEED_FULL: UsbSpeed.FULL,
           usb.util.SPEED_HIGH: UsbSpeed.HIGH, usb.util.SPEED_SUPER: UsbSpeed.SUPER}
_READ_ERRORS = (usb.core.USBError, NotImplementedError, ValueError, IndexError, TypeError)


class VbusSwitch(Protocol):
    is_active: bool

    def on(self) -> None: ...

    def off(self) -> None: ...


def default_backend():
    """pyusb's libusb 1.0 backend, or DeviceNotFound when libusb is not installed."""
    backend = usb.backend.libusb1.get_backend()
    if backend is None:
        raise DeviceNotFound("no pyusb backend: libusb 1.0 is not installed")
    return backend


def device_path(dev) -> str:
    """Bus-port path as Linux names it in sysfs, e.g. "1-1.2"."""
    ports = getattr(dev, "port_numbers", None)
    if ports:
        return f"{dev.bus}-{'.'.join(str(p) for p in ports)}"
    return f"{dev.bus}-addr{dev.address}"


def rebuild_descriptors(dev) -> tuple[bytes, bytes]:
    """Serialise pyusb's parsed descriptor objects back to bytes (device, first configuration)."""
    device = struct.pack("<BBHBBBBHHHBBBB", 18, 1, dev.bcdUSB, dev.bDeviceClass,
                         dev.bDeviceSubClass, dev.bDeviceProtocol, dev.bMaxPacketSize0,
                         dev.idVendor, dev.idProduct, dev.bcdDevice, dev.iManufacturer,
                         dev.iProduct, dev.iSerialNumber, dev.bNumConfigurations)
    cfg = dev[0]
    body = bytearray(bytes(cfg.extra_descriptors or b""))
    for intf in cfg:
        body += struct.pack("<BBBBBBBBB", 9, 4, intf.bInterfaceNumber, intf.bAlternateSetting,
                            intf.bNumEndpoints, intf.bInterfaceClass, intf.bInterfaceSubClass,
                            intf.bInterfaceProtocol, intf.iInterface)
        body += bytes(intf.extra_descriptors or b"")
        for ep in intf:
            body += struct.pack("<BBBBHB", 7, 5, ep.bEndpointAddress, ep.bmAttributes,
                                ep.wMaxPacketSize, ep.bInterval)
            body += bytes(ep.extra_descriptors or b"")
    head = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), cfg.bNumInterfaces,
                       cfg.bConfigurationValue, cfg.iConfiguration, cfg.bmAttributes,
                       cfg.bMaxPower)
    return device, head + bytes(body)


def read_raw_descriptors(dev) -> tuple[bytes, bytes, str]:
    """(device bytes, configuration bytes, source). Configuration bytes are empty when neither
    the device nor the OS could supply them."""
    try:
        try:
            device = bytes(usb.control.get_descriptor(dev, 18, usb.util.DESC_TYPE_DEVICE, 0))
            head = bytes(usb.control.get_descriptor(dev, 9, usb.util.DESC_TYPE_CONFIG, 0))
            total = int.from_bytes(head[2:4], "little") if len(head) >= 4 else len(head)
            config = head if total <= len(head) else bytes(
                usb.control.get_descriptor(dev, total, usb.util.DESC_TYPE_CONFIG, 0))
            return device, config, "device"
        except _READ_ERRORS as exc:
            log.debug("GET_DESCRIPTOR on %s failed (%s); using the OS's parsed copy",
                      device_path(dev), exc)
        try:
            device, config = rebuild_descriptors(dev)
            return device, config, "rebuilt"
        except _READ_ERRORS as exc:
            log.warning("USB %s: configuration descriptor unreadable: %s", device_path(dev), exc)
            return b"", b"", "unavailable"
    finally:
        usb.util.dispose_resources(dev)


def sysfs_authorize(path: str, allowed: bool, root: Path = SYSFS_USB) -> None:
    """Write Linux's per-device ``authorized`` attribute (needs root)."""
    try:
        (root / path / "authorized").write_text("1" if allowed else "0")
    except OSError as exc:
        raise CommsError(f"cannot {'authorize' if allowed else 'de-authorize'} USB device "
                         f"{path}: {exc}") from None


class PyUsbPort:
    """UsbPort over pyusb.

    path_prefix: only devices at this path or below it (the customer socket, e.g. "1-1"); None
                 = every device that is not a hub
    vbus:        VBUS switch (see module docstring) or None when the port is always powered
    current_sense: callable returning the port's VBUS current in mA, or None
    authorizer:  callable(path, allowed); default writes sysfs
    """

    def __init__(self, name: str = "usb", *, backend=None, path_prefix: str | None = None,
                 vbus: VbusSwitch | None = None,
                 current_sense: Callable[[], float | None] | None = None,
                 authorizer: Callable[[str, bool], None] | None = None):
        self.name = name
        self._backend = backend if backend is not None else default_backend()
        self._prefix = path_prefix
        self._vbus = vbus
        self._sense = current_sense
        self._authorizer = authorizer or sysfs_authorize
        self._known: dict[str, UsbDeviceInfo] = {}
        self.enumeration_errors = 0

    @property
    def vbus_switchable(self) -> bool:
        return self._vbus is not None

    def _wanted(self, path: str) -> bool:
        if self._prefix is None:
            return True
        return path == self._prefix or path.startswith(self._prefix + ".")

    def _enumerate(self) -> dict[str, UsbDeviceInfo]:
        found: dict[str, UsbDeviceInfo] = {}
        for handle in self._backend.enumerate_devices():
            try:
                dev = usb.core.Device(handle, self._backend)
            except _READ_ERRORS as exc:
                self.enumeration_errors += 1
                log.warning("USB device could not be enumerated (device descriptor): %s", exc)
                continue
            path = device_path(dev)
            if dev.bDeviceClass == HUB_CLASS or not self._wanted(path):
                continue
            known = self._known.get(path)
            if known is not None and (known.vendor_id, known.product_id) == (dev.idVendor,
                                                                             dev.idProduct):
                found[path] = known   # same device still there: no new descriptor traffic
                continue
            device_bytes, config_bytes, source = read_raw_descriptors(dev)
            found[path] = UsbDeviceInfo(path, dev.idVendor, dev.idProduct,
                                        _SPEEDS.get(dev.speed, UsbSpeed.UNKNOWN), device_bytes,
                                        config_bytes, source)
        return found

    def poll(self) -> list[UsbHotplug]:
        current = self._enumerate() if self.vbus() else {}
        events = [UsbHotplug(HotplugKind.LEFT, info) for path, info in self._known.items()
                  if current.get(path) is not info]
        events += [UsbHotplug(HotplugKind.ARRIVED, info) for path, info in current.items()
                   if self._known.get(path) is not info]
        self._known = current
        return events

    def devices(self) -> list[UsbDeviceInfo]:
        return list(self._known.values())

    def set_vbus(self, on: bool) -> None:
        if self._vbus is None:
            raise ConfigurationError(f"USB port {self.name} has no VBUS switch")
        self._vbus.on() if on else self._vbus.off()

    def vbus(self) -> bool:
        return True if self._vbus is None else bool(self._vbus.is_active)

    def authorize(self, path: str, allowed: bool) -> None:
        self._authorizer(path, allowed)

    def measured_draw_ma(self) -> float | None:
        return None if self._sense is None else self._sense()
