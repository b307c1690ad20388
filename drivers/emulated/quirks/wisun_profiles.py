"""Profiles of the link and the session, acting on the SKSTACK bytes of the HEMS-side emulated
dongle (surface "wisun"): P1 (W part), P2-P6. The dongle's own quirks (P14-P16) are in
``wisun_dongle_profiles``.

Evidence: ``shared/reference/field-quirks.md`` items (numbers in each docstring); "model" where
no field report exists. Each profile answers with the lines a real module prints (EVENT 21 …
01, EVENT 24/25/29/32/33, FAIL ER10, no EPANDESC); none of them looks at who the client is.
Times are the dongle's timeline (epoch s); dice are seeded per profile (``seed``).
"""
from __future__ import annotations

import math

from ...skstack_protocol import CommandLine
from .base import Param
from .echonet_profiles import SilentSpell as EchonetSilentSpell
from .schedule import Schedule
from .wisun_hooks import EV_BEACON, EV_EXPIRED, EV_PANA_FAIL, EV_PANA_OK, PANA_PORT, WisunQuirk, lqi_of_dbm

ECHONET_OVERHEAD_OCTETS = 60     # MAC header + aux security + IPHC + UDP + MIC + FCS around the data


def window_start(s: Schedule, now: float) -> float | None:
    """Start (epoch s) of the window open at ``now``, or None."""
    if not s.window(now):
        return None
    if s.every_s:
        return s.start + math.floor((now - s.start) / s.every_s) * s.every_s
    return s.start


def next_window_start(s: Schedule, now: float) -> float | None:
    if s.start is None:
        return None
    if now < s.start:
        return s.start
    if not s.every_s:
        return None
    return s.start + (math.floor((now - s.start) / s.every_s) + 1) * s.every_s


def _no_ack_s(dq, data: bytes) -> float:
    stack = dq.dongle.stack
    return stack.timing.no_ack_s(stack.air.airtime(len(data) + ECHONET_OVERHEAD_OCTETS))


def _is_pana(dgram) -> bool:
    return dgram.src_port == PANA_PORT and dgram.dst_port == PANA_PORT


class _JoinWatch:
    """Mixin: remembers that the host issued SKJOIN until the next EVENT 24/25."""

    _joining = False

    def _watch_join(self, name: str) -> None:
        if name == "SKJOIN":
            self._joining = True


# ============================================================================ P1
class SilentSpell(EchonetSilentSpell, WisunQuirk, _JoinWatch):
    """P1 — the meter goes silent for a while (items 1, 10: the most common field complaint;
    "only a restart or re-open helps", broute-mqtt#1/#3, yufeikang#10). IP: no answer at all.
    W (at the HEMS dongle): SKSENDTO still gets ``EVENT 21 … 00`` and OK (``event21=1``: the
    frame is not acked, ``EVENT 21 … 01``) but no ECHONET ERXUDP comes back; PANA keeps working.
    ``ends_on_reopen``: a successful SKJOIN (EVENT 25) ends the current spell, as re-opening did
    in the field."""

    surface = "both"
    PARAMS = {**EchonetSilentSpell.PARAMS,
              "event21": Param(int, 0, "EVENT 21 result during a spell: 0 sent, 1 not acked", choices=(0, 1)),
              "ends_on_reopen": Param(bool, True, "a re-join ends the spell")}

    _reopened_at = -math.inf

    def silent(self, now: float) -> bool:
        start = window_start(self.schedule, now)
        return start is not None and not (self.params["ends_on_reopen"] and self._reopened_at >= start)

    def inbound(self, medium, peer, data, now):
        if self.silent(now) and self.schedule.hit(now):
            self.fired += 1
            return None
        return data

    def on_command(self, dq, name, item):
        self._watch_join(name)
        return False

    def on_event(self, dq, num, addr, param):
        if num == EV_PANA_OK and self._joining:
            self._joining = False
            if self.silent(dq.now()):
                self._reopened_at = dq.now()
                dq.record(self.name, "changed", "spell ended by the re-join")
        elif num == EV_PANA_FAIL:
            self._joining = False
        return False

    def on_sendto(self, dq, dst, data):
        if self.params["event21"] != 1 or not self.silent(dq.now()):
            return False
        self.fired += 1
        dq.record(self.name, "dropped", f"SKSENDTO of {len(data)} octets (EVENT 21 01)")
        dq.send_result(dst, 1, _no_ack_s(dq, data))
        return True

    def on_rx(self, dq, dgram, lqi):
        if _is_pana(dgram) or not self.silent(dq.now()) or not self.schedule.hit(dq.now()):
            return lqi
        self.fired += 1
        dq.record(self.name, "dropped", f"ERXUDP from port {dgram.src_port} ({len(dgram.payload)} octets)")
        return None


# ============================================================================ P2
class LinkQuality(WisunQuirk):
    """P2 — a weak, drifting link (item 2: −35 dBm next to the meter, −75…−80 dBm at 20 m, the
    METI guideline's −88 dBm, once −104 dBm; the level swings with the weather). The RSSI starts
    at ``rssi_dbm`` and moves linearly to ``drift_to_dbm`` over ``drift_s`` (0 = no drift), plus
    Gaussian ``jitter_db`` per frame; it sets the LQI of ERXUDP's RSSI token and of EPANDESC
    (LQI = (dBm + 104.27) / 0.275); ``latency_jitter_s`` delays each ERXUDP by a uniform share of
    it (retries on a poor link). Below ``threshold_dbm`` a frame is lost with ``loss_pct`` %:
    an SKSENDTO ends in ``EVENT 21 … 01`` (tx), a received datagram gives no ERXUDP (rx).
    No loss percentages were found in the field (the share is a parameter, a model)."""

    name = "link-quality"
    evidence = "field-quirks item 2 (levels: solar-club.jp, IIJ FAQ; loss share: model)"
    PARAMS = {"rssi_dbm": Param(float, -80.0, "dBm at switch-on", lo=-110.0, hi=-20.0),
              "drift_to_dbm": Param(float, 0.0, "dBm reached after drift_s; 0 = no drift", lo=-110.0, hi=0.0),
              "drift_s": Param(float, 3600.0, "s to drift", lo=1.0, hi=30 * 86400.0),
              "jitter_db": Param(float, 0.0, "σ of the per-frame level, dB", lo=0.0, hi=20.0),
              "latency_jitter_s": Param(float, 0.0, "each ERXUDP comes up to this many s late", lo=0.0,
                                        hi=30.0),
              "loss_pct": Param(float, 30.0, "% of frames lost below threshold_dbm", lo=0.0, hi=100.0),
              "threshold_dbm": Param(float, -88.0, "level below which frames are lost", lo=-110.0, hi=-20.0),
              "applies": Param(str, "tx", "which frames are lost", choices=("tx", "rx", "both")),
              "skrssi": Param(bool, False, "answer SKRSSI with ERSSI <LQI> (model: not in the manual)")}

    def __init__(self, **raw):
        super().__init__(**raw)
        self.sent = self.lost = 0
        self.last_dbm = self.params["rssi_dbm"]

    def level(self, now: float) -> float:
        """The link level (dBm) of one frame at ``now``."""
        p = self.params
        base = p["rssi_dbm"]
        if p["drift_to_dbm"] != 0.0 and self.switched_on_at is not None:
            share = min(1.0, max(0.0, (now - self.switched_on_at) / p["drift_s"]))
            base += (p["drift_to_dbm"] - base) * share
        if p["jitter_db"]:
            base += self.schedule.rng.gauss(0.0, p["jitter_db"])
        self.last_dbm = base
        return base

    def _lost(self, dbm: float, now: float, way: str) -> bool:
        p = self.params
        return (p["applies"] in (way, "both") and dbm < p["threshold_dbm"] and self.schedule.window(now)
                and self.schedule.rng.random() * 100.0 < p["loss_pct"])

    def on_sendto(self, dq, dst, data):
        now = dq.now()
        dbm = self.level(now)
        self.sent += 1
        if not self._lost(dbm, now, "tx"):
            return False
        self.lost += 1
        self.fired += 1
        dq.record(self.name, "dropped", f"SKSENDTO at {dbm:.1f} dBm (EVENT 21 01)")
        dq.send_result(dst, 1, _no_ack_s(dq, data))
        return True

    def on_rx(self, dq, dgram, lqi):
        now = dq.now()
        dbm = self.level(now)
        if not _is_pana(dgram) and self._lost(dbm, now, "rx"):
            self.fired += 1
            dq.record(self.name, "dropped", f"ERXUDP at {dbm:.1f} dBm")
            return None
        new = lqi_of_dbm(dbm)
        if new != lqi:
            self.fired += 1
            dq.record(self.name, "changed", f"ERXUDP LQI {lqi:02X} -> {new:02X} ({dbm:.1f} dBm)")
        return new

    def rx_delay(self, dq, dgram):
        if not self.params["latency_jitter_s"] or _is_pana(dgram):
            return 0.0
        return self.schedule.rng.uniform(0.0, self.params["latency_jitter_s"])

    def on_pandesc(self, dq, lqi):
        dbm = self.level(dq.now())
        new = lqi_of_dbm(dbm)
        if new != lqi:
            self.fired += 1
            dq.record(self.name, "changed", f"EPANDESC LQI {lqi:02X} -> {new:02X} ({dbm:.1f} dBm)")
        return new

    def on_command(self, dq, name, item):
        if name != "SKRSSI" or not self.params["skrssi"] or not isinstance(item, CommandLine):
            return False
        dq.dongle.write_line(f"ERSSI {lqi_of_dbm(self.level(dq.now())):02X}")
        dq.dongle.write_line("OK")
        return True


# ============================================================================ P3
class ScanHard(WisunQuirk):
    """P3 — the scan needs a longer duration or finds nothing (item 3: broute-mqtt#5, BP35C2:
    ``SKSCAN … 4`` found nothing, duration 5 found the meter). EVENT 20 + EPANDESC only when the
    SKSCAN duration is ≥ ``min_duration`` and the scan is not missed (``miss_prob``); EVENT 22
    always ends the scan."""

    name = "scan-hard"
    evidence = "field-quirks item 3 (broute-mqtt#5)"
    PARAMS = {"min_duration": Param(int, 5, "shortest SKSCAN duration that finds the meter", lo=0, hi=14),
              "miss_prob": Param(float, 0.0, "chance a long-enough scan still misses", lo=0.0, hi=1.0)}

    def __init__(self, **raw):
        super().__init__(**raw)
        self._hide = False

    def on_command(self, dq, name, item):
        if name != "SKSCAN" or not isinstance(item, CommandLine):
            return False
        tokens = item.text.split()
        try:
            duration = int(tokens[3], 16)
        except (IndexError, ValueError):
            return False                     # the dongle answers the bad form itself (ER05/ER06)
        now = dq.now()
        short = duration < self.params["min_duration"]
        missed = not short and self.schedule.rng.random() < self.params["miss_prob"]
        self._hide = self.schedule.window(now) and (short or missed)
        if self._hide:
            self.fired += 1
            dq.record(self.name, "changed",
                      f"SKSCAN duration {duration}: {'too short' if short else 'missed'}, no EPANDESC")
        return False

    def on_event(self, dq, num, addr, param):
        if num == EV_BEACON and self._hide:
            return True
        return False

    def on_pandesc(self, dq, lqi):
        if self._hide:
            dq.record(self.name, "dropped", "EPANDESC")
            return None
        return lqi


# ============================================================================ P4
class PanaFail(WisunQuirk, _JoinWatch):
    """P4 — the PANA join fails and must be retried (item 4: momonga re-issues SKJOIN after
    EVENT 24 and allows ~40 s per failed attempt). SKJOIN runs its real PANA exchange (ERXUDP 02CC
    lines), but the first ``n_failures`` joins end in ``EVENT 24`` (after ``delay_s``) instead of
    EVENT 25, and this dongle forgets the session; then joins succeed."""

    name = "pana-fail"
    evidence = "field-quirks item 4 (momonga's SKJOIN retry; failure cause: model)"
    PARAMS = {"n_failures": Param(int, 2, "joins that fail", lo=1, hi=100),
              "delay_s": Param(float, 0.0, "s from the last PANA line to EVENT 24", lo=0.0, hi=120.0)}

    def __init__(self, **raw):
        super().__init__(**raw)
        self.remaining = self.params["n_failures"]

    def on_command(self, dq, name, item):
        self._watch_join(name)
        return False

    def on_event(self, dq, num, addr, param):
        if num not in (EV_PANA_OK, EV_PANA_FAIL) or not self._joining:
            return False
        self._joining = False
        if num != EV_PANA_OK or self.remaining <= 0 or not self.schedule.window(dq.now()):
            return False
        self.remaining -= 1
        self.fired += 1
        dq.record(self.name, "changed", f"EVENT 25 -> EVENT 24 ({self.remaining} failures left)")

        def fail():
            dq.drop_session()
            dq.emit_event(EV_PANA_FAIL, addr)
        dq.later(self.params["delay_s"], fail)
        return True


# ============================================================================ P5
class SessionExpiry(WisunQuirk):
    """P5 — model: what the session does at expiry (item 5: no field report; momonga's model is
    EVENT 29 blocks sending, EVENT 25 resumes it). At ``fraction`` × ``lifetime_s`` after each
    EVENT 25: ``auto-reauth`` runs a real PANA re-authentication (ERXUDP + EVENT 25);
    ``29-then-25`` prints EVENT 29, refuses sends (EVENT 21 … 01) and re-authenticates after
    ``reauth_s``; ``29-then-drop`` prints EVENT 29 and forgets the session; ``silent-drop``
    forgets it without a word (secured sends then fail, secured answers are not decoded)."""

    name = "session-expiry"
    evidence = "model (field-quirks item 5: not found; skstack-ip.md open question 6)"
    PARAMS = {"lifetime_s": Param(float, 600.0, "session lifetime, s", lo=60.0, hi=86400.0),
              "mode": Param(str, "29-then-25", choices=("auto-reauth", "29-then-25", "29-then-drop", "silent-drop")),
              "fraction": Param(float, 0.8, "share of the lifetime when it acts", lo=0.1, hi=1.0),
              "reauth_s": Param(float, 5.0, "29-then-25: s from EVENT 29 to the re-authentication", lo=0.0,
                                hi=3600.0)}

    def __init__(self, **raw):
        super().__init__(**raw)
        self.blocked = False
        self._timer = None

    def on_attach(self, dq):
        if dq.session_peer is not None:
            self._arm(dq)

    def on_detach(self, dq):
        if self._timer is not None:
            self._timer.cancel()
        self.blocked = False

    def _arm(self, dq):
        if self._timer is not None:
            self._timer.cancel()
        self._timer = dq.later(self.params["fraction"] * self.params["lifetime_s"], self._expire, dq)

    def on_event(self, dq, num, addr, param):
        if num == EV_PANA_OK:
            self.blocked = False
            self._arm(dq)
        return False

    def _expire(self, dq):
        self._timer = None
        peer = dq.session_peer
        if peer is None or self.quirk_off(dq) or not self.schedule.window(dq.now()):
            return
        mode = self.params["mode"]
        self.fired += 1
        dq.record(self.name, "changed", f"session expiry ({mode})")
        if mode == "auto-reauth":
            if not dq.dongle.stack.rejoin():
                dq.drop_session()
            return
        if mode == "silent-drop":
            dq.drop_session()
            return
        dq.emit_event(EV_EXPIRED, peer)
        if mode == "29-then-drop":
            dq.drop_session()
            return
        self.blocked = True

        def reauth():
            if not self.blocked:
                return
            if not dq.dongle.stack.rejoin():
                self.blocked = False
                dq.drop_session()
        dq.later(self.params["reauth_s"], reauth)

    def quirk_off(self, dq) -> bool:
        return dq.quirks.get(self.name) is not self

    def on_sendto(self, dq, dst, data):
        if not self.blocked:
            return False
        self.fired += 1
        dq.record(self.name, "dropped", "SKSENDTO while expired (EVENT 21 01)")
        dq.send_result(dst, 1)
        return True


# ============================================================================ P6
class SingleHems(WisunQuirk, _JoinWatch):
    """P6 — model: one HEMS per meter (item 6: only the SKSTACK manual's one-PaC rule, S1 §4.4).
    During each schedule window another HEMS holds the meter: this dongle's joins end in
    EVENT 24 (both policies); with ``kick-old`` the session this dongle held is taken away at the
    window's start (EVENT ``kick_event`` 29 or 28, then silence)."""

    name = "single-hems"
    evidence = "model (field-quirks item 6: not found in the field)"
    PARAMS = {"policy": Param(str, "refuse-new", choices=("refuse-new", "kick-old")),
              "kick_event": Param(str, "29", "EVENT the kicked HEMS sees (hex)", choices=("28", "29"))}
    DEFAULTS = {"duration_s": 600.0}

    def __init__(self, **raw):
        super().__init__(**raw)
        self._timer = None

    def on_attach(self, dq):
        self._arm(dq)

    def on_detach(self, dq):
        if self._timer is not None:
            self._timer.cancel()

    def _arm(self, dq):
        now = dq.now()
        start = window_start(self.schedule, now)
        if start is not None and start == self.schedule.start and now - start < 1e-6:
            at = now
        else:
            at = next_window_start(self.schedule, now)
        if at is not None:
            self._timer = dq.dongle.timeline.call_at(at, self._window_opens, dq)

    def _window_opens(self, dq):
        self._timer = None
        if dq.quirks.get(self.name) is not self:
            return
        peer = dq.session_peer
        if self.params["policy"] == "kick-old" and peer is not None:
            self.fired += 1
            dq.record(self.name, "changed", f"another HEMS took the meter: EVENT {self.params['kick_event']}")
            dq.drop_session()
            dq.emit_event(int(self.params["kick_event"], 16), peer)
        self._arm_next(dq)

    def _arm_next(self, dq):
        at = next_window_start(self.schedule, dq.now())
        if at is not None:
            self._timer = dq.dongle.timeline.call_at(at, self._window_opens, dq)

    def on_command(self, dq, name, item):
        self._watch_join(name)
        return False

    def on_event(self, dq, num, addr, param):
        if num not in (EV_PANA_OK, EV_PANA_FAIL) or not self._joining:
            return False
        self._joining = False
        if num != EV_PANA_OK or not self.schedule.window(dq.now()):
            return False
        self.fired += 1
        dq.record(self.name, "changed", "join refused: another HEMS holds the meter (EVENT 24)")
        dq.drop_session()
        dq.emit_event(EV_PANA_FAIL, addr)
        return True


PROFILES = (SilentSpell, LinkQuality, ScanHard, PanaFail, SessionExpiry, SingleHems)
