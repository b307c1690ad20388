"""Run Python code in a private network namespace the test creates (``unshare -n``).

Inside: ``lo`` up with multicast on, 127.0.0.1/8 and ::1, the extra ``addrs`` given, and the
IPv4/IPv6 multicast routes on ``lo`` so that clients which insist on 0.0.0.0:3610 / [::]:3610
and the group 224.0.23.0 / ff02::1 never meet the host's (or another test's) sockets.

    res = run_in_netns(code, addrs=("fd00:3610::2/128",), timeout=60)
    data = last_json(res)          # the code prints one JSON object as its last line

As root ``unshare -n``; otherwise ``unshare -rn`` (a user namespace) when the kernel allows it.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent

_PRELUDE = r'''
import subprocess, sys, time
def _ip(*a):
    return subprocess.run(["ip", *a], check=True, capture_output=True, text=True).stdout
_ip("link", "set", "lo", "up")
_ip("link", "set", "lo", "multicast", "on")
for _a in __ADDRS__:
    _ip("-6" if ":" in _a else "-4", "addr", "add", _a, "dev", "lo", *(("nodad",) if ":" in _a else ()))
_veth = __VETH__
if _veth:   # a link with two ends, v0 (meter side) and v1 (client side): IPv6 multicast works there
    _ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
    for _dev, _a in zip(("v0", "v1"), _veth):
        _ip("link", "set", _dev, "up")
        _ip("-6", "addr", "add", _a, "dev", _dev, "nodad")
for _dst, _src in __SOURCES__.items():   # packets to _dst leave from _src (not from _dst itself)
    for _ in range(200):
        if "proto kernel" in _ip("-6", "route", "show", "table", "local", _dst):
            break
        time.sleep(0.01)
    _ip("-6", "route", "del", "local", _dst, "dev", "lo", "table", "local")
    _ip("-6", "route", "add", "local", _dst, "dev", "lo", "table", "local", "src", _src)
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


def run_in_netns(code: str, *, addrs=(), sources: dict | None = None, veth=None,
                 timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """``addrs``: extra "addr/len" on lo. ``sources``: {IPv6 dst: src} so that a client sending
    to a meter address on the same lo leaves from its own address (as across a real link).
    ``veth``: ("addr/len" of v0, "addr/len" of v1) to create a veth pair (lo has no IPv6
    multicast)."""
    argv = unshare_argv()
    if argv is None:
        raise RuntimeError("cannot create a network namespace here (unshare -n / -rn refused)")
    prelude = _PRELUDE.replace("__ADDRS__", repr(tuple(addrs))).replace("__SUPPORT__", repr(str(SUPPORT))).replace("__SOURCES__", repr(dict(sources or {}))).replace("__VETH__", repr(tuple(veth or ())))
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


CLONE_NEWNET = 0x40000000


class PrivateNetwork:
    """This thread (and every process or thread it starts meanwhile) in a fresh network
    namespace with only ``lo`` up, then back in the original one (root only: ``unshare`` and
    ``setns`` of the calling thread). For code that must run in-process but opens servers it
    cannot bind to loopback itself (a local Ray: its gRPC servers listen on every address, and
    it probes a public resolver to find its own address)."""

    def __init__(self):
        self.active = False
        self._home = None

    def __enter__(self) -> "PrivateNetwork":
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return self
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if libc.unshare(CLONE_NEWNET) != 0:
            os.close(home)
            return self
        self._libc, self._home, self.active = libc, home, True
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        return self

    def __exit__(self, *exc) -> None:
        if self._home is not None:
            if self._libc.setns(self._home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host network namespace failed")
            os.close(self._home)
            self._home, self.active = None, False


def private_network_reason() -> str | None:
    """Why PrivateNetwork cannot isolate here (None when it can)."""
    if os.geteuid() != 0:
        return "not root: a private network namespace for the in-process Ray needs unshare/setns"
    if shutil.which("ip") is None:
        return "no ip(8) to bring lo up in the private network namespace"
    return None
