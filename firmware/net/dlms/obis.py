"""OBIS logical names (A.B.C.D.E.F) and the codes this meter uses.

Sources are the project reference ``shared/reference/dlms-cosem.md`` §2.2 (OBIS table) and §5.4
(supply point number); "S"/"M" there marks how sure each code is.
"""
from __future__ import annotations

from typing import NamedTuple

from .errors import DecodeError


class Obis(NamedTuple):
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    @classmethod
    def parse(cls, text: str) -> "Obis":
        """'1.0.1.8.0.255' (also accepts '1-0:1.8.0*255' style separators)."""
        parts = text.replace("-", ".").replace(":", ".").replace("*", ".").split(".")
        if len(parts) != 6:
            raise ValueError(f"OBIS code needs 6 groups: {text!r}")
        values = tuple(int(p) for p in parts)
        if any(not 0 <= v <= 255 for v in values):
            raise ValueError(f"OBIS group out of 0..255: {text!r}")
        return cls(*values)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Obis":
        if len(raw) != 6:
            raise DecodeError(f"logical name must be 6 bytes, got {len(raw)}")
        return cls(*raw)

    def to_bytes(self) -> bytes:
        return bytes(self)

    def __str__(self) -> str:
        return ".".join(str(v) for v in self)


def obis(text: str) -> bytes:
    """6-byte logical name for ``text`` (the form APDUs carry)."""
    return Obis.parse(text).to_bytes()


def obis_str(raw: bytes) -> str:
    return ".".join(str(v) for v in raw)


# --- abstract objects (reference §2.1/§2.2)
CLOCK = obis("0.0.1.0.0.255")                      # class 8
CURRENT_ASSOCIATION = obis("0.0.40.0.0.255")       # class 15
SAP_ASSIGNMENT = obis("0.0.41.0.0.255")            # class 17
LOGICAL_DEVICE_NAME = obis("0.0.42.0.0.255")       # class 1
INVOCATION_COUNTER_MGMT = obis("0.0.43.1.0.255")   # class 1, server transmit IC (0.0.43.1.e.255)
PUSH_SETUP_INTERVAL = obis("0.0.25.9.0.255")       # class 40
DISCONNECT_CONTROL = obis("0.0.96.3.10.255")       # class 70
LIMITER = obis("0.0.17.0.0.255")                   # class 71
# Device ID 1 (manufacturing/serial number), class 1 (reference §2.2 "0.0.96.1.0.255").
DEVICE_ID = obis("0.0.96.1.0.255")
# The 22-digit supply point identification number (供給地点特定番号), class 1, visible-string(22).
# No Japanese assignment is public (reference §5.4, §7.4); we use the next device-ID slot,
# "Device ID 2" 0.0.96.1.1.255 (reference §2.2: "…96.1.1–9 more ids").
SUPPLY_POINT_NUMBER = obis("0.0.96.1.1.255")
# The 22-digit receiving point identification number (受電地点特定番号) of sold generation: no
# public assignment either; our choice is the next slot, "Device ID 3" 0.0.96.1.2.255.
RECEIVING_POINT_NUMBER = obis("0.0.96.1.2.255")

# --- electricity registers, class 3 (reference §2.2)
ACTIVE_ENERGY_IMPORT = obis("1.0.1.8.0.255")       # +A total, Wh
ACTIVE_ENERGY_EXPORT = obis("1.0.2.8.0.255")       # -A total, Wh
REACTIVE_ENERGY_IMPORT = obis("1.0.3.8.0.255")     # +R, varh
REACTIVE_ENERGY_EXPORT = obis("1.0.4.8.0.255")     # -R, varh
ACTIVE_POWER_IMPORT = obis("1.0.1.7.0.255")        # +P, W
ACTIVE_POWER_EXPORT = obis("1.0.2.7.0.255")        # -P, W
L1_CURRENT = obis("1.0.31.7.0.255")
L1_VOLTAGE = obis("1.0.32.7.0.255")
L2_CURRENT = obis("1.0.51.7.0.255")
L2_VOLTAGE = obis("1.0.52.7.0.255")
CURRENT_ANY_PHASE = obis("1.0.11.7.0.255")

# --- profiles, class 7
LOAD_PROFILE_1 = obis("1.0.99.1.0.255")            # recording period 1 (30 min)
LOAD_PROFILE_2 = obis("1.0.99.2.0.255")            # recording period 2 (15 or 5 min)
POWER_FAILURE_LOG = obis("1.0.99.97.0.255")
