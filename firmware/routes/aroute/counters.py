"""Invocation counters that survive a reboot (security suite 0 needs both directions).

* Transmit: a reused IC would reuse a GCM nonce. The store holds a *ceiling*: the counter may
  run up to it without touching flash; crossing it saves a new ceiling ``block`` higher first,
  and a boot starts at the stored ceiling. A power cut therefore skips at most ``block`` values
  and never repeats one (one flash write per ``block`` APDUs).
* Receive: the last accepted IC per client system title and key kind is written before the
  request it belongs to is acted on, so an APDU (or a whole association) recorded before a
  reboot is still refused as a replay after it (one flash write per accepted ciphered APDU).
"""
from __future__ import annotations

import json
import struct

from sumame.firmware.net.dlms.security import ReplayGuard, TxCounter

TX_KEY = "aroute.tx-ic"
RX_KEY = "aroute.rx-ic"
MAX_SENDERS = 32


class PersistentTxCounter(TxCounter):
    def __init__(self, store, *, block: int = 256, floor: int = 0):
        """``floor``: never start below it (the ceiling kept across a decommissioning's erase)."""
        raw = store.load(TX_KEY)
        ceiling = struct.unpack(">I", raw)[0] if raw is not None and len(raw) == 4 else 0
        ceiling = max(ceiling, floor)
        self._store, self._block, self.ceiling = store, block, ceiling
        super().__init__(ceiling, on_advance=self._advanced)

    def _advanced(self, value: int) -> None:
        if value >= self.ceiling:
            self.ceiling = min(value + self._block, 0xFFFFFFFF)
            self._store.save(TX_KEY, struct.pack(">I", self.ceiling))


class PersistentReplayGuard(ReplayGuard):
    def __init__(self, store):
        super().__init__()
        self._store = store
        raw = store.load(RX_KEY)
        if raw:
            try:
                for key, ic in json.loads(raw).items():
                    title, kind = key.split("|")
                    self._last[(bytes.fromhex(title), kind)] = int(ic)
            except (ValueError, TypeError, AttributeError):
                self._last.clear()   # unreadable: start empty (the transmit side is unaffected)
                self.corrupt = True
        self.corrupt = getattr(self, "corrupt", False)

    def accept(self, sender: bytes, kind: str, ic: int) -> None:
        super().accept(sender, kind, ic)
        if len(self._last) > MAX_SENDERS:   # forget the sender with the oldest (lowest) counter
            oldest = min(self._last, key=self._last.get)
            if oldest != (sender, kind):
                del self._last[oldest]
        self._store.save(RX_KEY, json.dumps(
            {f"{t.hex()}|{k}": v for (t, k), v in self._last.items()}, separators=(",", ":")).encode())
