"""The meter's side of special-meter terminals (特例計量器 behind an IoT-route terminal).

``SpecialIntake(app)`` is used by ``IotRouteApp`` for terminals of kind ``special``:

* admission: at most ``max_special`` (4, reference §1.5 ⑬) special-meter terminals joined at a
  time; the next one is refused and logged as an alarm (``iot-special-limit``);
* ``SPECIAL_VALUES`` (``special_cosem.py``): the special meter's ID must be the one on the
  allow-list (``special_id``, 0x028E D1) — a terminal relaying another meter is refused with an
  alarm (``iot-special-id``); a slot later than the meter's own clock + ``FUTURE_S`` (a lying
  clock) or older than ``MAX_AGE_S`` is refused with an alarm (``iot-special-clock``); a slot
  already forwarded (a replay or a repeat after a lost ACK) is dropped and counted, so each
  30-min value leaves the meter once — also across a reboot: the forwarded slots of the last
  ``SEEN_SLOTS`` (> ``MAX_AGE_S``) are kept in flash per terminal (StateStore ``iot.special-seen.<id>``,
  a bitmap, one save per message with fresh slots); a head-end ``HISTORY_REQUEST`` for a
  special-meter terminal (the MDMS's gap fill) lets the requested slots through once more
  (except those still in the uplink queue: they are on their way); fresh slots are re-encoded and queued for the A-route at the
  special-meter priority;
* ``SPECIAL_EVENT``: the terminal's event-log entry, alarms (ID mismatch, clock fault) logged as
  alarms and forwarded at alarm priority.

Nothing here touches the meter's own registers: the intake only sees the app's event log,
clock and uplink queue.
"""
from __future__ import annotations

import struct
from collections import OrderedDict

from sumame.firmware.core.events import Severity

from . import codec as c
from . import special_cosem as sc

FUTURE_S = 300.0
MAX_AGE_S = 10 * 86400.0
SEEN_PER_TERMINAL = 12 * 48
SEEN_SLOTS = 512                        # bitmap span (slots of 30 min): 10.7 days > MAX_AGE_S
SEEN_KEY = "iot.special-seen."


def pack_seen(ends) -> bytes:
    """Newest slot end (uint32 epoch s) + a bitmap of the ``SEEN_SLOTS`` slots up to it (bit i: newest - i slots)."""
    ends = [int(e) for e in ends]
    if not ends:
        return b""
    newest, bits = max(ends), 0
    for e in ends:
        i = (newest - e) // sc.SLOT_S
        if 0 <= i < SEEN_SLOTS and (newest - e) % sc.SLOT_S == 0:
            bits |= 1 << i
    return struct.pack(">I", newest) + bits.to_bytes(SEEN_SLOTS // 8, "big")


def unpack_seen(raw: bytes | None) -> list[float]:
    """Slot ends (oldest first); [] when absent or not of this format."""
    if not raw or len(raw) != 4 + SEEN_SLOTS // 8:
        return []
    newest, bits = struct.unpack(">I", raw[:4])[0], int.from_bytes(raw[4:], "big")
    return [float(newest - i * sc.SLOT_S) for i in reversed(range(SEEN_SLOTS)) if bits >> i & 1]


class SpecialIntake:
    def __init__(self, app, max_special: int = 4):
        self.app, self.max_special = app, max_special
        self.seen: dict[bytes, OrderedDict] = {}

    def admit(self, t) -> bool:
        joined = sum(x.joined for x in self.app.terminals.values() if x is not t and x.kind == c.KIND_SPECIAL)
        if joined < self.max_special:
            return True
        self.app._trace(t.addr, "in", "join", "special-meter terminal limit")
        self.app._event("iot-special-limit", f"special-meter terminal {self.app._name(t.addr)} refused: {joined} "
                                             f"already admitted (limit {self.max_special})", Severity.ALARM)
        return False

    def take(self, t, msg: c.Message) -> tuple[bytes | None, int]:
        """(body to forward or None, ACK status). Raises IotCodecError when malformed."""
        if t.kind != c.KIND_SPECIAL:
            raise c.IotCodecError(f"{msg.name} from a kind-{t.kind} terminal")
        if msg.type == c.SPECIAL_EVENT:
            ev = sc.decode_event(msg.body)
            if not self._id_ok(t, ev.meter_id):
                return None, c.ERR_REFUSED
            alarm = ev.code in sc.ALARM_EVENTS
            self.app._event(f"iot-{sc.EVENT_NAMES[ev.code]}", f"terminal {self.app._name(t.addr)}: "
                            f"{sc.EVENT_NAMES[ev.code]} {ev.detail}".strip(), Severity.ALARM if alarm else Severity.INFO)
            return msg.body, c.ERR_NONE
        v = sc.decode_values(msg.body)
        if not self._id_ok(t, v.meter_id):
            return None, c.ERR_REFUSED
        now = self.app.clock.now()
        bad = [s for s in v.slots if s.end > now + FUTURE_S or s.end < now - MAX_AGE_S]
        if bad:
            self.app.stats["special-bad-clock"] += 1
            self.app._event("iot-special-clock", f"terminal {self.app._name(t.addr)}: slot ending "
                            f"{bad[0].end - now:+.0f} s from the meter clock refused (clock fault or forgery)",
                            Severity.ALARM)
            return None, c.ERR_REFUSED
        seen = self._seen(t.terminal_id)
        fresh = []
        for s in v.slots:
            if s.end in seen:
                self.app.stats["special-duplicate"] += 1
                continue
            seen[s.end] = True
            fresh.append(s)
        while len(seen) > SEEN_PER_TERMINAL:
            seen.popitem(last=False)
        self.app.stats["special-slots"] += len(fresh)
        if not fresh:
            return None, c.ERR_NONE
        self.app.storage.save(SEEN_KEY + t.terminal_id.hex(), pack_seen(seen))
        return sc.SpecialValues(v.meter_id, v.tolerance_class, v.sync_status, v.device_class,
                                tuple(fresh)).encode(), c.ERR_NONE

    def resend_requested(self, terminal_id: bytes, first: int, last: int) -> int:
        """The head-end asks the terminal again for the slots ending in [first, last] (its gap
        fill): they may pass the forwarded-slot filter once more. Returns how many were forgotten."""
        seen = self._seen(terminal_id)
        queued = {s.end for _, _, u in self.app.uplink if u.terminal_id == terminal_id
                  and u.msg_type == c.SPECIAL_VALUES for s in sc.decode_values(u.body).slots}
        again = [e for e in seen if first <= e <= last and e not in queued]     # queued ones are on their way
        for e in again:
            del seen[e]
        self.app.storage.save(SEEN_KEY + terminal_id.hex(), pack_seen(seen))
        return len(again)

    def _seen(self, terminal_id: bytes) -> OrderedDict:
        seen = self.seen.get(terminal_id)
        if seen is None:                    # first message since boot: what earlier boots forwarded
            seen = self.seen[terminal_id] = OrderedDict(
                (e, True) for e in unpack_seen(self.app.storage.load(SEEN_KEY + terminal_id.hex())))
        return seen

    def _id_ok(self, t, meter_id: bytes) -> bool:
        if t.special_id and meter_id == t.special_id:
            return True
        self.app.stats["special-id-refused"] += 1
        self.app._event("iot-special-id", f"terminal {self.app._name(t.addr)} sent values of special meter "
                        f"{meter_id.hex().upper()}, allow-listed {t.special_id.hex().upper() or 'none'}: refused",
                        Severity.ALARM)
        return False
