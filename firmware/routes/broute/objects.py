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

Getter = Callable[["EchonetObject"], "bytes | None"]
Setter = Callable[["EchonetObject", bytes], bool]

MAP_STATUS, MAP_SET, MAP_GET = 0x9D, 0x9E, 0x9F


class PropertyTable:
    """EPC -> getter(obj) / setter(obj, edt) and the announced EPCs.

    The tables of the meter objects are built once per class and variant and shared by every
    meter of the process (read-only: a meter's values live on the object, the table only says
    how to read them); an object that adds its own properties (``_add``) gets a private copy."""

    __slots__ = ("getters", "setters", "announce", "shared")

    def __init__(self, getters: dict[int, Getter], setters: dict[int, Setter], announce, shared: bool):
        self.getters, self.setters, self.announce, self.shared = getters, setters, set(announce), shared

    def copy(self, shared: bool = False) -> "PropertyTable":
        return PropertyTable(dict(self.getters), dict(self.setters), self.announce, shared)


_TABLES: dict[tuple, PropertyTable] = {}
_RESTRICTED: dict[tuple, PropertyTable] = {}
_RESTRICTED_MAX = 64


class EchonetObject:
    """An object of the node (node profile or device). Subclasses declare their properties in
    ``_properties(variant)`` (getters and setters take the object); ``_add`` adds one to this
    object alone (a closure, for objects that are not built by the thousand)."""

    def __init__(self, eoj: Eoj, variant=None):
        self.eoj = eoj
        self._table = self._table_for(variant)

    @classmethod
    def _table_for(cls, variant) -> PropertyTable:
        key = (cls, variant)
        table = _TABLES.get(key)
        if table is None:
            table = PropertyTable({}, {}, (), shared=True)
            for epc, get, put, announce in cls._properties(variant):
                if get is not None:
                    table.getters[epc] = get
                if put is not None:
                    table.setters[epc] = put
                if announce:
                    table.announce.add(epc)
            table = _TABLES[key] = table
        return table

    @classmethod
    def _properties(cls, variant):
        """(epc, getter(obj) | None, setter(obj, edt) | None, announced) of the class."""
        return [(MAP_STATUS, lambda o: encode_property_map(o._table.announce), None, False),
                (MAP_SET, lambda o: encode_property_map(o._table.setters), None, False),
                (MAP_GET, lambda o: encode_property_map(o._table.getters), None, False)]

    def _add(self, epc: int, get: Callable[[], "bytes | None"] | None = None,
             set: Callable[[bytes], bool] | None = None, announce: bool = False) -> None:
        if self._table.shared:
            self._table = self._table.copy()
        table = self._table
        if get is not None:
            table.getters[epc] = lambda _o, f=get: f()
        if set is not None:
            table.setters[epc] = lambda _o, value, f=set: f(value)
        if announce:
            table.announce.add(epc)

    # ---------------------------------------------------------------- access
    def get(self, epc: int) -> bytes | None:
        """EDT of ``epc`` or None (not in the Get map, or no value now)."""
        getter = self._table.getters.get(epc)
        return None if getter is None else getter(self)

    def set(self, epc: int, value: bytes) -> bool:
        """Apply a Set; False if ``epc`` is not settable or the value is out of range."""
        setter = self._table.setters.get(epc)
        return setter is not None and setter(self, bytes(value))

    def restrict(self, epcs) -> None:
        """Serve only ``epcs`` (plus the three property maps): the board's property set."""
        keep = frozenset(epcs) | {MAP_STATUS, MAP_SET, MAP_GET}
        table = self._table
        key = (table, keep) if table.shared else None
        restricted = _RESTRICTED.get(key) if key is not None else None
        if restricted is None:
            restricted = table.copy(shared=table.shared)
            for t in (restricted.getters, restricted.setters):
                for epc in [e for e in t if e not in keep]:
                    del t[epc]
            restricted.announce &= keep
            if key is not None:
                if len(_RESTRICTED) >= _RESTRICTED_MAX:
                    _RESTRICTED.pop(next(iter(_RESTRICTED)))
                _RESTRICTED[key] = restricted
        self._table = restricted

    @property
    def get_map(self) -> frozenset[int]:
        return frozenset(self._table.getters)

    @property
    def set_map(self) -> frozenset[int]:
        return frozenset(self._table.setters)

    @property
    def status_map(self) -> frozenset[int]:
        return frozenset(self._table.announce)


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

    def __init__(self, eoj: Eoj, readings, facts: DeviceFacts | None = None, variant=None):
        super().__init__(eoj, variant)
        self.readings = readings
        self.facts = facts or DeviceFacts()
        self.location = b"\x00"
        self.started_at = readings.now()

    @classmethod
    def _properties(cls, variant):
        return super()._properties(variant) + [
            (0x80, lambda o: b"\x30", None, True),
            (0x81, lambda o: o.location, lambda o, v: o._set_location(v), True),
            (0x82, lambda o: o.RELEASE, None, False),
            (0x83, lambda o: identification_number(o.readings.identity), None, False),
            (0x86, lambda o: maker_fault_code(o.readings.identity, o.fault), None, False),
            (0x88, lambda o: b"\x41" if o.fault else b"\x42", None, True),
            (0x89, lambda o: edt.u16(o.fault), None, False),
            (0x8A, lambda o: o.readings.identity.maker_code.to_bytes(3, "big"), None, False),
            (0x8B, lambda o: o.facts.facility_code.to_bytes(3, "big"), None, False),
            (0x8C, lambda o: o.product_code().encode("ascii", "replace")[:12].ljust(12, b"\x00"), None, False),
            (0x8D, lambda o: production_number(o.readings.identity), None, False),
            (0x8E, lambda o: production_date(o.facts.production_date), None, False),
            (0x8F, lambda o: b"\x42", None, False),
            (0x93, lambda o: b"\x41", None, False),
            (0x97, lambda o: edt.datetime7(o.readings.now())[4:6], None, False),
            (0x98, lambda o: edt.datetime7(o.readings.now())[:4], None, False),
            (0x9A, lambda o: o._operating_time(), None, False)]

    def product_code(self) -> str:
        """0x8C text: the board's product code, else SUMAME-LV / SUMAME-HV."""
        return self.facts.product_code or f"SUMAME-{self.readings.identity.kind.upper()}"

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
