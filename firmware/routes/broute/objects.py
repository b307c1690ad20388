"""ECHONET object base: a table of EPC getters/setters and the property maps derived from it.

A getter returns the EDT bytes, or None when the value cannot be given now (answered PDC=0).
A setter validates and applies an EDT, returning False to refuse it (range check failed).
Only EPCs registered with a setter are writable: the Set map *is* the home-side write whitelist.
"""
from __future__ import annotations

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

    @property
    def get_map(self) -> frozenset[int]:
        return frozenset(self._getters)

    @property
    def set_map(self) -> frozenset[int]:
        return frozenset(self._setters)

    @property
    def status_map(self) -> frozenset[int]:
        return frozenset(self._announce)


class DeviceObject(EchonetObject):
    """Device superclass properties (0x0000) carried by the meters.

    80 operation status (ON), 81 installation location (settable, volatile), 82 standard
    version (Release R), 83 identification number, 88 fault status (none), 8A maker code,
    8D production number, 97/98 current time/date (Get only: the clock is not settable from the
    home side), 9D/9E/9F property maps.
    """

    RELEASE = b"\x00\x00R\x00"

    def __init__(self, eoj: Eoj, readings):
        super().__init__(eoj)
        self.readings = readings
        ident = readings.identity
        self.location = b"\x00"
        self._add(0x80, lambda: b"\x30", announce=True)
        self._add(0x81, lambda: self.location, self._set_location, announce=True)
        self._add(0x82, lambda: self.RELEASE)
        self._add(0x83, lambda: identification_number(ident))
        self._add(0x88, lambda: b"\x42", announce=True)
        self._add(0x8A, lambda: ident.maker_code.to_bytes(3, "big"))
        self._add(0x8D, lambda: production_number(ident))
        self._add(0x97, lambda: edt.datetime7(readings.now())[4:6])
        self._add(0x98, lambda: edt.datetime7(readings.now())[:4])

    def _set_location(self, value: bytes) -> bool:
        """1-byte location code, or the 17-byte form whose first byte is 0x01."""
        if len(value) == 1 or (len(value) == 17 and value[0] == 0x01):
            self.location = value
            return True
        return False


def identification_number(ident) -> bytes:
    """0x83: 0xFE + 3-byte maker code + 13 bytes unique (the production number, NUL padded)."""
    unique = ident.serial.encode("ascii", "replace")[:13].ljust(13, b"\x00")
    return b"\xfe" + ident.maker_code.to_bytes(3, "big") + unique


def production_number(ident) -> bytes:
    """0x8D: 12 ASCII bytes, space padded."""
    return ident.serial.encode("ascii", "replace")[:12].ljust(12, b" ")
