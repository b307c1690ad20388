"""Small pieces of the head-end: its persisted invocation counter, meter sampling, the decoding
of the meters' supply-status structure, and the boundaries a period should hold."""
from __future__ import annotations

import math

from sumame.firmware.net.dlms.axdr import Data
from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.net.dlms.errors import DlmsError, EncodeError
from sumame.firmware.net.dlms.security import TxCounter
from sumame.hal.jst import format_jst


class PersistedCounter(TxCounter):
    """The head-end's invocation counter towards one meter, drawn from blocks the store reserves
    atomically (``reserve(block) -> new ceiling``, ``HesStore.reserve_tx_block``): every head-end
    process on one store (``hes run`` beside a one-shot ``hes poll`` / ``limit``) shares this one
    allocator, so no two ever use the same value, and a restart starts above every value handed
    out. ``resync`` (at each association, under the meter's lease) drops the rest of our block
    when another process reserved above it since, so the values a meter sees only grow."""

    def __init__(self, reserve, peek, block: int = 1000):
        self._reserve, self._peek, self._block = reserve, peek, block
        self.ceiling = 0                       # highest value of our block (0: none yet)
        super().__init__(0, on_advance=self._advanced)

    def _advanced(self, value: int) -> None:
        if value > self.ceiling:               # block used up (or none yet): reserve the next one
            self.ceiling = self._reserve(self._block)
            self.value = self.ceiling - self._block + 1
            if self.value > 0xFFFFFFFF:
                raise EncodeError("invocation counter exhausted: keys must be changed")

    def resync(self) -> None:
        """Another process reserved above our block (and may have used those values at the
        meter, which refuses anything not above them): the next value comes from a new block."""
        if self._peek() > self.ceiling:
            self.value = self.ceiling


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
