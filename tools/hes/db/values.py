"""Small pieces of the head-end: its persisted invocation counter, meter sampling, the decoding
of the meters' supply-status structure, and the boundaries a period should hold."""
from __future__ import annotations

import math

from sumame.firmware.net.dlms.axdr import Data
from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.net.dlms.errors import DlmsError
from sumame.firmware.net.dlms.security import TxCounter
from sumame.hal.jst import format_jst


class PersistedCounter(TxCounter):
    """The head-end's invocation counter towards one meter: a ceiling kept in the store
    (as on the meter side: ``block`` values between writes, never reused after a restart).
    Other head-end processes on the same store (a one-shot ``hes poll`` beside ``hes run``)
    reserve their own blocks there; ``resync`` before each association skips past them."""

    def __init__(self, ceiling: int, save, block: int = 1000, load=None):
        self.ceiling, self._save, self._block, self._load = ceiling, save, block, load
        super().__init__(ceiling, on_advance=self._advanced)

    def _advanced(self, value: int) -> None:
        if value >= self.ceiling:
            self.ceiling = value + self._block
            self._save(self.ceiling)

    def resync(self) -> None:
        """Jump past a block another process reserved in the store since ours (its values may
        have reached the meter, which refuses anything not above them)."""
        stored = self._load() if self._load is not None else 0
        if stored > self.ceiling:
            self.value = self.ceiling = stored     # the next value reserves a fresh block


def spread(ids: list[str], count: int) -> list[str]:
    if count <= 0:
        return []
    step = len(ids) / count
    return [ids[int(k * step + step / 2)] for k in range(count)]


def time_or_none(raw: bytes) -> float | None:
    try:
        return octets_to_epoch(raw)
    except DlmsError:
        return None


def status_dict(data: Data) -> dict:
    v = data.value
    return {"state": "outage" if v[0].value == 1 else "supplied", "since": time_or_none(v[1].value),
            "last_power_fail": time_or_none(v[2].value), "last_restore": time_or_none(v[3].value),
            "boot_at": time_or_none(v[4].value), "uptime_s": v[5].value}


def status_text(status: dict) -> str:
    def t(x):
        return "-" if x is None else format_jst(x)
    return (f"{status['state']} since {t(status['since'])}; last power fail {t(status['last_power_fail'])}, "
            f"restored {t(status['last_restore'])}; boot {t(status['boot_at'])}")


def expected_boundaries(start: float, end: float, minutes: int = 30) -> list[float]:
    step = minutes * 60
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]
