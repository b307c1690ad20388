"""Profiles that act on the SKSTACK bytes of the HEMS-side emulated dongle (surface "wisun").

Evidence: ``shared/reference/field-quirks.md`` items (numbers in each docstring); "model" where
no field report exists. Each profile answers with the lines a real module prints (EVENT 21 …
01, EVENT 24/25/29/32/33, FAIL ER10, no EPANDESC); none of them looks at who the client is.
Times are the dongle's timeline (epoch s); dice are seeded per profile (``seed``).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

from ..dongle_models import PERSONALITIES
from ...skstack_protocol import CommandLine, SendToHeader
from .base import Param, QuirkError  # noqa: F401
from .echonet_profiles import SilentSpell as EchonetSilentSpell
from .schedule import Schedule
from .wisun_hooks import EV_BEACON, EV_EXPIRED, EV_PANA_FAIL, EV_PANA_OK, PANA_PORT, WisunQuirk, lqi_of_dbm

EV_LIMIT_ON, EV_LIMIT_OFF = 0x32, 0x33
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
    (LQI = (dBm + 104.27) / 0.275). Below ``threshold_dbm`` a frame is lost with ``loss_pct`` %:
    an SKSENDTO ends in ``EVENT 21 … 01`` (tx), a received datagram gives no ERXUDP (rx).
    No loss percentages were found in the field (the share is a parameter, a model)."""

    name = "link-quality"
    evidence = "field-quirks item 2 (levels: solar-club.jp, IIJ FAQ; loss share: model)"
    PARAMS = {"rssi_dbm": Param(float, -80.0, "dBm at switch-on", lo=-110.0, hi=-20.0),
              "drift_to_dbm": Param(float, 0.0, "dBm reached after drift_s; 0 = no drift", lo=-110.0, hi=0.0),
              "drift_s": Param(float, 3600.0, "s to drift", lo=1.0, hi=30 * 86400.0),
              "jitter_db": Param(float, 0.0, "σ of the per-frame level, dB", lo=0.0, hi=20.0),
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


# ============================================================================ P14
MODELS = {"bp35a1": "bp35a1", "rl7023-ips": "bp35a1", "rl7023-dss": "rl7023-dss", "bp35c2": "bp35c2",
          "rs-wsuha": "bp35c2"}


class DonglePersonality(WisunQuirk):
    """P14 — the HEMS dongle is another model (item 15, the top setup failure: BP35C2 rejects the
    3-argument SKSCAN with ER05, broute-mqtt#2; RL7023 Stick-D/IPS rejects the 4-argument one,
    home-assistant/core#159624; a new RS-WSUHA-P answers ``ROPT`` with ``OK 00`` and needs
    ``WOPT 01``, broute-mqtt#6 / momonga#1; RL7023 DSS has no ROPT: ER04). Switching it on is a
    re-plug of that stick (power-on). ``factory_wopt``: its WOPT out of the box (the written
    WOPT is forgotten, a factory-new stick); ``strict``: whether an empty trailing argument
    counts (on: ER05 for ``SKSCAN 2 FFFFFFFF 4 0 ``; model: as the model does). RL7023-IPS uses
    the BP35A1 (single-stack) facts; its own EVER strings were not found."""

    name = "dongle-personality"
    evidence = "field-quirks item 15 (broute-mqtt#2/#6, home-assistant/core#159624, momonga#1)"
    PARAMS = {"model": Param(str, "rs-wsuha", choices=tuple(MODELS)),
              "factory_wopt": Param(str, "model", "WOPT of a new stick: model, 0 binary, 1 hex",
                                    choices=("model", "0", "1")),
              "strict": Param(str, "model", "empty trailing argument counts", choices=("model", "on", "off"))}

    def __init__(self, **raw):
        super().__init__(**raw)
        self._was = None

    def personality(self):
        p = PERSONALITIES[MODELS[self.params["model"]]]
        changes = {"name": self.params["model"]}
        if self.params["factory_wopt"] != "model":
            changes["wopt_default"] = int(self.params["factory_wopt"])
        if self.params["strict"] != "model":
            changes["trailing_space"] = self.params["strict"] == "off"
        return replace(p, **changes)

    def on_attach(self, dq):
        self._was = (dq.dongle.p, dq.dongle.flash.state.wopt)
        dq.dongle.flash.state.wopt = None          # a factory-new stick (not committed)
        dq.dongle.set_personality(self.personality())
        self.fired += 1
        dq.record(self.name, "changed", f"HEMS dongle is now {self.describe()}")

    def on_detach(self, dq):
        if self._was is not None:
            p, wopt = self._was
            dq.dongle.flash.state.wopt = wopt
            dq.dongle.set_personality(p)


# ============================================================================ P15
class DongleWedge(WisunQuirk):
    """P15 — the dongle wedges (items 16–17: pyserial's "device reports readiness to read but
    returned no data" in HA core PR #123446 and yufeikang#10, fixed by re-plugging; a hang that
    needs SKRESET: no field report, model). After ``after_n_cmds`` commands or ``after_s`` s it
    goes ``mute`` (nothing comes out, not even the echo) or answers everything with FAIL ER10,
    until SKRESET (``recover=skreset``); with ``recover=replug`` the port itself dies (the pty
    closes, the host's reads fail) and comes back ``replug_s`` later as a freshly powered stick."""

    name = "dongle-wedge"
    evidence = "field-quirks items 16 (replug: HA core PR #123446, yufeikang#10), 17 (SKRESET hang: model)"
    PARAMS = {"after_n_cmds": Param(int, 50, "commands answered before it wedges; 0 = use after_s", lo=0,
                                    hi=1_000_000),
              "after_s": Param(float, 0.0, "s after switch-on (or recovery) it wedges; 0 = use after_n_cmds",
                               lo=0.0, hi=30 * 86400.0),
              "mode": Param(str, "mute", choices=("mute", "er10")),
              "recover": Param(str, "skreset", choices=("skreset", "replug")),
              "replug_s": Param(float, 2.0, "s until a dead port comes back", lo=0.05, hi=3600.0)}

    def check(self):
        if not self.params["after_n_cmds"] and not self.params["after_s"]:
            raise QuirkError("quirk dongle-wedge: needs after_n_cmds > 0 or after_s > 0")

    def __init__(self, **raw):
        super().__init__(**raw)
        self.wedged = False
        self.wedges = 0
        self._count = 0
        self._timer = None

    def on_attach(self, dq):
        self._rearm(dq)

    def on_detach(self, dq):
        if self._timer is not None:
            self._timer.cancel()
        self.wedged = False

    def _rearm(self, dq):
        self._count = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.params["after_s"]:
            self._timer = dq.later(self.params["after_s"], self._wedge, dq)

    def _wedge(self, dq):
        self._timer = None
        if self.wedged or dq.quirks.get(self.name) is not self:
            return
        self.wedged = True
        self.wedges += 1
        self.fired += 1
        how = "port dies" if self.params["recover"] == "replug" else self.params["mode"]
        dq.record(self.name, "changed", f"dongle wedged ({how})")
        if self.params["recover"] == "replug":
            (dq.endpoint or dq.dongle).unplug()
            dq.later(self.params["replug_s"], self._replug, dq)

    def _replug(self, dq):
        (dq.endpoint or dq.dongle).replug()
        self.wedged = False
        dq.record(self.name, "changed", "dongle re-plugged")
        self._rearm(dq)

    def on_command(self, dq, name, item):
        if name == "SKSENDTO-DATA":
            return False                    # a refused header already made the dongle swallow it
        counted = not (isinstance(item, CommandLine) and item.raw == b"")
        if not self.wedged and counted:
            self._count += 1
            if self.params["after_n_cmds"] and self._count == self.params["after_n_cmds"]:
                dq.later(0.0, self._wedge, dq)      # once this (the n-th) command has answered
        if not self.wedged or not counted:
            return False
        if name == "SKRESET" and self.params["recover"] == "skreset":
            self.wedged = False
            dq.record(self.name, "changed", "SKRESET un-wedged the dongle")
            self._rearm(dq)
            return False
        self.fired += 1
        if self.params["mode"] == "er10":
            dq.record(self.name, "changed", f"{name} -> FAIL ER10")
            dq.fail(10, item)
        else:
            dq.record(self.name, "dropped", f"{name} (mute)")
            if isinstance(item, SendToHeader):
                dq.dongle.skip_sendto_data()
        return True

    def on_output(self, dq, data):
        if self.wedged and self.params["mode"] == "mute":
            return None
        return data


# ============================================================================ P16
class DutyCycle(WisunQuirk):
    """P16 — the transmit-time budget (item 17: ARIB STD-T108's 360 s of transmit time per hour;
    EVENT 32/33, which momonga handles). Each SKSENDTO costs its airtime (data + ~60 octets of
    headers at the air's bit rate); once ``tx_budget_s`` within ``window_s`` is spent the dongle
    prints ``EVENT 32`` and refuses sends (``EVENT 21 … 01`` and OK, or ``FAIL ER10``) until at
    least 10 % of the budget is free again: ``EVENT 33``."""

    name = "duty-cycle"
    evidence = "field-quirks item 17 (ARIB STD-T108 limit; EVENT 32/33 in momonga)"
    PARAMS = {"tx_budget_s": Param(float, 360.0, "transmit time allowed per window, s", lo=0.001, hi=3600.0),
              "window_s": Param(float, 3600.0, "the sliding window, s", lo=1.0, hi=86400.0),
              "refuse": Param(str, "event21", "how a send is refused", choices=("event21", "er10"))}

    def __init__(self, **raw):
        super().__init__(**raw)
        self.limited = False
        self.spent: deque = deque()        # (start, airtime)
        self._timer = None

    def on_detach(self, dq):
        if self._timer is not None:
            self._timer.cancel()
        if self.limited:
            self.limited = False
            dq.emit_event(EV_LIMIT_OFF, None)

    def used(self, now: float) -> float:
        horizon = now - self.params["window_s"]
        while self.spent and self.spent[0][0] <= horizon:
            self.spent.popleft()
        return sum(a for _, a in self.spent)

    def on_sendto(self, dq, dst, data):
        now = dq.now()
        cost = dq.dongle.stack.air.airtime(len(data) + ECHONET_OVERHEAD_OCTETS)
        if not self.limited and self.used(now) + cost <= self.params["tx_budget_s"]:
            self.spent.append((now, cost))
            return False
        if not self.limited:
            self.limited = True
            dq.record(self.name, "changed", f"transmit budget spent ({self.used(now):.3f} s): EVENT 32")
            dq.emit_event(EV_LIMIT_ON, None)
            self._schedule_release(dq)
        self.fired += 1
        dq.record(self.name, "dropped", "SKSENDTO refused by the transmit-time limit")
        if self.params["refuse"] == "er10":
            dq.dongle.fail(10)
            dq.dongle.end_sendto_failed()
        else:
            dq.send_result(dst, 1)
        return True

    def _schedule_release(self, dq):
        when = (self.spent[0][0] + self.params["window_s"]) if self.spent else dq.now()
        self._timer = dq.dongle.timeline.call_at(when, self._try_release, dq)

    def _try_release(self, dq):
        self._timer = None
        if not self.limited or dq.quirks.get(self.name) is not self:
            return
        if self.used(dq.now()) <= 0.9 * self.params["tx_budget_s"]:
            self.limited = False
            dq.record(self.name, "changed", "transmit budget refilled: EVENT 33")
            dq.emit_event(EV_LIMIT_OFF, None)
        else:
            self._schedule_release(dq)


PROFILES = (SilentSpell, LinkQuality, ScanHard, PanaFail, SessionExpiry, SingleHems, DonglePersonality,
            DongleWedge, DutyCycle)
