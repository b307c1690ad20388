"""The SKSTACK dongle models the emulator can be (per-personality facts) and their registers.

Sources: reference skstack-ip.md §1, §2, §5, §14 (EVER strings, MAC prefixes, WOPT defaults,
RL7023 DSS without ROPT), S12 (a real RS-WSUHA-P answers RUART with ``OK 80``), S14b (a real
EVER 1.5.2 takes ``SKSCAN 2 FFFFFFFF 4 0 `` with a trailing space), S7 (1.2.10 firmware ends
EEDSCAN with an empty line). EAPPVER: only the BP35A1-class string (rev26e, S7) is public; the
C2 personalities report the same (unverified).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Personality:
    """name; dialect "se"/"c2"; EVER/EAPPVER strings; MAC prefix (4 octets hex);
    WOPT default (0 binary, 1 hex); whether ROPT/WOPT exist (RL7023 DSS: FAIL ER04);
    RUART factory value; whether a trailing space before CR LF is accepted (C2 class)."""

    name: str
    dialect: str
    version: str
    appver: str
    mac_prefix: str
    wopt_default: int
    ropt: bool = True
    ruart_default: int = 0x00
    trailing_space: bool = False
    edscan_blank_line: bool = False


PERSONALITIES = {
    "bp35a1": Personality("bp35a1", "se", "1.2.10", "rev26e", "001D1290", 0, edscan_blank_line=True),
    "bp35c2": Personality("bp35c2", "c2", "1.5.2", "rev26e", "001D1291", 0, ruart_default=0x80,
                          trailing_space=True),
    "rl7023-dss": Personality("rl7023-dss", "c2", "1.5.2", "rev26e", "001D1291", 1, ropt=False,
                              ruart_default=0x80, trailing_space=True),
}

# register number -> (default, ESREG hex width (0 = text), min, max, writable)
REGISTERS: dict[int, tuple] = {
    0x02: (0x21, 2, 0x21, 0x3C, True),
    0x03: (0xFFFF, 4, 0, 0xFFFF, True),
    0x07: (0, 8, 0, 0xFFFFFFFF, False),
    0x0A: ("CCDDEEFF", 0, None, None, True),
    0x15: (0, 1, 0, 1, True),
    0x16: (0x384, 8, 0x3C, 0xFFFFFFFF, True),
    0x17: (1, 1, 0, 1, True),
    0xA0: (1, 1, 0, 1, True),
    0xA1: (1, 1, 0, 1, True),
    0xA2: (0, 1, 0, 1, True),
    0xFB: (0, 1, 0, 1, False),
    0xFD: (0, 16, 0, 0, True),
    0xFE: (1, 1, 0, 1, True),
    0xFF: (0, 1, 0, 1, True),
}
_SAVED = (0x02, 0x03, 0xFF)
_ZERO_ARG = {"SKVER", "SKAPPVER", "SKINFO", "SKRESET", "SKSTART", "SKREJOIN", "SKTERM", "SKSAVE",
             "SKLOAD", "SKERASE", "ROPT", "RUART", "SKDSLEEP"}
