"""CommsUnit: the swappable communication module (通信部) of the meter."""
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class Medium(Enum):
    WISUN = "wi-sun"        # 920 MHz Wi-SUN (B-route / IoT route)
    WIFI = "wi-fi"          # 2.4 GHz Wi-Fi joined to the home network (LV B-route, secondary)
    ETHERNET = "ethernet"   # HV B-route (primary)
    USB = "usb"             # customer USB port
    AROUTE = "a-route"      # utility network (medium is utility-specific)


@dataclass(frozen=True)
class CommsUnitDescriptor:
    """What a comms unit declares when inserted.

    model:            product name
    media:            the media it provides
    draw_va:          worst-case draw from the meter's supply, VA
    firmware_version: the unit's own firmware version string
    """

    model: str
    media: tuple[Medium, ...]
    draw_va: float
    firmware_version: str


@runtime_checkable
class CommsUnit(Protocol):
    """A plug-in unit. ``attach()`` powers it up; ``detach()`` releases it (hot swap)."""

    descriptor: CommsUnitDescriptor

    def attach(self) -> None: ...

    def detach(self) -> None: ...
