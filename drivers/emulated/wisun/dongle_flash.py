"""What an emulated SKSTACK dongle keeps in its flash, in a small JSON file in the state dir.

A real module keeps, across SKRESET and power cycles: its MAC address (factory-programmed),
the WOPT output mode (written to flash on every WOPT, at most ~10 000 times; ROPT reads it,
reference §4.1 / S1 §4.34), the WUART UART mode (applies after a restart, S1 §4.36), and the
registers SKSAVE wrote (S02, S03, SFF; SKLOAD / SFF=1 at power-on read them back, SKERASE
clears them, S1 §4.24-4.26). Without a path the flash lives in memory only (tests).
The file is replaced atomically; a damaged file is reported and the factory state used.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("sumame.drivers.emulated.wisun.dongle")

FORMAT = 1


@dataclass
class FlashState:
    mac: str | None = None
    wopt: int | None = None              # None: the personality's factory default
    wuart: int | None = None
    saved_regs: dict[int, object] | None = None
    writes: int = 0                      # flash program operations (WOPT wear)


@dataclass
class DongleFlash:
    path: Path | None = None
    state: FlashState = field(default_factory=FlashState)

    @classmethod
    def open(cls, path: str | os.PathLike | None) -> "DongleFlash":
        flash = cls(Path(path) if path else None)
        if flash.path is None or not flash.path.exists():
            return flash
        try:
            raw = json.loads(flash.path.read_text(encoding="utf-8"))
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            saved = raw.get("saved_regs")
            flash.state = FlashState(
                mac=_mac(raw.get("mac")), wopt=_byte(raw.get("wopt")), wuart=_byte(raw.get("wuart")),
                saved_regs=None if saved is None else {int(k, 16): v for k, v in saved.items()},
                writes=int(raw.get("writes", 0)))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("dongle flash %s unreadable (%s): factory state", flash.path, exc)
            flash.state = FlashState()
        return flash

    def commit(self) -> None:
        self.state.writes += 1
        if self.path is None:
            return
        data = asdict(self.state)
        if self.state.saved_regs is not None:
            data["saved_regs"] = {f"{k:02X}": v for k, v in self.state.saved_regs.items()}
        data["format"] = FORMAT
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("dongle flash %s not written: %s", self.path, exc)


def _byte(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"not a byte: {value!r}")
    return value


def _mac(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 16 or any(c not in "0123456789ABCDEF" for c in value):
        raise ValueError(f"not a MAC: {value!r}")
    return value
