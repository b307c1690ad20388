"""Emulated customer USB socket: plug/unplug devices, a VBUS load switch, a current sense.

It is the real ``PyUsbPort`` driver over an emulated pyusb backend, so enumeration, descriptor
reads and hot-plug diffing run the same code as on a Raspberry Pi. The physics added here:
VBUS on/off, per-device authorization (a de-authorized or not-yet-authorized device draws only
its unconfigured current, like a Linux bus with ``authorized_default = 0``), and the current the
devices really draw, which a lying device makes larger than it declared.
"""
from __future__ import annotations

from typing import Callable

from sumame.drivers.usb import PyUsbPort
from sumame.hal.errors import CommsError

from .backend import EmulatedUsbBackend, EnumeratedDevice
from .devices import EmulatedUsbDevice


class EmulatedVbus:
    """A USB load switch (same surface as a gpiozero DigitalOutputDevice: on/off/is_active)."""

    def __init__(self, on: bool = True, on_change: Callable[[bool], None] | None = None):
        self.is_active = on
        self.switch_count = 0
        self._on_change = on_change

    def on(self) -> None:
        self._set(True)

    def off(self) -> None:
        self._set(False)

    def _set(self, value: bool) -> None:
        if value != self.is_active:
            self.switch_count += 1
        self.is_active = value
        if self._on_change is not None:
            self._on_change(value)


class EmulatedUsbPort(PyUsbPort):
    """The customer socket at ``{bus}-{root_port}``; ``plug(dev, hub_port=n)`` puts a device
    behind an emulated hub at ``{bus}-{root_port}.{n}``."""

    def __init__(self, name: str = "usb", *, bus: int = 1, root_port: int = 1,
                 vbus_on: bool = True, authorized_default: bool = False):
        self.bus, self.root_port = bus, root_port
        self.authorized_default = authorized_default
        self._plugged: dict[tuple[int, ...], EmulatedUsbDevice] = {}
        self._authorized: dict[str, bool] = {}
        self._next_address = 2
        self._addresses: dict[tuple[int, ...], int] = {}
        self.vbus_switch = EmulatedVbus(vbus_on, self._vbus_changed)
        self.draw_listeners: list[Callable[[float], None]] = []
        """Called with the new draw (mA) whenever it changes (the emulated supply listens)."""
        self.change_listeners: list[Callable[[], None]] = []
        """Called after every plug, unplug, authorization and VBUS change (hal.power.ChangeSignal:
        what ``poll()`` and ``measured_draw_ma()`` report changes only then — a plugged device's
        draw is a property of the device; a device that changes it is unplugged and plugged)."""
        super().__init__(name, backend=EmulatedUsbBackend(self._enumerated),
                         path_prefix=f"{bus}-{root_port}", vbus=self.vbus_switch,
                         current_sense=self.draw_ma, authorizer=self._authorize)

    # ---------------------------------------------------------------- physical actions
    def plug(self, device: EmulatedUsbDevice, hub_port: int | None = None) -> str:
        """Insert ``device``; returns its path. Raises ValueError if that socket is occupied."""
        ports = (self.root_port,) if hub_port is None else (self.root_port, hub_port)
        if ports in self._plugged:
            raise ValueError(f"socket {self._path(ports)} already holds "
                             f"{self._plugged[ports].name}")
        self._plugged[ports] = device
        self._addresses[ports] = self._next_address
        self._next_address += 1
        self._authorized[self._path(ports)] = self.authorized_default
        self._notify()
        return self._path(ports)

    def unplug(self, path: str) -> EmulatedUsbDevice:
        for ports, device in list(self._plugged.items()):
            if self._path(ports) == path:
                del self._plugged[ports]
                self._authorized.pop(path, None)
                self._notify()
                return device
        raise KeyError(f"nothing plugged at {path}")

    def plugged(self) -> dict[str, EmulatedUsbDevice]:
        return {self._path(p): d for p, d in self._plugged.items()}

    def is_authorized(self, path: str) -> bool:
        return self._authorized.get(path, False)

    # ---------------------------------------------------------------- physics
    def draw_ma(self) -> float:
        """VBUS current now, mA (0 with VBUS off)."""
        if not self.vbus_switch.is_active:
            return 0.0
        return sum(d.draw_ma if self._authorized.get(self._path(p), False)
                   else d.unconfigured_draw_ma for p, d in self._plugged.items())

    def _path(self, ports: tuple[int, ...]) -> str:
        return f"{self.bus}-{'.'.join(str(p) for p in ports)}"

    def _enumerated(self) -> list[EnumeratedDevice]:
        if not self.vbus_switch.is_active:
            return []
        return [EnumeratedDevice(d, self.bus, p, self._addresses[p])
                for p, d in self._plugged.items()]

    def _authorize(self, path: str, allowed: bool) -> None:
        if path not in self._authorized:
            raise CommsError(f"no USB device at {path}")
        self._authorized[path] = allowed
        self._notify()

    def _vbus_changed(self, on: bool) -> None:
        if not on:   # power loss de-configures every device; they re-enumerate unauthorized
            for path in self._authorized:
                self._authorized[path] = self.authorized_default
        self._notify()

    def _notify(self) -> None:
        draw = self.draw_ma()
        for listener in self.draw_listeners:
            listener(draw)
        for listener in self.change_listeners:
            listener()

    def changes_signalled(self) -> bool:
        return True
