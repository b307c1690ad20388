"""UsbPort: the customer USB port of the meter (and any hub behind it), with hot-plug events.

The port reports devices with their *raw* descriptor bytes; the firmware parses them (bad bytes
are bad input from outside) and decides from the configuration descriptor's bMaxPower whether
the device may draw power from the meter's budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class UsbSpeed(Enum):
    """Operating speed of a device (decides the bMaxPower unit: 8 mA at SuperSpeed, else 2 mA)."""

    UNKNOWN = "unknown"
    LOW = "low"            # 1.5 Mbit/s
    FULL = "full"          # 12 Mbit/s
    HIGH = "high"          # 480 Mbit/s
    SUPER = "super"        # 5 Gbit/s and faster (SuperSpeed, SuperSpeed+)

    @property
    def is_superspeed(self) -> bool:
        return self is UsbSpeed.SUPER


@dataclass(frozen=True)
class UsbDeviceInfo:
    """One enumerated device.

    path:               bus-port path, e.g. "1-1.2" (stable for a physical socket)
    vendor_id, product_id: idVendor / idProduct
    speed:              operating speed reported by the host controller
    device_descriptor:  the 18-byte device descriptor as read
    config_descriptor:  the first configuration descriptor with all interface/endpoint/class
                        descriptors (wTotalLength bytes), as read
    descriptor_source:  "device" (GET_DESCRIPTOR from the device) or "rebuilt" (re-serialised from
                        the host OS's parsed copy when the device could not be opened)
    """

    path: str
    vendor_id: int
    product_id: int
    speed: UsbSpeed
    device_descriptor: bytes
    config_descriptor: bytes
    descriptor_source: str = "device"


class HotplugKind(Enum):
    ARRIVED = "arrived"
    LEFT = "left"


@dataclass(frozen=True)
class UsbHotplug:
    kind: HotplugKind
    device: UsbDeviceInfo


@runtime_checkable
class UsbPort(Protocol):
    """A USB host port with optional VBUS switch and current sense.

    ``poll()`` returns the arrivals and departures since the previous call (pyusb has no hot-plug
    callbacks, so the firmware polls, ~1 s). ``set_vbus(False)`` cuts power to the port (every
    device on it leaves); ``authorize(path, False)`` de-configures one device so it may draw no
    more than one unit load. ``measured_draw_ma()`` is the port's VBUS current, mA, or None when
    the board has no current sense.
    """

    name: str
    vbus_switchable: bool

    def poll(self) -> list[UsbHotplug]: ...

    def devices(self) -> list[UsbDeviceInfo]: ...

    def set_vbus(self, on: bool) -> None: ...

    def vbus(self) -> bool: ...

    def authorize(self, path: str, allowed: bool) -> None: ...

    def measured_draw_ma(self) -> float | None: ...
