"""Stopping the real-time fleet and the head-end (issue 15 point 4's races at the end of a run).

Each race is forced, not waited for:
* a stop signal that arrives right after a push left the fleet's socket (injected in the socket's
  ``sendto``): the push is counted, and the summary counts exactly the datagrams that left;
* a head-end frozen (SIGSTOP) while pushes pile up in its socket, then stopped: every datagram
  that arrived is taken and accounted for in its summary;
* ``sumame fleet --processes 2`` stopped by one SIGINT to the parent only (as ``Popen.send_signal``
  does): every process stops, within the documented bound.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.tools.fleet import cli as fleet_cli
from sumame.tools.fleet.realtime import RealtimeFleet, RealtimeSpec

CLI = [sys.executable, "-m", "sumame.tools.cli"]


class _SignalAfterSend:
    """The fleet's socket, but SIGINT reaches the process right after the ``nth`` datagram left."""

    def __init__(self, sock, nth: int):
        self._sock, self.nth, self.sent = sock, nth, 0

    def sendto(self, data, peer):
        n = self._sock.sendto(data, peer)
        self.sent += 1
        if self.sent == self.nth:
            os.kill(os.getpid(), signal.SIGINT)     # handled at the next bytecode: before counting
        return n

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _drain(sock) -> int:
    sock.setblocking(False)
    n = 0
    while True:
        try:
            sock.recvfrom(65535)
        except BlockingIOError:
            return n
        n += 1


def test_a_stop_signal_right_after_a_push_left_counts_that_push(tmp_path):
    hes = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hes.bind(("127.0.0.1", 0))
    fleet = RealtimeFleet(RealtimeSpec(meters=3, hes=f"127.0.0.1:{hes.getsockname()[1]}", state_dir=tmp_path,
                                       speed=900.0, push_window_s=10.0))
    fleet.mux.sock = _SignalAfterSend(fleet.mux.sock, nth=4)
    fleet.start()
    args = type("Args", (), {"duration": 60.0})()
    t0 = time.monotonic()
    try:
        fleet_cli._loop(fleet, args, lambda: None)
    except KeyboardInterrupt:
        pytest.fail("the stop signal was raised in the middle of the loop")
    stopped_in = time.monotonic() - t0
    counted = fleet.status()["pushes"]
    fleet.close()
    arrived = _drain(hes)
    hes.close()
    assert fleet.mux.sock.sent >= 4 and stopped_in < 30, (fleet.mux.sock.sent, stopped_in)
    assert counted == fleet.mux.sock.sent == arrived


def _summary(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("summary ")]
    assert lines, text[-2000:]
    return json.loads(lines[-1][len("summary "):])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_stopped_head_end_accounts_for_every_push_waiting_in_its_socket(tmp_path):
    port = _free_port()
    hes = subprocess.Popen(CLI + ["hes", "run", "--meter", "udp://127.0.0.1:9/256", "--derive-emulation-keys",
                                  "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "hes.sqlite"),
                                  "--timeout", "1", "--status-interval", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert hes.stdout.readline().startswith("sumame hes:")
        hes.send_signal(signal.SIGSTOP)          # the head-end falls behind (loaded machine) ...
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in range(200):                 # ... while pushes arrive (from no meter it knows)
                s.sendto(WrapperPdu(1, 1, b"\x0f" + k.to_bytes(4, "big") + b"\x00" * 20).encode(),
                         ("127.0.0.1", port))
        hes.send_signal(signal.SIGINT)           # ... and is stopped before it read them
        hes.send_signal(signal.SIGCONT)
        out, err = hes.communicate(timeout=60)
    finally:
        if hes.poll() is None:
            hes.kill()
            hes.wait()
    assert hes.returncode == 0, err[-2000:]
    s = _summary(out)
    assert s.get("udp_drops", 0) == 0
    assert s.get("pushes_unknown_sender", 0) == 200, s


def test_one_sigint_to_the_parent_stops_every_fleet_process_within_the_bound(tmp_path):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    fleet = subprocess.Popen(CLI + ["fleet", "--meters", "6", "--processes", "2", "--push-interval", "4",
                                    "--hes", f"127.0.0.1:{sink.getsockname()[1]}", "--state-dir", str(tmp_path),
                                    "--status-interval", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in fleet.stdout:                # the status line: both processes are up
            if "meters up 6/6" in line:
                break
        t0 = time.monotonic()
        fleet.send_signal(signal.SIGINT)
        out, err = fleet.communicate(timeout=60)
        stopped_in = time.monotonic() - t0
    finally:
        sink.close()
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait()
    assert fleet.returncode == 0, err[-2000:]
    assert stopped_in < 1.0 + 0.5 * 6 / 1000 + 5.0, stopped_in     # the bound in the docstring + start-up slack
    assert _summary(out)["up"] == 6
