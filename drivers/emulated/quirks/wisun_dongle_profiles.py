"""Profiles of the HEMS-side emulated dongle itself (surface "wisun"): P14 dongle-personality,
P15 dongle-wedge, P16 duty-cycle. They act on its SKSTACK bytes and its own state only.

Evidence: ``shared/reference/field-quirks.md`` items (numbers in each docstring); "model" where
no field report exists.
"""
from __future__ import annotations

from collections import deque
from dataclasses import replace

from ...skstack_protocol import CommandLine, SendToHeader
from ..wisun.dongle_models import PERSONALITIES
from .base import Param, QuirkError
from .wisun_hooks import WisunQuirk
from .wisun_profiles import ECHONET_OVERHEAD_OCTETS

EV_LIMIT_ON, EV_LIMIT_OFF = 0x32, 0x33


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


PROFILES = (DonglePersonality, DongleWedge, DutyCycle)
