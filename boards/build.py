"""Turn a validated board description into firmware configuration and driver instances."""
from __future__ import annotations

import hashlib
from collections import ChainMap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sumame.firmware.app import MeterConfig
from sumame.firmware.metrology.metering import MeteringConfig
from sumame.firmware.metrology.readings import MeterIdentity, RegisterScaling
from sumame.firmware.metrology.registers import Retention
from sumame.hal import Hardware, PowerSource
from sumame.hal.errors import DeviceNotFound

from .schema import UNIT_CODES

EMULATION_RELEASE_SEED = b"sumame emulation release key - NOT A PRODUCTION KEY"
"""Seed of the Ed25519 key that signs the emulator's own images when a board names no release
key. Public on purpose: an emulation convenience, never a utility's release key."""


def emulation_release_key():
    """The emulation release signing key (Ed25519PrivateKey) — emulation only."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(EMULATION_RELEASE_SEED).digest())


@dataclass
class BuiltBoard:
    """Hardware plus handles on the emulated parts (for fault injection and display)."""

    hardware: Hardware
    emulated: dict[str, Any] = field(default_factory=dict)


class Board:
    def __init__(self, path: Path, values: dict[str, dict[str, Any]]):
        self.path = path
        self.values = values if isinstance(values, ChainMap) else ChainMap({}, values)
        self.name = values["board"]["name"]
        self.kind = values["board"]["kind"]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    # ------------------------------------------------------------------ firmware side
    def device_key(self) -> bytes:
        key = self["storage"]["device_key"]
        if key:
            return bytes.fromhex(key)
        ident = self["identity"]
        seed = f"sumame emulated device key|{ident['serial']}|{ident['route_b_id']}".encode()
        return hashlib.sha256(seed).digest()

    def release_keys(self) -> tuple[bytes, ...]:
        """Raw Ed25519 public keys the meter is provisioned with (board, or the emulation key)."""
        keys = self["firmware"]["release_keys"]
        if keys:
            return tuple(bytes.fromhex(k) for k in keys)
        return (emulation_release_key().public_key().public_bytes_raw(),)

    def meter_config(self) -> MeterConfig:
        m, ident = self["meter"], self["identity"]
        identity = MeterIdentity(
            kind=self.kind, wiring=m["wiring"], maker_code=ident["maker_code"], serial=ident["serial"],
            route_b_id=ident["route_b_id"], supply_point=ident["supply_point"],
            receiving_point=ident["receiving_point"],
            has_switch=self.kind == "lv" and m["has_switch"], has_reverse=m["reverse_metering"])
        scaling = RegisterScaling(
            unit_kwh=float(m["unit_kwh"]), unit_code=UNIT_CODES[float(m["unit_kwh"])],
            coefficient=m["coefficient"], multiplier_code=m["multiplier_code"], digits=m["digits"])
        r = self["registers"]
        return MeterConfig(
            identity=identity, scaling=scaling, device_key=self.device_key(),
            metering=MeteringConfig(self["metering"]["poll_interval_s"], self["metering"]["present_interval_s"]),
            retention=Retention(r["days_30"], r["days_15"], r["days_5"], r["minutes_1"]),
            transmitted_interval_min=m["transmitted_interval_min"],
            watchdog_budget_s=self["watchdog"]["budget_ms"] / 1000,
            scrub_interval_s=self["storage"]["scrub_interval_s"],
            options=self.values.new_child(),   # own writes, the board's sections shared (boards/__init__.py)
        )

    # ------------------------------------------------------------------ driver side
    def build(self, clock, state_dir: Path | None, *, profile: str | None = None,
              seed: int | None = None, record_flash_ops: bool = False,
              code_flash: bool = False) -> BuiltBoard:
        """Instantiate the drivers. ``state_dir`` holds the flash image (None = RAM only).
        ``code_flash``: also the code flash with the A/B image slots (``[firmware]``), blank —
        the factory programs it (tools/firmware_image.py)."""
        emulated: dict[str, Any] = {}
        asic = self._build_asic(clock, emulated, profile, seed)
        nvm = self._build_storage(state_dir, emulated, record_flash_ops)
        fw = self["firmware"]
        extras = {}
        if code_flash and fw["enabled"]:
            from sumame.drivers.emulated.storage.flash import EmulatedFlash
            from sumame.firmware.lifecycle.slots import CONTROL_PAGES

            code_path = None if state_dir is None else Path(state_dir) / "code.bin"
            emulated["code_flash"] = extras["code_nvm"] = EmulatedFlash(
                code_path, page_size=fw["page_size"], page_count=CONTROL_PAGES + 2 * fw["slot_pages"],
                endurance=self["storage"]["endurance"], record_ops=record_flash_ops)
        st = self["storage"]
        counter = None
        if st["counter"] == "emulated-rtc-backup":
            from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
            counter = emulated["counter"] = EmulatedBackupCounter(
                None if state_dir is None else Path(state_dir) / "counter.bin")
        if self["rtc"]["driver"] == "system":
            from sumame.drivers.system_rtc import SystemRtc
            rtc = SystemRtc()
        else:
            from sumame.drivers.emulated.rtc import EmulatedRtc
            rtc = emulated["rtc"] = EmulatedRtc(clock)
        p = self["power"]
        from sumame.drivers.emulated.power import EmulatedPowerSupply

        power = emulated["power"] = EmulatedPowerSupply(
            PowerSource(p["source"], p["capacity_va"], p["core_draw_va"], p["hold_up_j"]), clock)
        hardware = Hardware(asic=asic, nvm=nvm, rtc=rtc, power=power,
                            relay=self._build_relay(emulated, state_dir), comms=self._build_comms(emulated))
        hardware.extras.update(extras)
        if counter is not None:
            hardware.extras["monotonic_counter"] = counter
        self._build_usb(hardware, emulated)
        self._build_wifi(hardware, emulated)
        self._build_wisun(hardware, clock)
        if "asic_irq_line" in emulated:   # a real part, handed to the tools' IRQ task
            hardware.extras["asic_irq_line"] = emulated.pop("asic_irq_line")
        built = BuiltBoard(hardware, emulated)
        chip = emulated.get("chip")
        if chip is not None:
            relay = emulated.get("relay")
            if relay is not None:
                chip.load_connected = lambda: relay.load_connected
                relay.before_move.append(chip.sync)
            if chip is not asic:   # the HAL-level chip wires its own IRQ to its handler
                chip.irq = lambda state0, state1: asic.handle_irq()  # the chip's IRQ pin to the driver
        return built

    def _build_storage(self, state_dir: Path | None, emulated: dict, record_ops: bool):
        st = self["storage"]
        if st["driver"] == "file":
            from sumame.drivers.file_nvm import FileNvm

            path = st["path"] or (None if state_dir is None else str(Path(state_dir) / "flash.bin"))
            if path is None:
                raise DeviceNotFound("[storage] driver = 'file' needs [storage] path or a state directory")
            return FileNvm(path, page_size=st["page_size"], page_count=st["page_count"])
        if st["driver"] == "compact-nvm":   # fleet fidelity: pages in a shared file arena
            from sumame.drivers.emulated.storage.compact_nvm import CompactNvm, NvmArena

            arena = None if state_dir is None else NvmArena(Path(state_dir) / "flash.arena")
            nvm = emulated["flash"] = CompactNvm(page_size=st["page_size"], page_count=st["page_count"],
                                                 endurance=st["endurance"], arena=arena,
                                                 reopen=arena is not None)   # a restart keeps the flash
            return nvm
        from sumame.drivers.emulated.storage.flash import EmulatedFlash

        flash_path = None if state_dir is None else Path(state_dir) / "flash.bin"
        nvm = emulated["flash"] = EmulatedFlash(flash_path, page_size=st["page_size"],
                                                page_count=st["page_count"], endurance=st["endurance"],
                                                record_ops=record_ops)
        return nvm

    def _build_relay(self, emulated: dict, state_dir: Path | None = None):
        if self.kind != "lv" or not self["meter"]["has_switch"]:
            return None
        r = self["relay"]
        if r["driver"] == "gpio":
            from sumame.drivers.gpio_relay import GpioLatchingRelay

            return GpioLatchingRelay(r["set_pin"], r["reset_pin"], r["sense_pin"], pulse_s=r["pulse_ms"] / 1000,
                                     settle_s=r["settle_ms"] / 1000,
                                     aux_closed_level=r["aux_closed_level"] == "high",
                                     aux_pull_up=r["aux_pull"] == "up")
        from sumame.drivers.emulated.relay import EmulatedRelay

        path = None if state_dir is None else Path(state_dir) / "relay.bin"   # the contact survives a restart
        relay = emulated["relay"] = EmulatedRelay(path=path)
        return relay

    def _build_comms(self, emulated: dict) -> list:
        from sumame.drivers.emulated.comms_unit import CATALOGUE

        units = []
        for name in self["comms"]["units"]:
            if name not in CATALOGUE:
                raise DeviceNotFound(f"[comms] units: unknown unit {name!r}; known: {', '.join(CATALOGUE)}")
            units.append(CATALOGUE[name]())
        emulated["comms_units"] = units
        return units

    def _build_usb(self, hardware: Hardware, emulated: dict) -> None:
        u = self["usb"]
        if not u["enabled"]:
            return
        if u["driver"] == "pyusb":
            from sumame.drivers.usb import PyUsbPort

            hardware.extras["usb_port"] = PyUsbPort(path_prefix=u["port_path"] or None)
            return
        from sumame.drivers.emulated.usb.devices import CATALOGUE
        from sumame.drivers.emulated.usb.port import EmulatedUsbPort

        port = emulated["usb_port"] = EmulatedUsbPort()
        for name in u["devices"]:
            if name not in CATALOGUE:
                raise DeviceNotFound(f"[usb] devices: unknown device {name!r}; known: {', '.join(CATALOGUE)}")
            port.plug(CATALOGUE[name]())
        hardware.extras["usb_port"] = port

    def _build_wisun(self, hardware: Hardware, clock) -> None:
        """A real route-B dongle on a serial port; 'emulated' is attached by the tools (it needs
        the virtual air and the HEMS-side dongle, see tools/emulate/wisun_setup.py)."""
        w = self["wisun"]
        if not w["enabled"] or w["port"] == "emulated":
            return
        from sumame.drivers.skstack import SkstackModem

        dialect = None if w["dialect"] == "auto" else w["dialect"]

        def open_modem():
            port = w["port"]
            if port == "auto":   # found again at every (re)open: the dongle may come back elsewhere
                from sumame.drivers.dongle_discovery import find_dongle, probe_skstack

                port = find_dongle(serial_number=w["serial_number"], probe=probe_skstack).device
            return SkstackModem(port, clock=clock.now, dialect=dialect)
        hardware.extras["wisun_modem"] = open_modem

    def _build_wifi(self, hardware: Hardware, emulated: dict) -> None:
        if self.kind != "lv" or not self["broute"]["enabled"]:
            return
        from sumame.drivers.emulated.wifi_ap import EmulatedAccessPoint, EmulatedWifiStation
        from sumame.hal.wifi import WifiSecurity

        w = self["wifi"]
        ap = emulated["access_point"] = EmulatedAccessPoint(
            w["ssid"], WifiSecurity(w["security"]), w["passphrase"], lease_address=self["broute"]["ip"][0],
            extra_addresses=tuple(self["broute"]["ip"][1:]))
        hardware.extras["wifi"] = emulated["wifi"] = EmulatedWifiStation([ap])

    def build_asic(self, clock, *, profile: str | None = None) -> tuple[Any, dict[str, Any]]:
        """Only the metering chip (calibration): (driver, emulated parts such as "chip")."""
        parts: dict[str, Any] = {}
        return self._build_asic(clock, parts, profile, None), parts

    def _build_asic(self, clock, emulated: dict, profile: str | None, seed: int | None):
        from sumame.drivers.atm90e32 import Atm90e32, Atm90e32Config

        a, m = self["asic"], self["meter"]
        config = Atm90e32Config(
            line_frequency_hz=a["line_frequency_hz"], meter_constant=a["meter_constant"],
            ugain=a["ugain"], igain_r=a["igain_r"], igain_t=a["igain_t"],
            current_scale=float(a["current_scale"]), two_wire=m["wiring"] == "1p2w",
            pga_gain=a["pga_gain"], sag_fraction=float(a["sag_fraction"]),
            rated_current_a=float(m["rated_current_a"]), nominal_voltage_v=float(m["nominal_voltage_v"]))
        if a["driver"] == "atm90e32":
            try:
                import spidev  # type: ignore[import-not-found]
            except ImportError:
                raise DeviceNotFound("board asks for a real ATM90E32 but python 'spidev' is not installed "
                                     "(pip install spidev; Raspberry Pi only)") from None
            spi = spidev.SpiDev()
            try:
                spi.open(a["spi_bus"], a["spi_device"])
            except OSError as exc:
                raise DeviceNotFound(f"/dev/spidev{a['spi_bus']}.{a['spi_device']}: {exc.strerror}") from None
            spi.mode, spi.max_speed_hz = 3, a["spi_speed_hz"]
            asic = Atm90e32(spi, config)
            asic.irq_wired = a["irq_pin"] >= 0
            if a["irq_pin"] >= 0:
                from sumame.drivers.gpio_irq import GpioIrqLine

                emulated["asic_irq_line"] = GpioIrqLine(a["irq_pin"])
            return asic
        from sumame.drivers.emulated.metering.atm90e32 import Atm90e32Model, FrontEnd
        from sumame.drivers.emulated.profiles import make_profile
        from sumame.drivers.emulated.metering.spi import FakeSpiDev

        load = make_profile(profile or a["profile"], seed=a["seed"] if seed is None else seed,
                            start_epoch=clock.now(), **(a["profile_options"] if profile is None else {}))
        k = 1.0 + float(a["emulated_gain_error"])      # the board's true calibration constants
        front = FrontEnd(ugain=round(a["ugain"] * k), igain_a=round(a["igain_r"] * k),
                         igain_c=round(a["igain_t"] * k),
                         current_scale=float(a["current_scale"]),
                         line_frequency_hz=a["line_frequency_hz"], two_wire=m["wiring"] == "1p2w",
                         transformer_ratio=float(m["coefficient"]) * 10 ** -m["multiplier_code"])
        if a["driver"] == "emulated-hal":   # fleet fidelity: no SPI bus, same physics
            from sumame.drivers.emulated.metering.hal_asic import HalMeteringAsic

            chip = HalMeteringAsic(load, clock, front, config)
            emulated.update(chip=chip, profile=load)
            return chip
        chip = Atm90e32Model(load, clock, front)
        spi = FakeSpiDev(chip)
        spi.open(a["spi_bus"], a["spi_device"])
        emulated.update(chip=chip, spi=spi, profile=load)
        return Atm90e32(spi, config)
