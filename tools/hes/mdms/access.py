"""Who may read what: parties with API keys, consent records, the audit trail, rate limits.

Kept in the head-end's SQLite file beside the data, in ``mdms_*`` tables that only this module
writes (through its own connection; the data read paths use a read-only one):

* ``mdms_parties``: name, role (``utility`` sees every supply point; ``third_party`` only
  what it has consent for), SHA-256 of its API key (the key itself is shown once, never stored).
* ``mdms_consents``: party, supply point, scope (``intervals``, ``events``, ``outages``), the
  period of data it covers (epoch s, JST on display; open end = no end), when granted and, once
  revoked, when. A revoked consent stays as a record.
* ``mdms_consent_log``: every grant and revocation (when, by whom).
* ``mdms_audit``: every request: when, who (party or "-"), method, path, query, status, reason.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .ids import parse

log = logging.getLogger("sumame.mdms")

ROLES = ("utility", "third_party")
SCOPES = ("intervals", "events", "outages")

SCHEMA = """
CREATE TABLE IF NOT EXISTS mdms_parties(
    name TEXT PRIMARY KEY, role TEXT NOT NULL, key_sha256 TEXT UNIQUE NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS mdms_consents(
    id INTEGER PRIMARY KEY, party TEXT NOT NULL, supply_point TEXT NOT NULL, scope TEXT NOT NULL,
    valid_from REAL NOT NULL, valid_to REAL, granted_at REAL NOT NULL, granted_by TEXT NOT NULL,
    revoked_at REAL, revoked_by TEXT);
CREATE TABLE IF NOT EXISTS mdms_consent_log(
    at REAL NOT NULL, consent INTEGER NOT NULL, action TEXT NOT NULL, by_party TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mdms_audit(
    at REAL NOT NULL, party TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT,
    status INTEGER NOT NULL, reason TEXT, ms REAL, client TEXT);
CREATE TABLE IF NOT EXISTS mdms_exports(
    id TEXT PRIMARY KEY, party TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, rows INTEGER,
    path TEXT, error TEXT, created_at REAL NOT NULL, done_at REAL);
"""


class AccessError(Exception):
    """Refused: ``status`` (401, 403, 404, 429) and a one-line reason for the caller."""

    def __init__(self, status: int, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.status, self.reason, self.retry_after = status, reason, retry_after


@dataclass(frozen=True)
class Party:
    name: str
    role: str

    @property
    def utility(self) -> bool:
        return self.role == "utility"


@dataclass(frozen=True)
class Consent:
    id: int
    party: str
    supply_point: str
    scope: tuple[str, ...]
    valid_from: float
    valid_to: float | None
    granted_at: float
    revoked_at: float | None

    def as_dict(self) -> dict:
        return {"id": self.id, "party": self.party, "supply_point": self.supply_point, "scope": list(self.scope),
                "valid_from": self.valid_from, "valid_to": self.valid_to, "granted_at": self.granted_at,
                "revoked_at": self.revoked_at, "active": self.revoked_at is None}


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class TokenBucket:
    """``rate`` requests/s on average, bursts up to ``burst``; per key (party or client)."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 if allowed, else the seconds until a request would be."""
        now = self.clock()
        with self._lock:
            tokens, last = self._state.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[who] = (tokens - 1, now)
                return 0.0
            self._state[who] = (tokens, now)
            return (1 - tokens) / self.rate


class Access:
    """The access tables of one store file (thread-safe; audit rows written in batches)."""

    def __init__(self, path: str | Path, *, rate: float = 50.0, burst: int = 100):
        self.db = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
        self.db.executescript(SCHEMA)
        self.db.commit()
        self.lock = threading.Lock()
        self.limiter = TokenBucket(rate, burst)
        self._audit: list[tuple] = []
        self._flushed = time.monotonic()
        self._parties: dict[str, Party] = {}

    def close(self) -> None:
        self.flush()
        with self.lock:
            self.db.close()

    # ---------------------------------------------------------------- parties and keys
    def add_party(self, name: str, role: str) -> str:
        """Create a party; returns its new API key (shown once)."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: one of {', '.join(ROLES)}")
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("party name: 1-64 letters, digits, '-' or '_'")
        key = "smk_" + secrets.token_urlsafe(24)
        with self.lock:
            try:
                self.db.execute("INSERT INTO mdms_parties VALUES (?,?,?,?)", (name, role, _hash(key), time.time()))
            except sqlite3.IntegrityError:
                raise ValueError(f"party {name!r} exists already") from None
            self.db.commit()
        return key

    def parties(self) -> list[Party]:
        with self.lock:
            return [Party(*r) for r in self.db.execute("SELECT name, role FROM mdms_parties ORDER BY name")]

    def authenticate(self, key: str | None) -> Party:
        if not key:
            raise AccessError(401, "no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        digest = _hash(key)
        party = self._parties.get(digest)
        if party is None:
            with self.lock:
                row = self.db.execute("SELECT name, role FROM mdms_parties WHERE key_sha256=?", (digest,)).fetchone()
            if row is None:
                raise AccessError(401, "unknown API key")
            party = self._parties[digest] = Party(*row)
        return party

    def throttle(self, who: str) -> None:
        wait = self.limiter.take(who)
        if wait:
            raise AccessError(429, f"rate limit {self.limiter.rate:g} requests/s (burst {self.limiter.burst}) "
                                   f"exceeded; retry in {wait:.2f} s", retry_after=wait)

    # ---------------------------------------------------------------- consent
    def grant(self, party: str, supply_point: str, scope=SCOPES, *, valid_from: float, valid_to: float | None,
              by: str) -> Consent:
        parse(supply_point)
        scope = tuple(scope)
        bad = [s for s in scope if s not in SCOPES]
        if bad or not scope:
            raise ValueError(f"scope {','.join(bad) or '(empty)'}: use some of {', '.join(SCOPES)}")
        if valid_to is not None and valid_to <= valid_from:
            raise ValueError("consent period: 'to' must be after 'from'")
        now = time.time()
        with self.lock:
            if self.db.execute("SELECT 1 FROM mdms_parties WHERE name=?", (party,)).fetchone() is None:
                raise ValueError(f"no party {party!r}")
            cur = self.db.execute("INSERT INTO mdms_consents(party, supply_point, scope, valid_from, valid_to,"
                                  " granted_at, granted_by) VALUES (?,?,?,?,?,?,?)",
                                  (party, supply_point, ",".join(scope), valid_from, valid_to, now, by))
            self.db.execute("INSERT INTO mdms_consent_log VALUES (?,?,?,?)", (now, cur.lastrowid, "grant", by))
            self.db.commit()
        log.info("consent %d granted: %s may read %s of %s (by %s)", cur.lastrowid, party, ",".join(scope),
                 supply_point, by)
        return self.consent(cur.lastrowid)

    def revoke(self, consent_id: int, *, by: str) -> Consent:
        now = time.time()
        with self.lock:
            cur = self.db.execute("UPDATE mdms_consents SET revoked_at=?, revoked_by=? WHERE id=? AND revoked_at"
                                  " IS NULL", (now, by, consent_id))
            if cur.rowcount:
                self.db.execute("INSERT INTO mdms_consent_log VALUES (?,?,?,?)", (now, consent_id, "revoke", by))
            self.db.commit()
        c = self.consent(consent_id)
        if c is None:
            raise KeyError(f"no consent {consent_id}")
        log.info("consent %d revoked by %s", consent_id, by)
        return c

    _COLS = "id, party, supply_point, scope, valid_from, valid_to, granted_at, revoked_at"

    def _row(self, r) -> Consent:
        return Consent(r[0], r[1], r[2], tuple(r[3].split(",")), *r[4:])

    def consent(self, consent_id: int) -> Consent | None:
        with self.lock:
            r = self.db.execute(f"SELECT {self._COLS} FROM mdms_consents WHERE id=?", (consent_id,)).fetchone()
        return None if r is None else self._row(r)

    def consents(self, party: str | None = None) -> list[Consent]:
        sql = f"SELECT {self._COLS} FROM mdms_consents" + (" WHERE party=?" if party else "") + " ORDER BY id"
        with self.lock:
            return [self._row(r) for r in self.db.execute(sql, (party,) if party else ())]

    def visible(self, party: Party, scope: str = "intervals") -> set[str] | None:
        """Supply points the party may read in ``scope`` (None: all, the utility)."""
        if party.utility:
            return None
        return {c.supply_point for c in self.consents(party.name) if c.revoked_at is None and scope in c.scope}

    def windows(self, party: Party, scope: str) -> dict[str, list[tuple[float, float | None]]] | None:
        """Per supply point, the data periods (epoch s, open end None) the party's live consents in
        ``scope`` cover (None: everything, the utility). Records dated outside them stay hidden."""
        if party.utility:
            return None
        out: dict[str, list[tuple[float, float | None]]] = {}
        for c in self.consents(party.name):
            if c.revoked_at is None and scope in c.scope:
                out.setdefault(c.supply_point, []).append((c.valid_from, c.valid_to))
        return out

    def check(self, party: Party, supply_point: str, scope: str, start: float | None = None,
              end: float | None = None) -> None:
        """Raise 403 unless ``party`` may read ``scope`` of ``supply_point`` over [start, end]."""
        if party.utility:
            return
        mine = [c for c in self.consents(party.name) if c.supply_point == supply_point]
        if not mine:
            raise AccessError(403, f"party {party.name} has no consent for supply point {supply_point}")
        live = [c for c in mine if c.revoked_at is None]
        if not live:
            raise AccessError(403, f"consent for supply point {supply_point} was revoked")
        live = [c for c in live if scope in c.scope]
        if not live:
            raise AccessError(403, f"consent for supply point {supply_point} does not cover {scope}")
        if not any((start is None or c.valid_from <= start) and (end is None or c.valid_to is None or end <= c.valid_to)
                   for c in live):
            raise AccessError(403, f"the period asked for is outside the consent for supply point {supply_point}")

    # ---------------------------------------------------------------- audit
    def audit(self, party: str, method: str, path: str, query: str, status: int, reason: str, ms: float,
              client: str) -> None:
        row = (time.time(), party, method, path[:512], query[:2048], status, reason[:512], round(ms, 3), client)
        log.info("%s %s %s?%s -> %d %s", party, method, path[:512], query[:256], status, reason[:200])
        with self.lock:
            self._audit.append(row)
            if len(self._audit) >= 200 or time.monotonic() - self._flushed > 1.0:   # at most 1 s unwritten
                self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._audit:
            self.db.executemany("INSERT INTO mdms_audit VALUES (?,?,?,?,?,?,?,?,?)", self._audit)
            self.db.commit()
            self._audit.clear()
        self._flushed = time.monotonic()

    def audit_rows(self, limit: int = 200) -> list[dict]:
        self.flush()
        cols = ("at", "party", "method", "path", "query", "status", "reason", "ms", "client")
        with self.lock:
            rows = self.db.execute(f"SELECT {', '.join(cols)} FROM mdms_audit ORDER BY rowid DESC LIMIT ?",
                                   (limit,)).fetchall()
        return [dict(zip(cols, r)) for r in rows]
