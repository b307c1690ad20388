"""ECHONET object base: a table of EPC getters/setters and the property maps derived from it.

A getter returns the EDT bytes, or None when the value cannot be given now (answered PDC=0).
A setter validates and applies an EDT, returning False to refuse it (range check failed).
Only EPCs registered with a setter are writable: the Set map *is* the home-side write whitelist.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sumame.firmware.net.echonet import Eoj, encode_property_map

from . import edt

Getter = Callable[[], "bytes | None"]
Setter = Callable[[bytes], bool]

MAP_STATUS, MAP_SET, MAP_GET = 0x9D, 0x9E, 0x9F


class EchonetObject:
    """An object of the node (node profile or device). Subclasses register properties."""

    def __init__(self, eoj: Eoj):
        self.eoj = eoj
        self._getters: dict[int, Getter] = {}
        self._setters: dict[int, Setter] = {}
        self._announce: set[int] = set()
        self._add(MAP_STATUS, lambda: encode_property_map(self._announce))
        self._add(MAP_SET, lambda: encode_property_map(self._setters))
        self._add(MAP_GET, lambda: encode_property_map(self._getters))

    def _add(self, epc: int, get: Getter | None = None, set: Setter | None = None,
             announce: bool = False) -> None:
        if get is not None:
            self._getters[epc] = get
        if set is not None:
            self._setters[epc] = set
        if announce:
            self._announce.add(epc)

    # ---------------------------------------------------------------- access
    def get(self, epc: int) -> bytes | None:
        """EDT of ``epc`` or None (not in the Get map, or no value now)."""
        getter = self._getters.get(epc)
        return None if getter is None else getter()

    def set(self, epc: int, value: bytes) -> bool:
        """Apply a Set; False if ``epc`` is not settable or the value is out of range."""
        setter = self._setters.get(epc)
        return setter is not None and setter(bytes(value))

    def restrict(self, epcs) -> None:
        """Serve only ``epcs`` (plus the three property maps): the board's property set."""
        keep = set(epcs) | {MAP_STATUS, MAP_SET, MAP_GET}
        for table in (self._getters, self._setters):
            for epc in [e for e in table if e not in keep]:
                del table[epc]
        self._announce &= keep

    @property
    def get_map(self) -> frozenset[int]:
        return frozenset(self._getters)

    @property
    def set_map(self) -> frozenset[int]:
        return frozenset(self._setters)

    @property
    def status_map(self) -> frozenset[int]:
        return frozenset(self._announce)


@dataclass(frozen=True)
class DeviceFacts:
    """Maker facts a device object reports (board ``[broute]`` keys).

    product_code:     0x8C, up to 12 ASCII characters (NUL padded); "" = "SUMAME-LV"/"-HV"
    production_date:  0x8E, "YYYY-MM-DD"
    facility_code:    0x8B, 3-byte business facility code
    """

    product_code: str = ""
    production_date: str = "2024-04-01"
    facility_code: int = 0


class DeviceObject(EchonetObject):
    """Device superclass properties (0x0000) carried by the meters.

    80 operation status (ON), 81 installation location (settable, volatile), 82 standard
    version (Release R), 83 identification number, 86 maker fault code and 89 fault
    description (both "no fault", consistent with 88), 88 fault status (none), 8A maker code,
    8B business facility code, 8C product code, 8D production number, 8E production date,
    8F power saving (0x42 normal operation: the meter has no power-saving mode), 93 remote
    control setting (0x41: home-side access is not through a public network), 97/98 current
    time/date (Get only: the clock is not settable from the home side), 9A cumulative
    operating time (minutes since this boot: no operating-hour counter is kept in flash),
    9D/9E/9F property maps.

    Not served, on purpose: 84/85 (the device's own power consumption, which the meter does
    not measure; serving the metered load there would make a HEMS that sums appliance
    consumption count the house twice), 87/99 (an appliance's current/power limit; the
    meter's switch trips at the contract current the utility sets over the A-route).
    """

    RELEASE = b"\x00\x00R\x00"

    def __init__(self, eoj: Eoj, readings, facts: DeviceFacts | None = None):
        super().__init__(eoj)
        self.readings = readings
        ident = readings.identity
        facts = facts or DeviceFacts()
        self.location = b"\x00"
        self.started_at = readings.now()
        product = facts.product_code or f"SUMAME-{ident.kind.upper()}"
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x81, lambda: self.location, self._set_location, announce=True)
        self._add(0x82, lambda: self.RELEASE)
        self._add(0x83, lambda: identification_number(ident))
        self._add(0x86, lambda: maker_fault_code(ident, self.fault))
        self._add(0x88, lambda: b"\x41" if self.fault else b"\x42", announce=True)
        self._add(0x89, lambda: edt.u16(self.fault))
        self._add(0x8A, lambda: ident.maker_code.to_bytes(3, "big"))
        self._add(0x8B, lambda: facts.facility_code.to_bytes(3, "big"))
        self._add(0x8C, lambda: product.encode("ascii", "replace")[:12].ljust(12, b"\x00"))
        self._add(0x8D, lambda: production_number(ident))
        self._add(0x8E, lambda: production_date(facts.production_date))
        self._add(0x8F, lambda: b"\x42")
        self._add(0x93, lambda: b"\x41")
        self._add(0x97, lambda: edt.datetime7(readings.now())[4:6])
        self._add(0x98, lambda: edt.datetime7(readings.now())[:4])
        self._add(0x9A, self._operating_time)

    fault = 0
    """Fault description code (Appendix §2.5); 0 = no fault. 88, 89 and 86 follow it."""

    def _operating_time(self) -> bytes:
        minutes = max(0, int((self.readings.now() - self.started_at) // 60))
        return b"\x42" + min(minutes, 0xFFFFFFFF).to_bytes(4, "big")

    def _set_location(self, value: bytes) -> bool:
        """1-byte location code, or the 17-byte form whose first byte is 0x01."""
        if len(value) == 1 or (len(value) == 17 and value[0] == 0x01):
            self.location = value
            return True
        return False


def maker_fault_code(ident, fault: int) -> bytes:
    """0x86: data size, 3-byte maker code, then the maker's 2-byte fault code (0 = none)."""
    body = ident.maker_code.to_bytes(3, "big") + fault.to_bytes(2, "big")
    return bytes((len(body),)) + body


def production_date(text: str) -> bytes:
    """0x8E: YYYY(u16) MM DD from "YYYY-MM-DD"."""
    year, month, day = (int(x) for x in text.split("-"))
    return year.to_bytes(2, "big") + bytes((month, day))


def identification_number(ident) -> bytes:
    """0x83: 0xFE + 3-byte maker code + 13 bytes unique (the production number, NUL padded)."""
    unique = ident.serial.encode("ascii", "replace")[:13].ljust(13, b"\x00")
    return b"\xfe" + ident.maker_code.to_bytes(3, "big") + unique


def production_number(ident) -> bytes:
    """0x8D: 12 ASCII bytes, space padded."""
    return ident.serial.encode("ascii", "replace")[:12].ljust(12, b" ")
