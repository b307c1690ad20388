"""Profiles that act on ECHONET Lite frames between the meter's B-route application and its
media (UDP 3610 over Wi-Fi/Ethernet, and the same frames over Wi-SUN).

Evidence: ``shared/reference/field-quirks.md`` items (numbers in each docstring), "model" where
no field report exists.
"""
from __future__ import annotations

import math
import struct

from sumame.firmware.net.echonet import (Esv, EchonetError, Frame, Property, decode, decode_property_map,
                                         encode, encode_property_map)

from .base import Param, Quirk, QuirkError

METER_CLASSES = (0x0288, 0x028A)
RESPONSES = (Esv.GET_RES, Esv.GET_SNA)


def _frame(data: bytes) -> Frame | None:
    try:
        return decode(data)
    except EchonetError:
        return None


def _from_meter(frame: Frame | None) -> bool:
    return frame is not None and frame.seoj.class_code in METER_CLASSES


class SilentSpell(Quirk):
    """P1 — the meter goes silent for a while: no answer at all to anything (items 1 and 10: the
    most common field complaint; clients time out, must re-open and must not wedge)."""

    name = "silent-spell"
    evidence = "field-quirks items 1, 10"
    DEFAULTS = {"duration_s": 180.0, "every_s": 4 * 3600.0}

    def inbound(self, medium, peer, data, now):
        if self.schedule.hit(now):
            self.fired += 1
            return None
        return data


UTILITY_PRESETS = {
    "tepco": (),                            # answers every EPC it lists (the reference meter)
    "kansai": ("E3", "EC", "D3"),           # momonga#2: reverse energy, history 2, coefficient
    "no-e1": ("E1",),                       # #150: meters read through gateways without E1
}


class UtilityProfile(Quirk):
    """P7 — the property set differs by utility / maker: listed EPCs are answered Get_SNA (0x52)
    with the valid EPCs kept, and the Get property map (9F) shrinks to match (items 7, 9)."""

    name = "utility-profile"
    evidence = "field-quirks items 7, 9 (kansai: momonga#2; no-e1: echonetlite_homeassistant#150)"
    PARAMS = {"preset": Param(str, "kansai", choices=tuple(UTILITY_PRESETS) + ("custom",)),
              "sna": Param(tuple, (), "EPCs in hex, ';'-separated, for preset=custom (e.g. E3;EC)")}

    def check(self):
        p = self.params
        names = UTILITY_PRESETS.get(p["preset"], ()) if p["preset"] != "custom" else p["sna"]
        try:
            self.epcs = frozenset(int(x, 16) for x in names)
        except ValueError:
            raise QuirkError(f"quirk {self.name}: sna={';'.join(names)!r} must be hex EPCs like E3;EC") from None
        if p["preset"] == "custom" and not self.epcs:
            raise QuirkError(f"quirk {self.name}: preset=custom needs sna=EPC;EPC...")

    def outbound(self, medium, peer, items, now):
        return [(d, self._rewrite(b)) for d, b in items]

    def _rewrite(self, data: bytes) -> bytes:
        frame = _frame(data)
        if not _from_meter(frame) or frame.esv not in RESPONSES + (Esv.INF,):
            return data
        props, refused = [], False
        for p in frame.props:
            if p.epc in self.epcs and frame.esv in RESPONSES:
                props.append(Property(p.epc))
                refused = True
            elif p.epc == 0x9F and p.edt:
                kept = [e for e in decode_property_map(p.edt) if e not in self.epcs]
                props.append(Property(0x9F, encode_property_map(kept)))
            else:
                props.append(p)
        if tuple(props) == frame.props:
            return data
        self.fired += 1
        esv = Esv.GET_SNA if refused else frame.esv
        return encode(frame._replace(esv=esv, props=tuple(props)))


class OpcCap(Quirk):
    """P8 — a cap on EPCs per request: more than ``max_opc`` gets a 0x52 answer carrying only the
    first N, or no answer at all (item 8: batches of 10 unanswered, 5 fine; pychonet PR #66)."""

    name = "opc-cap"
    evidence = "field-quirks item 8 (echonetlite_homeassistant#150, pychonet PR #66)"
    PARAMS = {"max_opc": Param(int, 5, "EPCs per request the meter answers", lo=1, hi=20),
              "mode": Param(str, "truncate-0x52", choices=("truncate-0x52", "ignore"))}

    def __init__(self, **raw):
        super().__init__(**raw)
        self._truncated: set[tuple[str, int]] = set()

    def inbound(self, medium, peer, data, now):
        frame = _frame(data)
        if frame is None or frame.esv is not Esv.GET or len(frame.props) <= self.params["max_opc"]:
            return data
        if not self.schedule.hit(now):
            return data
        self.fired += 1
        if self.params["mode"] == "ignore":
            return None
        self._truncated.add((_peer(peer), frame.tid))
        return encode(frame._replace(props=frame.props[:self.params["max_opc"]]))

    def outbound(self, medium, peer, items, now):
        out = []
        for delay, data in items:
            frame = _frame(data)
            key = (_peer(peer), frame.tid) if frame is not None else None
            if key in self._truncated and frame.esv in RESPONSES:
                self._truncated.discard(key)
                data = encode(frame._replace(esv=Esv.GET_SNA))
            out.append((delay, data))
        return out


class SlowAnswer(Quirk):
    """P9 — answers take seconds: each answer is delayed by a log-normal latency with the given
    median, capped at ``tail_s`` (item 10: Wi-SUN replies in seconds; 100 ms timeouts too short)."""

    name = "slow-answer"
    evidence = "field-quirks item 10"
    PARAMS = {"median_s": Param(float, 2.0, "median latency, s", lo=0.0, hi=30.0),
              "tail_s": Param(float, 15.0, "longest latency, s", lo=0.0, hi=120.0)}

    def outbound(self, medium, peer, items, now):
        if peer is None or not self.schedule.hit(now):
            return items
        self.fired += 1
        median = max(self.params["median_s"], 1e-3)
        delay = min(self.params["tail_s"], math.exp(self.schedule.rng.gauss(math.log(median), 0.6)))
        return [(d + delay, b) for d, b in items]


class StaleAndDupes(Quirk):
    """P10 — an answer sent twice, held back until after the next one, or preceded by an INF
    (item 11: clients that match neither TID nor ESV take the wrong frame as the reading)."""

    name = "stale-and-dupes"
    evidence = "field-quirks item 11 (inferred from client code)"
    PARAMS = {"dup_prob": Param(float, 0.2, lo=0.0, hi=1.0),
              "late_prob": Param(float, 0.1, lo=0.0, hi=1.0),
              "inf_before_prob": Param(float, 0.0, "an EA INF just before an answer", lo=0.0, hi=1.0)}

    def __init__(self, **raw):
        super().__init__(**raw)
        self._held: dict[str, bytes] = {}
        self._last_inf: bytes | None = None

    def outbound(self, medium, peer, items, now):
        if peer is None:                      # a notification: remember it for inf_before
            for _, data in items:
                frame = _frame(data)
                if frame is not None and frame.esv in (Esv.INF, Esv.INFC):
                    self._last_inf = data
            return items
        if not self.schedule.window(now):
            return items
        rng, p, key, out = self.schedule.rng, self.params, _peer(peer), []
        for delay, data in items:
            if self._last_inf is not None and rng.random() < p["inf_before_prob"]:
                out.append((delay, self._last_inf))
                self.fired += 1
            if rng.random() < p["late_prob"] and key not in self._held:
                self._held[key] = data        # this answer comes after the next one
                self.fired += 1
                continue
            out.append((delay, data))
            if rng.random() < p["dup_prob"]:
                out.append((delay + 0.05, data))
                self.fired += 1
            if key in self._held:
                out.append((delay + 0.01, self._held.pop(key)))
        return out


class Values(Quirk):
    """P11 — odd values inside valid answers: reverse flow (negative E7, one E8 phase negative),
    sentinels (E7 no-data 0x7FFFFFFE / overflow 0x7FFFFFFF), a cumulative glitch (E0 one step
    backwards or 0) (items 12, 13: #150's E8 = 00 0A FF EC; evcc #30592's spike)."""

    name = "values"
    evidence = "field-quirks items 12, 13"
    PARAMS = {"reverse_flow": Param(bool, True),
              "sentinel": Param(str, "none", choices=("none", "no-data", "overflow")),
              "glitch": Param(str, "none", choices=("none", "backwards", "zero"))}

    def outbound(self, medium, peer, items, now):
        return [(d, self._rewrite(b, now)) for d, b in items]

    def _rewrite(self, data, now):
        frame = _frame(data)
        if not _from_meter(frame) or frame.esv not in RESPONSES or not self.schedule.hit(now):
            return data
        p, props = self.params, []
        for prop in frame.props:
            edt = prop.edt
            if prop.epc == 0xE7 and len(edt) == 4:
                w = struct.unpack(">i", edt)[0]
                if p["sentinel"] != "none":
                    w = 0x7FFFFFFE if p["sentinel"] == "no-data" else 0x7FFFFFFF
                elif p["reverse_flow"]:
                    w = -abs(w)
                edt = struct.pack(">i", w)
            elif prop.epc == 0xE8 and len(edt) == 4 and p["reverse_flow"]:
                r, t = struct.unpack(">hh", edt)
                edt = struct.pack(">hh", r, -abs(t) if t != 0x7FFE else t)
            elif prop.epc == 0xE0 and len(edt) == 4 and p["glitch"] != "none":
                v = struct.unpack(">I", edt)[0]
                edt = struct.pack(">I", 0 if p["glitch"] == "zero" else max(0, v - 1))
            props.append(Property(prop.epc, edt))
        if tuple(props) == frame.props:
            return data
        self.fired += 1
        return encode(frame._replace(props=tuple(props)))


class Announce(Quirk):
    """P12 — half-hourly EA/EB announcements late (``offset_s``) or missing (``miss_prob``); no
    D5 instance list after a join (``d5``) so the client must ask (item 14: the spec allows up
    to 5 minutes; the HEMS should Get EA from :05/:35)."""

    name = "announce"
    evidence = "field-quirks item 14"
    PARAMS = {"offset_s": Param(float, 180.0, "delay of EA/EB INF, s", lo=0.0, hi=300.0),
              "miss_prob": Param(float, 0.0, lo=0.0, hi=1.0),
              "d5": Param(bool, True, "announce the instance list D5 after a join")}

    def outbound(self, medium, peer, items, now):
        out = []
        for delay, data in items:
            frame = _frame(data)
            if frame is None or frame.esv not in (Esv.INF, Esv.INFC) or not self.schedule.window(now):
                out.append((delay, data))
                continue
            epcs = set(frame.epcs)
            if 0xD5 in epcs and not self.params["d5"]:
                self.fired += 1
                continue
            if epcs & {0xEA, 0xEB}:
                self.fired += 1
                if self.schedule.rng.random() < self.params["miss_prob"]:
                    continue
                delay += self.params["offset_s"]
            out.append((delay, data))
        return out


class ClockOffset(Quirk):
    """P13 — the meter's clock is off: 97/98 and the EA/EB time stamps carry ``offset_s``.
    Model: no field report of clock drift was found (item 14)."""

    name = "clock"
    evidence = "model"
    PARAMS = {"offset_s": Param(float, 120.0, "s the meter's clock is ahead (negative: behind)",
                                lo=-86400.0, hi=86400.0)}

    def outbound(self, medium, peer, items, now):
        return [(d, self._rewrite(b, now)) for d, b in items]

    def _rewrite(self, data, now):
        import datetime as dt

        from sumame.hal.jst import JST

        frame = _frame(data)
        if not _from_meter(frame) or frame.esv not in RESPONSES + (Esv.INF,):
            return data
        off = dt.timedelta(seconds=self.params["offset_s"])
        props = []
        for p in frame.props:
            edt = p.edt
            try:
                if p.epc in (0xEA, 0xEB) and len(edt) >= 7:
                    y, mo, d, h, mi, s = struct.unpack(">HBBBBB", edt[:7])
                    t = dt.datetime(y, mo, d, h, mi, s, tzinfo=JST) + off
                    edt = struct.pack(">HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second) + edt[7:]
                elif p.epc == 0x97 and len(edt) == 2:
                    t = dt.datetime(2000, 1, 1, edt[0], edt[1], tzinfo=JST) + off
                    edt = bytes((t.hour, t.minute))
                elif p.epc == 0x98 and len(edt) == 4:    # the date as of the meter's time of day
                    y, mo, d = struct.unpack(">HBB", edt)
                    t = dt.datetime.combine(dt.date(y, mo, d), dt.datetime.fromtimestamp(now, JST).time(),
                                            tzinfo=JST) + off
                    edt = struct.pack(">HBB", t.year, t.month, t.day)
            except ValueError:
                pass                                  # a "no data" stamp stays as it is
            props.append(Property(p.epc, edt))
        if tuple(props) == frame.props:
            return data
        self.fired += 1
        return encode(frame._replace(props=tuple(props)))


def _peer(peer) -> str:
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


PROFILES = (SilentSpell, UtilityProfile, OpcCap, SlowAnswer, StaleAndDupes, Values, Announce, ClockOffset)
