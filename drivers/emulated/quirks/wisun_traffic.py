"""What the HEMS client did on the emulated dongle's UART while quirks were on (issue 17 item 4):
commands by name, sends, answers (non-PANA ERXUDP lines that reached the host), resends of an
unanswered datagram, joins and re-joins (SKJOIN after a quirk dropped a line), resets, scans, and for each spell of dropped lines the
time (s) until the host was served an answer again."""
from __future__ import annotations

from collections import Counter

SPELL_GAP_S = 30.0


class WisunTraffic:
    def __init__(self):
        self.commands: Counter[str] = Counter()
        self.sends = self.answers = self.retries = self.rejoins = 0
        self.per_minute: Counter[int] = Counter()
        self.answered_per_minute: Counter[int] = Counter()
        self._unanswered: bytes | None = None
        self._drops: list[float] = []
        self._answered_at: list[float] = []

    def command(self, name: str) -> None:
        self.commands[name] += 1
        if name == "SKJOIN" and self._drops:
            self.rejoins += 1                       # a join after a quirk dropped something

    def sent(self, data: bytes, now: float) -> None:
        self.sends += 1
        self.per_minute[int(now // 60)] += 1
        if data == self._unanswered:
            self.retries += 1
        self._unanswered = data

    def answered(self, now: float) -> None:
        self.answers += 1
        self.answered_per_minute[int(now // 60)] += 1
        self._unanswered = None
        self._answered_at.append(now)

    def dropped(self, now: float) -> None:
        self._drops.append(now)

    def recover_times(self) -> list[float]:
        spells: list[list[float]] = []
        for t in self._drops:
            if spells and t - spells[-1][1] < SPELL_GAP_S:
                spells[-1][1] = t
            else:
                spells.append([t, t])
        out = []
        for first, last in spells:
            after = [a for a in self._answered_at if a > last]
            if after:
                out.append(round(min(after) - first, 3))
        return out

    def report(self) -> dict:
        return {"commands": dict(self.commands), "sends": self.sends, "answered": self.answers,
                "answered_share": round(self.answers / self.sends, 4) if self.sends else None,
                "retries": self.retries, "joins": self.commands["SKJOIN"], "rejoins": self.rejoins,
                "resets": self.commands["SKRESET"], "scans": self.commands["SKSCAN"],
                "recover_s": self.recover_times(), "per_minute": sorted(self.per_minute.items()),
                "answered_per_minute": sorted(self.answered_per_minute.items())}
