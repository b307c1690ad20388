"""Run Python code in a private network namespace the test creates (``unshare -n``).

Inside: ``lo`` up with multicast on, 127.0.0.1/8 and ::1, the extra ``addrs`` given, and the
IPv4/IPv6 multicast routes on ``lo`` so that clients which insist on 0.0.0.0:3610 / [::]:3610
and the group 224.0.23.0 / ff02::1 never meet the host's (or another test's) sockets.

    res = run_in_netns(code, addrs=("fd00:3610::2/128",), timeout=60)
    data = last_json(res)          # the code prints one JSON object as its last line

As root ``unshare -n``; otherwise ``unshare -rn`` (a user namespace) when the kernel allows it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent

_PRELUDE = r'''
import subprocess, sys
def _ip(*a):
    subprocess.run(["ip", *a], check=True, capture_output=True)
_ip("link", "set", "lo", "up")
_ip("link", "set", "lo", "multicast", "on")
for _a in __ADDRS__:
    _ip("-6" if ":" in _a else "-4", "addr", "add", _a, "dev", "lo")
_ip("route", "add", "224.0.0.0/4", "dev", "lo")
_ip("-6", "route", "add", "ff00::/8", "dev", "lo", "table", "local")
sys.path.insert(0, __SUPPORT__)
'''


def unshare_argv() -> list[str] | None:
    """The unshare command that gives a new network namespace here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    argv = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    try:
        ok = subprocess.run([*argv, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return argv if ok else None


def run_in_netns(code: str, *, addrs=(), timeout: float = 60, env: dict | None = None
                 ) -> subprocess.CompletedProcess:
    argv = unshare_argv()
    if argv is None:
        raise RuntimeError("cannot create a network namespace here (unshare -n / -rn refused)")
    prelude = _PRELUDE.replace("__ADDRS__", repr(tuple(addrs))).replace("__SUPPORT__", repr(str(SUPPORT)))
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*argv, sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=timeout, cwd=str(REPO), env=full_env)


def last_json(res: subprocess.CompletedProcess) -> dict:
    """The JSON object the code printed last; fails with the child's stderr when there is none."""
    for line in reversed(res.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no JSON result (exit {res.returncode}); stderr:\n{res.stderr[-3000:]}"
                         f"\nstdout:\n{res.stdout[-2000:]}")
