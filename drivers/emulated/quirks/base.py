"""A quirk profile: typed parameters with ranges, a schedule, counters, and the two frame hooks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .schedule import Schedule


class QuirkError(ValueError):
    """A profile name, parameter or value that is not allowed; the message names the profile and
    what is allowed."""


@dataclass(frozen=True)
class Param:
    type: type
    default: Any
    doc: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None

    def parse(self, profile: str, name: str, raw) -> Any:
        where = f"quirk {profile}: {name}"
        try:
            if self.type is bool and isinstance(raw, str):
                if raw.lower() not in ("1", "0", "true", "false", "on", "off", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("1", "true", "on", "yes")
            elif self.type is tuple:
                value = raw if isinstance(raw, (list, tuple)) else tuple(
                    x for x in str(raw).replace(";", " ").replace("+", " ").split() if x)
                value = tuple(str(v).upper() for v in value)
            else:
                value = self.type(raw)
        except (TypeError, ValueError):
            raise QuirkError(f"{where}={raw!r} is not {self.allowed()}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise QuirkError(f"{where}={raw!r} is not a finite number; expected {self.allowed()}")
        if self.choices is not None and value not in self.choices:
            raise QuirkError(f"{where}={raw!r} is not allowed; expected {self.allowed()}")
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            raise QuirkError(f"{where}={raw!r} must be {self._span()}")
        return value

    def _span(self) -> str:
        if self.hi is None:
            return f">= {self.lo}"
        if self.lo is None:
            return f"<= {self.hi}"
        return f"between {self.lo} and {self.hi}"

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        span = f" {self._span()}" if self.lo is not None or self.hi is not None else ""
        return f"a {self.type.__name__}{span}" + (f" ({self.doc})" if self.doc else "")


SCHEDULE_PARAMS = {
    "at": Param(float, -1.0, "s after switch-on of the first window; -1 = at once", lo=-1),
    "every_s": Param(float, 0.0, "s between windows; 0 = a single window", lo=0),
    "duration_s": Param(float, 0.0, "s a window lasts; 0 = for ever", lo=0),
    "prob": Param(float, 1.0, "chance a frame in a window is affected", lo=0.0, hi=1.0),
    "seed": Param(int, 1, "seed of this profile's dice"),
}


class Quirk:
    """Base of every profile. Subclasses set name, surface ("ip" | "wisun"), evidence, PARAMS
    and override ``inbound`` / ``outbound`` (ECHONET datagrams, already encoded)."""

    name = "quirk"
    surface = "ip"
    evidence = "model"
    PARAMS: dict[str, Param] = {}
    DEFAULTS: dict[str, Any] = {}
    """Schedule defaults of this profile (over SCHEDULE_PARAMS)."""

    def __init__(self, **raw):
        spec = {**SCHEDULE_PARAMS, **self.PARAMS}
        unknown = set(raw) - set(spec)
        if unknown:
            raise QuirkError(f"quirk {self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"allowed: {', '.join(spec)}")
        values = {k: p.default for k, p in spec.items()}
        values.update(self.DEFAULTS)
        values.update({k: spec[k].parse(self.name, k, v) for k, v in raw.items()})
        self.params = values
        self.fired = 0                  # frames this profile changed, dropped or delayed
        self.switched_on_at: float | None = None
        self.schedule = Schedule(None, values["every_s"] or None, values["duration_s"] or None,
                                 values["prob"], values["seed"])
        self.check()

    def check(self) -> None:
        """Cross-parameter checks of a profile (raise QuirkError)."""

    def switch_on(self, now: float) -> None:
        self.switched_on_at = now
        at = self.params["at"]
        self.schedule.start = now + (0.0 if at < 0 else at)

    def describe(self) -> str:
        own = ", ".join(f"{k}={v}" for k, v in self.params.items() if k in self.PARAMS)
        return f"{self.name}({own})"

    # ----------------------------------------------------------- hooks (no change by default)
    def inbound(self, medium: str, peer, data: bytes, now: float) -> bytes | None:
        return data

    def outbound(self, medium: str, peer, items: list[tuple[float, bytes]], now: float) -> list[tuple[float, bytes]]:
        return items
