"""The head-end's key store: A-route keys per meter serial, in the key files ``sumame hes --keys``
reads, with the renewal state a power cut must not lose.

File format (JSON, mode 0600; the file ``sumame emulate`` writes is a valid one):

    {"SERIAL": {"system_title": hex, "ek": hex, "ak": hex, "lls_password": text,
                "kek": hex,                               # master key (key wrap); optional
                "route_b_id": 32 hex, "route_b_password": 12 chars,        # optional
                "pending": {"ek": hex, "ak": hex, "route_b_id": ..., "route_b_password": ...}}}

A renewal writes ``pending`` (durable, fsync + rename) BEFORE it sends anything; the meter's
confirmation (an association that works with the new keys) promotes it to the current keys.
A head-end that is cut in between still holds both pairs: a session that the meter refuses with
the current keys retries with the pending ones and promotes them when they work
(``confirm``), so the head-end never ends up without the keys the meter uses.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from sumame.firmware.routes.aroute.keys import ARouteSecrets


class KeyStoreError(ValueError):
    """An unreadable or malformed key file, or a meter it has no entry for."""


def _secrets(entry: dict, over: dict | None = None) -> ARouteSecrets:
    over = over or {}
    return ARouteSecrets(bytes.fromhex(entry["system_title"]), bytes.fromhex(over.get("ek", entry["ek"])),
                         bytes.fromhex(over.get("ak", entry["ak"])), entry.get("lls_password", "").encode())


class KeyStore:
    """Entries of one or more key files; every change is written back to the file the meter's
    entry came from (``default_path`` for new meters)."""

    def __init__(self, paths: list[Path], default_path: Path | None = None):
        self.paths = [Path(p) for p in paths]
        self.default_path = Path(default_path) if default_path else (self.paths[0] if self.paths else None)
        self.tables: dict[Path, dict] = {}
        self.home: dict[str, Path] = {}
        for path in self.paths:
            self.tables[path] = table = self._read(path)
            for serial in table:
                self.home[serial] = path

    @staticmethod
    def _read(path: Path) -> dict:
        if not path.exists():
            return {}
        try:
            table = json.loads(path.read_text())
            if not isinstance(table, dict):
                raise TypeError("top level is not an object")
            for serial, k in table.items():
                _secrets(k)
                for p in ("pending",):
                    if p in k:
                        _secrets(k, k[p])
        except OSError as exc:
            raise KeyStoreError(f"{path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"{path}: not a key file ({type(exc).__name__}: {exc})") from None
        return table

    # ---------------------------------------------------------------- reading
    def __contains__(self, serial: str) -> bool:
        return serial in self.home

    def entry(self, serial: str) -> dict:
        if serial not in self.home:
            raise KeyStoreError(f"no A-route keys for meter {serial} in "
                                f"{', '.join(map(str, self.paths)) or 'no key file'}")
        return self.tables[self.home[serial]][serial]

    def current(self, serial: str) -> ARouteSecrets:
        return _secrets(self.entry(serial))

    def pending(self, serial: str) -> ARouteSecrets | None:
        e = self.entry(serial) if serial in self.home else {}
        return _secrets(e, e["pending"]) if "pending" in e and "ek" in e["pending"] else None

    def kek(self, serial: str) -> bytes | None:
        k = self.entry(serial).get("kek")
        return bytes.fromhex(k) if k else None

    # ---------------------------------------------------------------- writing (durable on return)
    def _save(self, serial: str) -> None:
        path = self.home[serial]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.tables[path], fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def put(self, serial: str, entry: dict) -> None:
        """Add or replace a meter's entry (provisioning)."""
        if serial not in self.home:
            if self.default_path is None:
                raise KeyStoreError("no key file to store the keys in (pass --keys FILE)")
            self.home[serial] = self.default_path
            self.tables.setdefault(self.default_path, self._read(self.default_path))
        self.tables[self.home[serial]][serial] = entry
        self._save(serial)

    def begin(self, serial: str, **pending) -> None:
        """Record the keys / route-B pair about to be sent (hex / text values)."""
        self.entry(serial)["pending"] = dict(pending)
        self._save(serial)

    def commit(self, serial: str) -> None:
        """The meter confirmed: the pending values become the current ones."""
        e = self.entry(serial)
        e.update(e.pop("pending", {}))
        self._save(serial)

    def commit_part(self, serial: str, *names: str) -> None:
        """The meter confirmed part of the pending values (e.g. the route-B pair): make them current."""
        e = self.entry(serial)
        pending = e.get("pending", {})
        e.update({n: pending.pop(n) for n in names if n in pending})
        self._save(serial)

    def abandon(self, serial: str, keep: tuple[str, ...] = ()) -> None:
        """The meter kept its old keys: forget the pending ones (but the values named in ``keep``:
        a session with the old A-route keys says nothing about a route-B pair sent with them)."""
        e = self.entry(serial)
        pending = e.pop("pending", None)
        if pending is None:
            return
        kept = {k: v for k, v in pending.items() if k in keep}
        if kept:
            e["pending"] = kept
        self._save(serial)

    def confirm(self, serial: str, secrets: ARouteSecrets) -> None:
        """A session worked with ``secrets``: make them current (commit when they are the pending ones)."""
        pending = self.pending(serial)
        if pending is not None and (pending.ek, pending.ak) == (secrets.ek, secrets.ak):
            self.commit(serial)
        elif (self.current(serial).ek, self.current(serial).ak) == (secrets.ek, secrets.ak):
            self.abandon(serial, keep=("route_b_id", "route_b_password"))

    def unresolved_route_b(self, serial: str) -> tuple[str, str] | None:
        """A route-B pair sent to the meter whose fate is unknown (answer lost): the next renewal
        reads the meter's ID to settle it (tools/hes/lifecycle/rekey.py)."""
        p = self.entry(serial).get("pending", {}) if serial in self.home else {}
        return (p["route_b_id"], p["route_b_password"]) if "route_b_id" in p and "ek" not in p else None
