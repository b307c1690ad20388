"""A-route security material of one meter (suite 0): system title, EK, AK and the LLS password.

A real meter gets these at manufacture and the head-end receives them through the utility's key
management. In the emulator they come from the board's ``[aroute]`` section, or, when left
empty, are derived from the meter's serial number (emulation only: anyone who knows the serial
can derive them — never do this with real keys). ``tools/hes/cli.py`` derives them the same way for
emulated meters it discovers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

FLAG_ID = b"SUM"
"""3-letter manufacturer id at the start of our system titles (not a registered FLAG id)."""
HES_SYSTEM_TITLE = b"HES" + bytes.fromhex("0000000001")
"""System title of the head-end simulator (client side)."""


@dataclass(frozen=True)
class ARouteSecrets:
    """system_title: 8 bytes; ek / ak: 16-byte global unicast encryption / authentication keys;
    lls_password: password of the low-level-security (reader) association."""

    system_title: bytes
    ek: bytes
    ak: bytes
    lls_password: bytes


def _derived(what: str, serial: str, size: int) -> bytes:
    return hashlib.sha256(f"sumame a-route {what}|{serial}".encode()).digest()[:size]


def derived_secrets(serial: str) -> ARouteSecrets:
    """Emulation-only keys derived from the serial number."""
    return ARouteSecrets(system_title=FLAG_ID + _derived("system-title", serial, 5),
                         ek=_derived("ek", serial, 16), ak=_derived("ak", serial, 16),
                         lls_password=_derived("lls", serial, 6).hex().encode())


def secrets_from_board(serial: str, section: dict) -> ARouteSecrets:
    """Keys from ``[aroute]`` (hex ``ek``, ``ak``, ``system_title``; text ``lls_password``), each
    falling back to the derived value when empty."""
    d = derived_secrets(serial)
    return ARouteSecrets(
        system_title=bytes.fromhex(section["system_title"]) if section.get("system_title") else d.system_title,
        ek=bytes.fromhex(section["ek"]) if section.get("ek") else d.ek,
        ak=bytes.fromhex(section["ak"]) if section.get("ak") else d.ak,
        lls_password=section["lls_password"].encode() if section.get("lls_password") else d.lls_password)
