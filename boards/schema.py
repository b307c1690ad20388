"""Board-file schema: sections, keys, types, allowed values, defaults.

Every key a board file may contain is declared here (or by a later layer through
``register_section``). A wrong or missing key is reported with the file, the key and what is
allowed — never a Python traceback.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One board-file key. ``choices`` or ``check`` restrict values; ``doc`` explains units."""

    type: type | tuple[type, ...]
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        names = self.type.__name__ if isinstance(self.type, type) else "/".join(t.__name__ for t in self.type)
        return f"a {names}" + (f" ({self.doc})" if self.doc else "")


@dataclass
class Section:
    keys: dict[str, Key]
    doc: str = ""
    required: bool = False
    extra_keys: bool = False  # tables like [asic.profile_options] take free keys


def in_range(lo: float, hi: float, unit: str = "") -> Callable[[Any], str | None]:
    def check(v):
        return None if lo <= v <= hi else f"must be between {lo} and {hi}{unit}"
    return check


def matches(pattern: str, what: str) -> Callable[[Any], str | None]:
    regex = re.compile(pattern)

    def check(v):
        return None if regex.fullmatch(v) else f"must be {what}"
    return check


NUM = (int, float)
UNIT_CODES = {1.0: 0x00, 0.1: 0x01, 0.01: 0x02, 0.001: 0x03, 0.0001: 0x04,
              10.0: 0x0A, 100.0: 0x0B, 1000.0: 0x0C, 10000.0: 0x0D}

SECTIONS: dict[str, Section] = {
    "board": Section({
        "name": Key(str, doc="board name"),
        "description": Key(str, ""),
        "kind": Key(str, choices=("lv", "hv")),
    }, "what this board is", required=True),
    "identity": Section({
        "maker_code": Key(int, 0xFFFFFF, "3-byte ECHONET manufacturer code", check=in_range(0, 0xFFFFFF)),
        "serial": Key(str, "SUMAME000001", check=matches(r"[\x20-\x7e]{1,12}", "1-12 printable ASCII characters")),
        "route_b_id": Key(str, REQUIRED, check=matches(r"[0-9A-F]{32}", "32 upper-case hex digits")),
        "route_b_password": Key(str, REQUIRED, check=matches(r"[0-9A-Za-z]{12}", "12 letters or digits")),
        "supply_point": Key(str, REQUIRED, check=matches(r"[0-9]{22}", "22 digits (供給地点特定番号)")),
        "receiving_point": Key(str, "", "22-digit 受電地点特定番号 of sold generation, or empty",
                               check=matches(r"([0-9]{22})?", "22 digits (受電地点特定番号) or empty")),
    }, "who the meter is", required=True),
    "meter": Section({
        "wiring": Key(str, choices=("1p2w", "1p3w", "3p3w")),
        "unit_kwh": Key(NUM, 0.01, "kWh per register count (ECHONET E1)", choices=tuple(UNIT_CODES)),
        "coefficient": Key(int, 1, "ECHONET D3: VT x CT ratio", check=in_range(1, 999_999)),
        "multiplier_code": Key(int, 0, "HV D4: 0=1, 1=0.1, 2=0.01, 3=0.001", choices=(0, 1, 2, 3)),
        "digits": Key(int, 8, "significant digits of cumulative registers (D7)", check=in_range(1, 8)),
        "transmitted_interval_min": Key(int, 30, "soft switch: which interval is pushed", choices=(30, 15)),
        "rated_current_a": Key(NUM, 120, "A", check=in_range(1, 2000, " A")),
        "nominal_voltage_v": Key(NUM, 100, "V element to neutral", check=in_range(50, 500, " V")),
        "reverse_metering": Key(bool, True, "measures export (PV)"),
        "has_switch": Key(bool, True, "built-in breaker (LV only)"),
    }, "the meter's registers", required=True),
    "registers": Section({
        "days_30": Key(int, 100, "days of 30-minute values", check=in_range(1, 3650, " days")),
        "days_15": Key(int, 100, "days of 15-minute values", check=in_range(1, 3650, " days")),
        "days_5": Key(int, 10, "days of 5-minute values", check=in_range(1, 3650, " days")),
        "minutes_1": Key(int, 60, "minutes of 1-minute values", check=in_range(60, 1440, " minutes")),
    }, "retention"),
    "metering": Section({
        "poll_interval_s": Key(NUM, 1.0, "s between chip reads", check=in_range(0.05, 60, " s")),
        "present_interval_s": Key(NUM, 1.0, "s between voltage samples; power and current are read when asked, at most this old", check=in_range(0.05, 60, " s")),
    }, "metering task"),
    "asic": Section({
        "driver": Key(str, "emulated-atm90e32", choices=("emulated-atm90e32", "atm90e32", "emulated-hal")),
        "spi_bus": Key(int, 0, "spidev bus", check=in_range(0, 9)),
        "spi_device": Key(int, 0, "spidev chip select", check=in_range(0, 9)),
        "spi_speed_hz": Key(int, 200_000, "Hz", check=in_range(10_000, 1_000_000, " Hz")),
        "line_frequency_hz": Key(int, 50, "Hz", choices=(50, 60)),
        "meter_constant": Key(int, 1000, "imp/kWh", check=in_range(100, 100_000, " imp/kWh")),
        "ugain": Key(int, 0x7EAC, "Ugain register", check=in_range(0, 0xFFFF)),
        "igain_r": Key(int, 0xB5CB, "Igain A register", check=in_range(0, 0xFFFF)),
        "igain_t": Key(int, 0xB5CB, "Igain C register", check=in_range(0, 0xFFFF)),
        "current_scale": Key(NUM, 2.0, "front-end current divider", check=in_range(0.1, 100)),
        "pga_gain": Key(int, 1, "PGA gain of the current channels (MMode1)", choices=(1, 2, 4)),
        "sag_fraction": Key(NUM, 0.7, "sag alarm below this share of the nominal voltage",
                            check=in_range(0.1, 0.95)),
        "emulated_gain_error": Key(NUM, 0.0, "emulated chip only: how far the board's true gains are "
                                              "from ugain/igain (0.03 = readings 3 % low until "
                                              "`sumame calibrate`)", check=in_range(-0.5, 0.5)),
        "irq_pin": Key(int, -1, "BCM pin wired to the chip's IRQ0 output; -1 = not wired (polled)",
                       check=in_range(-1, 53)),
        "profile": Key(str, "residential", "built-in profile name or CSV path"),
        "seed": Key(int, 1, "seed of the load profile"),
        "profile_options": Key(dict, {}, "keyword options of the profile (e.g. pv_kw, base_w)"),
    }, "metering chip"),
    "storage": Section({
        "driver": Key(str, "emulated-flash", choices=("emulated-flash", "file", "compact-nvm")),
        "path": Key(str, "", "file or MTD device of the 'file' driver (e.g. /var/lib/sumame/flash.bin, "
                             "/dev/mtd0); empty = flash.bin in the state directory"),
        "page_size": Key(int, 4096, "bytes", choices=(256, 512, 1024, 2048, 4096, 8192)),
        "page_count": Key(int, 512, "pages", check=in_range(16, 65536, " pages")),
        "endurance": Key(int, 100_000, "erase cycles per page", check=in_range(100, 10_000_000)),
        "device_key": Key(str, "", "hex HMAC key; empty = derived from the serial (emulation only)",
                          check=matches(r"([0-9a-fA-F]{32,128})?", "empty or 32-128 hex digits")),
        "scrub_interval_s": Key(NUM, 60.0, "s between background page checks", check=in_range(1, 86400, " s")),
        "counter": Key(str, "none", "monotonic counter that detects a rolled-back flash image",
                       choices=("none", "emulated-rtc-backup")),
    }, "non-volatile memory"),
    "rtc": Section({
        "driver": Key(str, "emulated", choices=("emulated", "system")),
    }, "real-time clock"),
    "power": Section({
        "source": Key(str, "mains", choices=("mains", "instrument-transformer")),
        "capacity_va": Key(NUM, 30.0, "VA the source can deliver", check=in_range(1, 1000, " VA")),
        "core_draw_va": Key(NUM, 2.0, "VA used by the meter core incl. cable", check=in_range(0, 1000, " VA")),
        "hold_up_j": Key(NUM, 0.0, "J stored for a last gasp (supercapacitor)", check=in_range(0, 10000, " J")),
    }, "power supply"),
    "breaker": Section({
        "limit_a": Key(int, 30, "contract amperes at first boot (10/15/20/30/40/50/60 or an extra step)",
                       check=in_range(1, 120, " A")),
        "extra_steps_a": Key(list, [], "further remote limit steps this meter allows (each <= 120 A)",
                             check=lambda v: None if all(isinstance(x, int) and 0 < x <= 120 for x in v)
                             else "must be a list of whole amperes between 1 and 120"),
        "reclose_delay_s": Key(NUM, 15.0, "s before automatic reclose", check=in_range(1, 600, " s")),
        "lockout_trips": Key(int, 8, "trips within the window that stop auto-reclose", check=in_range(1, 100)),
        "lockout_window_s": Key(NUM, 600.0, "s", check=in_range(1, 86400, " s")),
    }, "contract breaker (LV)"),
    "relay": Section({
        "driver": Key(str, "emulated", choices=("emulated", "gpio")),
        "set_pin": Key(int, 17, "BCM pin of the set (close) coil", check=in_range(0, 53)),
        "reset_pin": Key(int, 27, "BCM pin of the reset (open) coil", check=in_range(0, 53)),
        "sense_pin": Key(int, 22, "BCM pin of the auxiliary contact", check=in_range(0, 53)),
        "pulse_ms": Key(NUM, 50, "coil pulse width, ms", check=in_range(1, 1000, " ms")),
        "settle_ms": Key(NUM, 20, "wait after a pulse before the contact is read, ms",
                         check=in_range(0, 1000, " ms")),
        "aux_closed_level": Key(str, "high", "auxiliary contact level when the main contact is closed",
                                choices=("high", "low")),
        "aux_pull": Key(str, "down", "internal pull on the auxiliary-contact input (coil driver "
                                     "inputs need hardware pull-downs)", choices=("up", "down")),
    }, "latching relay of the switch"),
    "comms": Section({
        "units": Key(list, ["lv-next-gen"], "comms units inserted at boot (emulated catalogue names); "
                                            "default lv-next-gen, hv-next-gen on an HV board",
                     check=lambda v: None if all(isinstance(x, str) for x in v) else "must be a list of names"),
    }, "swappable comms units"),
    "usb": Section({
        "enabled": Key(bool, True, "the meter has a customer USB port"),
        "driver": Key(str, "emulated", choices=("emulated", "pyusb")),
        "port_path": Key(str, "", "pyusb: the customer socket's USB path (e.g. '1-1.3'); only devices "
                                  "there count against the budget; empty = every non-hub device"),
        "devices": Key(list, [], "emulated devices plugged at boot (catalogue names)",
                       check=lambda v: None if all(isinstance(x, str) for x in v) else "must be a list of names"),
    }, "customer USB port"),
    "broute": Section({
        "enabled": Key(bool, True, "serve the ECHONET Lite B-route"),
        "serve_ip": Key(bool, True, "open UDP sockets; false: the in-process medium of virtual-time runs"),
        "ip": Key(list, ["127.0.0.1"], "addresses the IP B-route serves on (Wi-Fi / Ethernet)",
                  check=lambda v: None if v and all(isinstance(x, str) for x in v) else "must list addresses"),
        "port": Key(int, 3610, "UDP port", check=in_range(1, 65535)),
        "multicast": Key(bool, False, "join 224.0.23.0 / ff02::1"),
        "announce": Key(str, "inf", "fixed-time announcements as INF or INFC", choices=("inf", "infc")),
        "announce_delay_s": Key(NUM, 20.0, "s after each :00/:30 before EA/EB are announced (< 300)",
                                check=in_range(0, 299, " s")),
        "max_clients": Key(int, 3, "home devices across all B-route media", check=in_range(1, 32)),
        "rate_per_s": Key(NUM, 2.0, "frames per second per client", check=in_range(0.01, 1000)),
        "burst": Key(NUM, 20.0, "frames a client may send back to back", check=in_range(1, 10000)),
        "property_set": Key(str, "full", "EPCs the meter object serves: full, standard, mra-required, "
                                         "field-release-f (LV only); see README 'Property sets'",
                            choices=("full", "standard", "mra-required", "field-release-f")),
        "product_code": Key(str, "", "0x8C product code, up to 12 ASCII characters (empty: SUMAME-LV/-HV)",
                            check=matches(r"[\x20-\x7e]{0,12}", "0-12 printable ASCII characters")),
        "production_date": Key(str, "2024-04-01", "0x8E production date YYYY-MM-DD",
                               check=matches(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", "a date YYYY-MM-DD")),
        "facility_code": Key(int, 0, "0x8B business facility code (3 bytes)", check=in_range(0, 0xFFFFFF)),
    }, "B-route (home side)"),
    "wisun": Section({
        "enabled": Key(bool, True, "the meter has a route-B Wi-SUN dongle"),
        "port": Key(str, "emulated", "serial port of the meter's dongle (e.g. /dev/ttyUSB0), 'auto' "
                                     "(found by USB ID, see drivers/dongle_discovery.py) or "
                                     "'emulated' (an emulated dongle on a pty, `sumame emulate`)"),
        "dialect": Key(str, "auto", "SKSTACK dialect of a real dongle; 'auto' = from its EINFO",
                       choices=("auto", "se", "c2")),
        "serial_number": Key(str, "", "with port = 'auto': only the dongle with this USB serial number"),
        "channel": Key(int, 0, "channel 33-60; 0 = derived from the dongle's MAC",
                       check=lambda v: None if v == 0 or 33 <= v <= 60 else "must be 0 or 33..60"),
        "pan_id": Key(int, -1, "PAN ID 0..0xFFFE; -1 = low 16 bits of the dongle's MAC",
                      check=in_range(-1, 0xFFFE)),
        "lifetime_s": Key(int, 86400, "PANA session lifetime, s", check=in_range(60, 7 * 86400, " s")),
    }, "route-B Wi-SUN (B-route over 920 MHz)"),
    "aroute": Section({
        "enabled": Key(bool, True, "serve the DLMS/COSEM A-route (on a comms unit with the a-route medium)"),
        "serve_ip": Key(bool, True, "open TCP/UDP sockets; false: the in-process network of virtual-time runs"),
        "ip": Key(str, "127.0.0.1", "address the A-route listens on"),
        "port": Key(int, 4059, "TCP port of the DLMS wrapper (0 = any free port)", check=in_range(0, 65535)),
        "udp": Key(bool, True, "also serve DLMS wrapper datagrams on the same UDP port"),
        "hdlc_port": Key(int, 0, "TCP port carrying HDLC frames (0 = off)", check=in_range(0, 65535)),
        "address": Key(str, "", "address on the in-process network of virtual-time runs (default: serial)"),
        "hes": Key(str, "127.0.0.1:4060", "head-end address the pushes go to (host:port)"),
        "push_transport": Key(str, "tcp", "how pushes travel", choices=("tcp", "udp", "none")),
        "push_entries": Key(int, 2, "rows of the transmitted profile in each push", check=in_range(1, 48)),
        "push_delay_s": Key(NUM, 5.0, "s after the boundary before pushing", check=in_range(1, 1800, " s")),
        "push_randomisation_s": Key(NUM, 0.0, "spread of the push time over meters, s",
                                    check=in_range(0, 1800, " s")),
        "push_retries": Key(int, 2, "retries of an undelivered push (TCP)", check=in_range(0, 10)),
        "push_retry_delay_s": Key(NUM, 60.0, "s between push retries", check=in_range(1, 3600, " s")),
        "ciphered": Key(bool, True, "head-end association ciphered (and pushes general-glo-ciphered)"),
        "max_pdu": Key(int, 1024, "largest APDU the meter accepts, bytes", check=in_range(64, 65535)),
        "latency_ms": Key(NUM, 0.0, "one-way latency added by the emulated medium, ms", check=in_range(0, 60000, " ms")),
        "jitter_ms": Key(NUM, 0.0, "random extra latency, ms", check=in_range(0, 60000, " ms")),
        "loss": Key(NUM, 0.0, "datagram loss probability of the emulated medium", check=in_range(0, 0.99)),
        "seed": Key(int, 1, "seed of the medium's loss and jitter"),
        "system_title": Key(str, "", "hex 8-byte system title; empty = derived (emulation only)",
                            check=matches(r"([0-9a-fA-F]{16})?", "empty or 16 hex digits")),
        "ek": Key(str, "", "hex AES-128 encryption key; empty = derived (emulation only)",
                  check=matches(r"([0-9a-fA-F]{32})?", "empty or 32 hex digits")),
        "ak": Key(str, "", "hex AES-128 authentication key; empty = derived (emulation only)",
                  check=matches(r"([0-9a-fA-F]{32})?", "empty or 32 hex digits")),
        "kek": Key(str, "", "hex AES-128 master key (KEK) wrapping renewed keys; empty = derived (emulation only)",
                   check=matches(r"([0-9a-fA-F]{32})?", "empty or 32 hex digits")),
        "lls_password": Key(str, "", "password of the reader association; empty = derived (emulation only)",
                            check=matches(r"[\x20-\x7e]{0,32}", "up to 32 printable ASCII characters")),
    }, "A-route (utility head-end, DLMS/COSEM)"),
    "wifi": Section({
        "ssid": Key(str, "sumame-home", "home network the meter joins (Wi-Fi B-route)"),
        "security": Key(str, "wpa2", "security of the emulated access point",
                        choices=("open", "wep", "wpa", "wpa2", "wpa3")),
        "passphrase": Key(str, "sumame-home-passphrase", "WPA passphrase"),
    }, "home Wi-Fi (LV B-route)"),
    "firmware": Section({
        "enabled": Key(bool, True, "code flash with A/B image slots and the bootloader (sumame emulate/simulate)"),
        "page_size": Key(int, 4096, "bytes per code flash page", choices=(1024, 2048, 4096, 8192)),
        "slot_pages": Key(int, 128, "pages per image slot (the last one holds the transfer bitmap)",
                          check=in_range(4, 4096, " pages")),
        "block_size": Key(int, 512, "DLMS image_block_size, bytes", check=in_range(16, 4096, " bytes")),
        "release_keys": Key(list, [], "hex raw Ed25519 public keys of the utility's release signers; "
                                      "empty = the emulation release key (emulation only)",
                            check=lambda v: None if len(v) <= 8 and all(
                                isinstance(x, str) and re.fullmatch(r"[0-9a-fA-F]{64}", x) for x in v)
                            else "must list at most 8 keys of 64 hex digits"),
    }, "firmware images and updates"),
    "iot": Section({
        "enabled": Key(bool, False, "run the IoT route (Wi-SUN Enhanced HAN to gas/water terminals)"),
        "max_devices": Key(int, 10, "IoT metering devices (gas/water) admitted at a time", check=in_range(1, 64)),
        "max_relays": Key(int, 2, "relays admitted at a time (not counted in max_devices)", check=in_range(0, 16)),
        "max_special": Key(int, 4, "special-meter terminals admitted at a time (counted in max_devices; "
                                   "about 4 per meter, reference/iot-route.md §1.5 ⑬)", check=in_range(0, 10)),
        "max_hops": Key(int, 2, "hops to the meter (standard Enhanced HAN: one relay = 2)", check=in_range(1, 8)),
        "clock_tolerance_s": Key(NUM, 60.0, "terminal clock error logged when corrected, s", check=in_range(1, 86400, " s")),
        "uplink_gap_s": Key(NUM, 1.0, "s between IoT pushes to the head-end", check=in_range(0.01, 600, " s")),
        "rate_per_s": Key(NUM, 0.5, "messages per second a terminal may send (burst 30)", check=in_range(0.01, 100)),
        "terminals": Key(list, [], "allow-list: inline tables {mac, id, psk, kind = gas|water|special|relay}"
                                           " (special: + special_id, 14 hex = the meter's 0x028E D1)",
                         check=lambda v: None if all(isinstance(x, dict) and {"mac", "id", "psk"} <= set(x) for x in v)
                         else "must be tables with mac, id and psk"),
        "emulated_gas": Key(int, 0, "emulated gas terminals `sumame emulate` adds (0-10)", check=in_range(0, 10)),
        "emulated_water": Key(int, 0, "emulated water terminals `sumame emulate` adds (0-10)", check=in_range(0, 10)),
        "relay_share": Key(NUM, 0.34, "share of emulated terminals placed behind the relay", check=in_range(0, 1)),
        "seed": Key(int, 1, "seed of the emulated terminals' placement, loss and flows"),
    }, "IoT route (Enhanced HAN joint reading of gas and water meters)"),
    "extsec": Section({
        "enabled": Key(bool, True, "log every external frame, monitor anomalies, head-end cut-off (firmware/security)"),
        "rate_limit_per_s": Key(NUM, 5.0, "frames/s from one external peer above which an alarm is raised",
                                check=in_range(0.01, 10000, " /s")),
        "rate_window_s": Key(NUM, 10.0, "window of the frame-rate measurement, s", check=in_range(1, 3600, " s")),
        "auth_failures": Key(int, 3, "authentication failures of one peer within auth_window_s that raise an alarm",
                             check=in_range(1, 1000)),
        "auth_window_s": Key(NUM, 300.0, "window of the authentication-failure count, s", check=in_range(1, 86400, " s")),
        "known_peers": Key(list, [], "expected B-route peers, e.g. 'ip:192.168.1.20' (empty: any admitted peer)",
                           check=lambda v: None if all(isinstance(x, str) and ":" in x for x in v)
                           else "must be strings 'medium:address'"),
        "alarm_hold_s": Key(NUM, 600.0, "one alarm of a kind per peer per hold, s", check=in_range(0, 86400, " s")),
        "flush_s": Key(NUM, 5.0, "s between flash writes of the log batch (lost at a power cut at most)",
                       check=in_range(0.1, 3600, " s")),
        "flush_entries": Key(int, 64, "log entries per flash record", check=in_range(1, 64)),
        "ram_entries": Key(int, 4000, "newest log entries kept in RAM for the head-end", check=in_range(16, 100000)),
    }, "external-connection security: log, anomaly alarms, cut-off of IoT / B-route peers"),
    "quirks": Section({
        "profiles": Key(list, [], "field-quirk profiles on from boot, 'NAME[:k=v,...]' "
                                  "(drivers/emulated/quirks; emulated boards only)",
                        check=lambda v: None if all(isinstance(x, str) for x in v) else "must be a list of strings"),
        "preset": Key(str, "", "a set of profiles (e.g. kansai-meter, weak-link, flaky-dongle)"),
    }, "field quirks of real meters and dongles (off unless listed)"),
    "watchdog": Section({
        "budget_ms": Key(NUM, 250, "ms a task may run without yielding", check=in_range(1, 60000, " ms")),
    }, "task watchdog"),
}


def register_section(name: str, section: Section) -> None:
    """Let a later layer (routes, breaker, comms) declare its board section."""
    SECTIONS[name] = section


@dataclass
class BoardErrors(Exception):
    path: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.path}: invalid board file:\n  " + "\n  ".join(self.problems)


def validate(path: str, data: dict) -> dict[str, dict[str, Any]]:
    """Check ``data`` (parsed TOML) and fill defaults; raises BoardErrors listing every problem."""
    problems: list[str] = []
    out: dict[str, dict[str, Any]] = {}
    for section_name in data:
        if section_name not in SECTIONS:
            problems.append(f"[{section_name}]: unknown section; allowed: "
                            + ", ".join(f"[{s}]" for s in SECTIONS))
    for section_name, section in SECTIONS.items():
        given = data.get(section_name)
        if given is None:
            if section.required:
                problems.append(f"[{section_name}]: missing section ({section.doc})")
            given = {}
        if not isinstance(given, dict):
            problems.append(f"{section_name}: must be a table [{section_name}]")
            continue
        values: dict[str, Any] = {}
        for key_name in given:
            if key_name not in section.keys and not section.extra_keys:
                problems.append(f"[{section_name}] {key_name}: unknown key; allowed: "
                                + ", ".join(section.keys))
        for key_name, key in section.keys.items():
            where = f"[{section_name}] {key_name}"
            if key_name not in given:
                if key.default is REQUIRED:
                    problems.append(f"{where}: missing; expected {key.allowed()}")
                else:
                    values[key_name] = key.default
                continue
            value = given[key_name]
            if isinstance(value, bool) and key.type in (int, NUM, float):
                problems.append(f"{where}: {value!r} is not {key.allowed()}")
                continue
            if not isinstance(value, key.type):
                problems.append(f"{where}: {value!r} is not {key.allowed()}")
                continue
            if key.choices is not None and value not in key.choices:
                problems.append(f"{where}: {value!r} is not allowed; expected {key.allowed()}")
                continue
            if key.check is not None:
                why = key.check(value)
                if why:
                    problems.append(f"{where}: {value!r} {why}")
                    continue
            values[key_name] = value
        for key_name in given:
            if section.extra_keys and key_name not in section.keys:
                values[key_name] = given[key_name]
        out[section_name] = values
    if out.get("board", {}).get("kind") == "hv" and "units" not in (data.get("comms") or {}):
        out["comms"]["units"] = ["hv-next-gen"]   # an HV meter's own unit, not the LV one (seed 002)
    if out.get("board", {}).get("kind") == "hv" and out.get("broute", {}).get("property_set") == "field-release-f":
        problems.append("[broute] property_set: 'field-release-f' is an LV (0x0288) set; an HV board "
                        "takes full, standard or mra-required")
    if problems:
        raise BoardErrors(path, problems)
    return out
