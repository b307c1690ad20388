"""Which EPCs the meter object serves: the board key ``[broute] property_set``.

A real HEMS meets meters that serve different subsets of the MRA, so the emulator can serve:

* ``full``            every property sumame implements (LV 0x0288: 38 with reverse metering,
                      35 without; HV 0x028A: 42): the MRA's 42 LV EPCs less 84 85 87 99, which
                      ``objects.DeviceObject`` explains; it also says what each optional EPC carries.
* ``standard``        the set sumame served before property sets existed: MRA Release R
                      mandatory, conditional and the common optional ones, without the
                      superclass's optional EPCs 84-8C, 8E-9A except 8D 97 98.
* ``mra-required``    only what MRA Release R marks Get-required (and Get-conditional for
                      reverse metering): what a minimal conforming meter serves.
* ``field-release-f`` the 25 EPCs of a deployed Release-F LV meter as published in the
                      momonga README (reference §2.1): no C0 D0 EE EF, no 83 (LV only).

The property maps 9D/9E/9F always describe the served set exactly, and a Set to an EPC outside
it is refused like any EPC the object does not have.
"""
from __future__ import annotations

NAMES = ("full", "standard", "mra-required", "field-release-f")

MAPS = frozenset({0x9D, 0x9E, 0x9F})
SUPER_REQUIRED = frozenset({0x80, 0x81, 0x82, 0x88, 0x8A}) | MAPS
SUPER_STANDARD = SUPER_REQUIRED | {0x83, 0x8D, 0x97, 0x98}

LV_STANDARD = SUPER_STANDARD | {0xC0, 0xD0, 0xD3, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5,
                                0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF}
LV_REQUIRED = SUPER_REQUIRED | {0xC0, 0xD0, 0xD7, 0xE0, 0xE1, 0xE2, 0xE5, 0xE7, 0xE8, 0xEA,
                                0xEE, 0xEF, 0xE3, 0xE4, 0xEB}
"""MRA-R Get-required (+ C0 "required in Japan", + E3/E4/EB required with reverse metering)."""
LV_FIELD_F = frozenset({0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F,
                        0xD3, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA,
                        0xEB, 0xEC, 0xED})

HV_STANDARD = SUPER_STANDARD | {0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCC,
                                0xCD, 0xCE, 0xD3, 0xD4, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5,
                                0xE6, 0xE7}
HV_REQUIRED = SUPER_REQUIRED | {0xC1, 0xC3, 0xC4, 0xC5, 0xC6, 0xD3, 0xD4, 0xE0, 0xE1, 0xE2,
                                0xE3, 0xE5, 0xE6, 0xE7}
"""MRA-R Get-required of 0x028A (§3)."""


def allowed(name: str, kind: str) -> frozenset[int] | None:
    """EPCs of set ``name`` for a meter of ``kind`` ("lv"/"hv"); None = no restriction (full).
    Raises ValueError for an unknown name or a set that does not exist for that kind."""
    if name == "full":
        return None
    table = {("standard", "lv"): LV_STANDARD, ("mra-required", "lv"): LV_REQUIRED,
             ("field-release-f", "lv"): LV_FIELD_F,
             ("standard", "hv"): HV_STANDARD, ("mra-required", "hv"): HV_REQUIRED}
    if name not in NAMES:
        raise ValueError(f"unknown property set {name!r} (expected one of {', '.join(NAMES)})")
    if (name, kind) not in table:
        raise ValueError(f"property set {name!r} exists only for LV meters (0x0288)")
    return table[(name, kind)]
