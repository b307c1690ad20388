"""Find the route-B Wi-SUN dongle of a board with ``[wisun] port = "auto"``.

Candidates are the serial ports the OS lists (pyserial ``list_ports``: USB VID:PID, serial
number, product string), ranked by the table below; ``/dev/serial/by-id`` names are preferred
because they survive re-plugging. Each candidate can be probed with ``SKVER`` (a real dongle
answers ``EVER``), so a USB-serial adapter that is not a dongle is not taken for one.

The table lists what public material lets us say; where only the vendor or the bridge chip is
known, it says so (``confidence``), and the product string must then match too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable

from sumame.hal.errors import DeviceNotFound


@dataclass(frozen=True)
class KnownDongle:
    model: str
    dialect: str                # SKSTACK dialect it speaks by default: "se", "c2" or "j11"
    vid: int | None
    pid: int | None             # None = any product of that vendor
    product_hint: str           # substring of the USB product / description string
    confidence: str             # "id" (VID:PID published), "vendor" (vendor ID only), "string"
    source: str


KNOWN_DONGLES: tuple[KnownDongle, ...] = (
    KnownDongle("RATOC RS-WSUHA-P (BP35C2 inside)", "c2", 0x0584, None, "WSUHA", "vendor",
                "0x0584 is RATOC Systems' USB vendor ID (public udev rules for RATOC USB-serial "
                "adapters, e.g. 0584:b020); the dongle's product ID is not published"),
    KnownDongle("RATOC RS-WSUHA-J11 (BP35C0-J11 inside)", "j11", 0x0584, None, "J11", "vendor",
                "as above; binary J11 protocol (reference/skstack-ip.md §12)"),
    KnownDongle("Tessera RL7023 Stick-D/IPS", "se", None, None, "RL7023", "string",
                "product string; the USB bridge chip's IDs are not published by Tessera"),
    KnownDongle("Tessera RL7023 Stick-D/DSS", "c2", None, None, "DSS", "string",
                "product string (reference/skstack-ip.md: DSS is the dual-stack model)"),
    KnownDongle("ROHM BP35C2 USB dongle", "c2", None, None, "BP35C2", "string",
                "product string"),
    KnownDongle("ROHM BP35A1 on a USB-UART adapter", "se", None, None, "BP35A1", "string",
                "the module is UART-only; adapters vary, so only a product string identifies it"),
)


@dataclass(frozen=True)
class Candidate:
    device: str                 # path to open (by-id link when there is one)
    model: str
    dialect: str
    serial_number: str
    rank: int                   # 0 best


def _by_id_links(root: str = "/dev/serial/by-id") -> dict[str, str]:
    """Real device path -> its stable by-id link."""
    links = {}
    try:
        for name in os.listdir(root):
            link = os.path.join(root, name)
            links[os.path.realpath(link)] = link
    except OSError:
        pass
    return links


def _match(port) -> tuple[KnownDongle, int] | None:
    text = " ".join(filter(None, (getattr(port, "product", None), getattr(port, "description", None),
                                  getattr(port, "manufacturer", None)))).upper()
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    best = None
    for known in KNOWN_DONGLES:
        id_ok = known.vid is not None and vid == known.vid and (known.pid is None or pid == known.pid)
        hint_ok = known.product_hint.upper() in text
        rank = 0 if id_ok and known.pid is not None else 1 if id_ok and hint_ok else 2 if hint_ok else None
        if rank is not None and (best is None or rank < best[1]):
            best = (known, rank)
    return best


def candidates(ports: Iterable, *, serial_number: str = "", by_id: dict[str, str] | None = None) -> list[Candidate]:
    """Known dongles among ``ports`` (pyserial ListPortInfo-like), best first."""
    by_id = _by_id_links() if by_id is None else by_id
    found = []
    for port in ports:
        if serial_number and getattr(port, "serial_number", "") != serial_number:
            continue
        hit = _match(port)
        if hit is None:
            continue
        known, rank = hit
        found.append(Candidate(by_id.get(os.path.realpath(port.device), port.device), known.model,
                               known.dialect, getattr(port, "serial_number", "") or "", rank))
    return sorted(found, key=lambda c: (c.rank, c.device))


def find_dongle(*, serial_number: str = "", list_ports: Callable[[], Iterable] | None = None,
                probe: Callable[[str], bool] | None = None) -> Candidate:
    """The board's dongle, or DeviceNotFound saying what was seen."""
    if list_ports is None:
        from serial.tools import list_ports as lp
        list_ports = lp.comports
    ports = list(list_ports())
    found = candidates(ports, serial_number=serial_number)
    for cand in found:
        if probe is None or probe(cand.device):
            return cand
    seen = ", ".join(f"{p.device} ({p.vid or 0:04x}:{p.pid or 0:04x} {p.product or p.description or '?'})"
                     for p in ports) or "no serial ports"
    wanted = f" with serial number {serial_number}" if serial_number else ""
    what = "none answered SKVER" if found else "none is a known route-B dongle"
    raise DeviceNotFound(f"no route-B Wi-SUN dongle{wanted} found: {what}; seen: {seen} "
                         f"(set [wisun] port to the device path to skip discovery)")


def probe_skstack(device: str, timeout_s: float = 1.0) -> bool:
    """True when ``device`` answers SKVER with an EVER line (a SKSTACK dongle)."""
    import serial

    try:
        with serial.Serial(device, 115200, timeout=timeout_s) as port:
            port.reset_input_buffer()
            port.write(b"SKVER\r\n")
            reply = port.read(64)
    except (OSError, serial.SerialException):
        return False
    return b"EVER" in reply
