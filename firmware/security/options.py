"""Typed, frozen options of the external-connection security (board section ``[extsec]``,
declared in ``boards/schema.py``); defaults are the documented ones."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtSecOptions:
    """enabled:          log, monitor and cut-off active (False: frames pass untouched, no log)
    rate_limit_per_s:    frames per second from one peer, averaged over ``rate_window_s``,
                         above which an ``ext-rate-alarm`` is raised (default 5 /s: the B-route
                         guard's burst of 20 at start-up stays below it over 10 s)
    rate_window_s:       window of the rate measurement (s)
    auth_failures:       authentication failures of one peer within ``auth_window_s`` that raise
                         an ``ext-auth-alarm`` (default 3)
    auth_window_s:       window of the authentication-failure count (s)
    known_peers:         B-route peers expected at this site ("ip:192.168.1.20", "wi-sun:fe80::..");
                         empty: any B-route peer is known once admitted by the route
    alarm_hold_s:        the same alarm for the same peer is raised at most once per hold (s)
    flush_s:             log entries are batched in RAM and written to flash every ``flush_s``
                         (or when ``flush_entries`` are pending): at most that much log is lost
                         at a power cut, never a torn entry
    flush_entries:       entries per flash record (one program per batch)
    ram_entries:         newest entries kept in RAM for the head-end's reads (the flash ring
                         holds more only until its oldest page is reclaimed)
    max_peers:           peers the monitor tracks at once (forged sources cost an attacker nothing)
    """

    enabled: bool = True
    rate_limit_per_s: float = 5.0
    rate_window_s: float = 10.0
    auth_failures: int = 3
    auth_window_s: float = 300.0
    known_peers: tuple[str, ...] = ()
    alarm_hold_s: float = 600.0
    flush_s: float = 5.0
    flush_entries: int = 64
    ram_entries: int = 4000
    max_peers: int = 256

    @classmethod
    def from_section(cls, section: dict) -> "ExtSecOptions":
        """From the validated board section (missing keys take the defaults)."""
        kw = {}
        for name, default in cls.__dataclass_fields__.items():
            if name in section:
                value = section[name]
                kw[name] = tuple(str(v) for v in value) if name == "known_peers" else type(getattr(cls, name))(value)
        return cls(**kw)
