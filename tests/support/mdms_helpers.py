"""Helpers of the MDMS tests: a head-end store made by ``sumame hes fleet``, the ``sumame`` CLI,
``sumame hes serve`` as a real process on a free port, and a digest of the collected data."""
from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
DATA_TABLES = ("meters", "intervals", "outages", "polls", "commands", "meter_events", "counters")


def sumame(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env or ENV)


def fleet_store(path: Path, meters: int, days: float, outages: int = 1) -> Path:
    r = sumame("hes", "fleet", "--meters", meters, "--days", days, "--outages", outages, "--db", path)
    assert r.returncode == 0, r.stderr
    return path


def data_digest(path: Path) -> str:
    """SHA-256 over every row of the head-end's own tables (not the mdms_* access tables)."""
    h = hashlib.sha256()
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    for table in DATA_TABLES:
        for row in sorted(db.execute(f"SELECT * FROM {table}"), key=repr):
            h.update(repr(row).encode())
    db.close()
    return h.hexdigest()


class Server:
    """``sumame hes serve`` in a child process; ``url`` and the first-start ``utility_key``."""

    def __init__(self, db: Path, *extra):
        self.proc = subprocess.Popen([sys.executable, "-m", "sumame.tools.cli", "hes", "serve", "--db", str(db),
                                      "--listen", "127.0.0.1:0", *map(str, extra)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=ENV)
        self.utility_key, self.url, lines = None, None, []
        deadline = time.monotonic() + 60
        while self.url is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if m := re.match(r"api-key utility (\S+)", line):
                self.utility_key = m.group(1)
            if m := re.match(r"endpoint mdms-api (http://\S+)/v1", line):
                self.url = m.group(1)
        if self.url is None:
            self.proc.kill()
            raise AssertionError(f"serve did not start: {''.join(lines)} {self.proc.stderr.read()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
