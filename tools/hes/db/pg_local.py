"""A throwaway PostgreSQL server for tests and benches: Debian's binaries
(``/usr/lib/postgresql/*/bin``), ``initdb`` + ``pg_ctl`` into a private temporary directory,
listening on a unix socket in that directory only (no TCP port), trust auth for its one role.

As root (PostgreSQL refuses to run as root) the server runs as the ``postgres`` system user that
Debian's package creates. ``LocalPostgres().start()`` -> object with ``url(dbname)`` and
``create_database(name)``; ``stop()`` removes everything.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

ROLE = "sumame"


def pg_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` that has ``pg_ctl`` (None when not installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    ctl = shutil.which("pg_ctl")
    return Path(ctl).parent if ctl else None


class LocalPostgres:
    def __init__(self, *, fsync: bool = False):
        self.fsync = fsync          # off for tests (a crash loses only a throwaway server)
        self.bin = pg_bin_dir()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
        self.dir: Path | None = None
        self._user: list[str] = []

    def _run(self, *cmd: str, timeout: float = 60.0) -> None:
        r = subprocess.run([*self._user, *cmd], capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {(r.stderr or r.stdout).strip()[-400:]}")

    def start(self) -> "LocalPostgres":
        self.dir = Path(tempfile.mkdtemp(prefix="sumame-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root needs the 'postgres' user (Debian's postgresql package)") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._user = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", ROLE, "--auth=trust", "--locale=C",
                  "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.dir} -c fsync={'on' if self.fsync else 'off'} "
                "-c max_connections=40 -c shared_buffers=32MB")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(self.dir / "log"),
                  "-o", opts, "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql:///{dbname}?host={self.dir}&user={ROLE}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
