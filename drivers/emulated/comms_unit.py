"""Emulated swappable comms units (通信部) with their descriptors.

The draws are emulation values chosen to be plausible for such modules (a 920 MHz Wi-SUN radio
~1-1.5 VA, Wi-Fi ~1.5 VA, an Ethernet PHY ~1 VA, including regulator losses); they are not
measured figures of any product. ``power_hog`` (25 VA) exists to prove the budget refuses it.
Fault injection: ``fail_attach`` (the unit does not come up), ``fail_detach``.
"""
from __future__ import annotations

from sumame.hal.comms import CommsUnitDescriptor, Medium
from sumame.hal.errors import CommsError


class EmulatedCommsUnit:
    def __init__(self, descriptor: CommsUnitDescriptor, *, fail_attach: bool = False,
                 fail_detach: bool = False):
        self.descriptor = descriptor
        self.fail_attach, self.fail_detach = fail_attach, fail_detach
        self.attached = False
        self.attach_count = 0
        self.detach_count = 0

    def attach(self) -> None:
        if self.fail_attach:
            raise CommsError(f"{self.descriptor.model}: no answer after power-up")
        self.attached = True
        self.attach_count += 1

    def detach(self) -> None:
        self.attached = False
        self.detach_count += 1
        if self.fail_detach:
            raise CommsError(f"{self.descriptor.model}: did not acknowledge shutdown")

    def __repr__(self) -> str:
        return f"<EmulatedCommsUnit {self.descriptor.model}>"


def _unit(model, media, va, fw="1.0.0", **kw) -> EmulatedCommsUnit:
    return EmulatedCommsUnit(CommsUnitDescriptor(model, tuple(media), va, fw), **kw)


def a_route_wisun(fw: str = "2.1.0") -> EmulatedCommsUnit:
    """A-route 920 MHz Wi-SUN multi-hop unit that also serves the B-route over Wi-SUN."""
    return _unit("a-route wi-sun", (Medium.AROUTE, Medium.WISUN), 1.5, fw)


def wisun_b_route(fw: str = "1.0.0") -> EmulatedCommsUnit:
    return _unit("wi-sun b-route", (Medium.WISUN,), 1.2, fw)


def wisun_wifi_b_route(fw: str = "1.0.0") -> EmulatedCommsUnit:
    """LV next-generation B-route: Wi-SUN (1:1) + Wi-Fi 2.4 GHz (several devices)."""
    return _unit("wi-sun + wi-fi b-route", (Medium.WISUN, Medium.WIFI), 2.8, fw)


def ethernet_wisun_b_route(fw: str = "1.0.0") -> EmulatedCommsUnit:
    """HV B-route: Ethernet (primary, several devices) + Wi-SUN (secondary, 1:1)."""
    return _unit("ethernet + wi-sun b-route", (Medium.ETHERNET, Medium.WISUN), 2.5, fw)


def usb_port_unit(fw: str = "1.0.0") -> EmulatedCommsUnit:
    """A unit that only provides the customer USB port (its devices are budgeted separately)."""
    return _unit("usb port unit", (Medium.USB,), 0.3, fw)


def power_hog(fw: str = "0.9.0") -> EmulatedCommsUnit:
    return _unit("25 VA unit", (Medium.WISUN, Medium.WIFI), 25.0, fw)


def lv_next_gen(fw: str = "1.0.0") -> EmulatedCommsUnit:
    """Next-generation LV unit: A-route, B-route Wi-SUN (1:1) and B-route Wi-Fi."""
    return _unit("lv next-gen unit", (Medium.AROUTE, Medium.WISUN, Medium.WIFI), 3.0, fw)


def hv_next_gen(fw: str = "1.0.0") -> EmulatedCommsUnit:
    """Next-generation HV unit: A-route, B-route Ethernet (several devices) and Wi-SUN (1:1)."""
    return _unit("hv next-gen unit", (Medium.AROUTE, Medium.ETHERNET, Medium.WISUN), 3.5, fw)


CATALOGUE = {"lv-next-gen": lv_next_gen, "hv-next-gen": hv_next_gen, "a-route": a_route_wisun, "wisun": wisun_b_route, "wisun-wifi": wisun_wifi_b_route,
             "ethernet-wisun": ethernet_wisun_b_route, "usb": usb_port_unit, "hog": power_hog}
