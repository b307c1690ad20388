"""The customer USB port under the power budget.

The port is one budget load (``LoadClass.USB``, shed first) whose size is one unit load
(100 mA, what any device may draw while it enumerates) plus the bMaxPower of every device the
meter has allowed. On each hot-plug arrival the device's raw descriptors are parsed:
* malformed descriptors: refused (the device stays de-authorized), logged, counted;
* a draw that does not fit the budget: refused with the numbers, logged, device de-authorized;
* otherwise the port load grows by the declared draw and the device is authorized.
bMaxPower is in 2 mA units, or 8 mA when the device operates at SuperSpeed.

A port that draws more than it declared is shed by the budget (VBUS off, or every device
de-authorized when the port has no VBUS switch). The manager powers it again after
``retry_s``, doubling the wait after each shed up to ``max_retry_s``; the devices re-enumerate
and are admitted afresh (a device that keeps lying keeps being shed, each time logged); after
``10 x retry_s`` without a shed the wait is back to ``retry_s``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.hal.errors import CommsError, ConfigurationError
from sumame.hal.usb import HotplugKind, UsbDeviceInfo, UsbPort, UsbSpeed

from ..core.events import EventLog, Severity
from ..net.usb_descriptor import UsbDescriptorError, ma_per_unit, parse_descriptors
from .power_budget import LoadClass, LoadState, PowerBudget
from ..core.scheduler import sleep

SOURCE = "usb"
UNIT_LOAD_MA = 100


@dataclass
class UsbDevice:
    info: UsbDeviceInfo
    declared_ma: int | None
    authorized: bool
    reason: str


class UsbPowerManager:
    """Spawn ``run()`` with ``Priority.CONTROL`` after ``start()``."""

    def __init__(self, port: UsbPort, budget: PowerBudget, events: EventLog, clock, *,
                 load_name: str = "usb-port", retry_s: float = 60.0, max_retry_s: float = 3600.0):
        self.port, self.budget, self._events, self._clock = port, budget, events, clock
        self.load_name = load_name
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.devices: dict[str, UsbDevice] = {}
        self.bad_descriptors = 0
        self.refusals = 0
        self._next_retry: float | None = None
        self._backoff = retry_s
        self._on_since: float | None = None

    # ---------------------------------------------------------------- power
    def _port_va(self) -> float:
        ma = UNIT_LOAD_MA + sum(d.declared_ma or 0 for d in self.devices.values()
                                if d.authorized)
        return self.budget.usb_va(ma)

    def _measure(self) -> float | None:
        ma = self.port.measured_draw_ma()
        return None if ma is None else self.budget.usb_va(ma)

    def start(self) -> bool:
        """Reserve the enumeration allowance and power the port. False if the budget refuses
        (the port then stays unpowered, logged)."""
        admission = self.budget.request(self.load_name, LoadClass.USB, self._port_va(),
                                        cut=self._cut, restore=self._power_on,
                                        measure=self._measure, source=SOURCE)
        if admission.ok:
            self._power_on()
            for info in self.port.devices():  # cold plug: devices already there at boot
                if info.path not in self.devices:
                    self._arrived(info)
        else:
            self._switch(False)
        return admission.ok

    def _switch(self, on: bool) -> None:
        if self.port.vbus_switchable:
            self.port.set_vbus(on)

    def _power_on(self) -> None:
        self._switch(True)

    def _cut(self) -> None:
        if self.port.vbus_switchable:
            self.port.set_vbus(False)
            return
        for path, dev in self.devices.items():
            if dev.authorized:
                self._authorize(path, False)
                dev.authorized = False

    def _authorize(self, path: str, allowed: bool) -> None:
        try:
            self.port.authorize(path, allowed)
        except (CommsError, ConfigurationError) as exc:
            self._events.record("usb-fault", source=SOURCE, severity=Severity.WARNING,
                                detail=f"{path}: {exc}")

    # ---------------------------------------------------------------- hot-plug
    def poll(self, now: float | None = None) -> None:
        now = self._clock.now() if now is None else now
        load = self.budget.load(self.load_name)
        if load is not None and load.state is LoadState.SHED_OVERDRAW:
            self._on_since = None
            self._retry_after_shed(now)
        elif load is not None and load.state is LoadState.ON:
            self._on_since = now if self._on_since is None else self._on_since
            if now - self._on_since >= 10 * self.retry_s:
                self._backoff = self.retry_s      # behaved for a while: forget past sheds
        for event in self.port.poll():
            if event.kind is HotplugKind.ARRIVED:
                self._arrived(event.device)
            else:
                self._left(event.device)

    def settled(self) -> bool:
        """True when, as long as the port and the budget do not change, the next ``poll`` does
        nothing: the port is not waiting to be powered again after an over-draw shed. (An on
        port's back-off reset needs no poll of its own: a shed takes over-draw polls, which run,
        and the first of them finds the port still on.)"""
        load = self.budget.load(self.load_name)
        return load is None or load.state is not LoadState.SHED_OVERDRAW

    def _retry_after_shed(self, now: float) -> None:
        if self._next_retry is None:
            self._next_retry = now + self._backoff
            self._events.record("usb-retry", source=SOURCE, detail=(
                f"port shed for over-draw; powering it again at +{self._backoff:.0f} s"))
            self._backoff = min(self._backoff * 2, self.max_retry_s)
        elif now >= self._next_retry:
            self._next_retry = None
            self.budget.resize(self.load_name, self._port_va(), source=SOURCE)
            self.budget.retry(self.load_name, source=SOURCE)

    def _arrived(self, info: UsbDeviceInfo) -> None:
        label = f"{info.path} {info.vendor_id:04x}:{info.product_id:04x}"
        try:
            parsed = parse_descriptors(info.device_descriptor, info.config_descriptor)
        except UsbDescriptorError as exc:
            self.bad_descriptors += 1
            self.devices[info.path] = UsbDevice(info, None, False, f"bad descriptor: {exc}")
            self._authorize(info.path, False)
            self._events.record("usb-bad-descriptor", source=SOURCE, severity=Severity.WARNING,
                                detail=f"{label} refused: {exc} ({info.descriptor_source} bytes)")
            return
        superspeed = None if info.speed is UsbSpeed.UNKNOWN else info.speed.is_superspeed
        declared = parsed.max_power_ma(superspeed)
        unit = ma_per_unit(superspeed, parsed.device.bcd_usb)
        dev = UsbDevice(info, declared, False, "")
        self.devices[info.path] = dev
        load = self.budget.load(self.load_name)
        if load is None or load.state is not LoadState.ON:
            self._refuse(dev, f"{label}: not powered: the USB port load is "
                         f"{'not admitted' if load is None else load.state.value}")
            return
        free = self.budget.headroom_va()
        dev.authorized = True
        admission = self.budget.resize(self.load_name, self._port_va(), source=SOURCE)
        what = (f"{label} declares {declared} mA (bMaxPower 0x{parsed.configuration.max_power:02x}"
                f" x {unit} mA, {info.speed.value} speed) = "
                f"{self.budget.usb_va(declared):.2f} VA")
        if not admission.ok:
            dev.authorized = False
            self._refuse(dev, f"{what}: not powered: only {free:.2f} VA free in the budget "
                         f"({admission.reason})")
            return
        self._authorize(info.path, True)
        self._events.record("usb-attach", source=SOURCE, detail=what)

    def _refuse(self, dev: UsbDevice, detail: str) -> None:
        dev.reason = detail
        self.refusals += 1
        self._authorize(dev.info.path, False)
        self._events.record("usb-refused", source=SOURCE, severity=Severity.WARNING, detail=detail)

    def _left(self, info: UsbDeviceInfo) -> None:
        dev = self.devices.pop(info.path, None)
        if dev is None:
            return
        if dev.authorized:
            self.budget.resize(self.load_name, self._port_va(), source=SOURCE)
        self._events.record("usb-detach", source=SOURCE,
                            detail=f"{info.path} {info.vendor_id:04x}:{info.product_id:04x} left")

    async def run(self, period_s: float = 1.0) -> None:
        while True:
            self.poll()
            await sleep(period_s)
