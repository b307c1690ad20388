"""``sumame fleet`` on the command line: --processes splits the meters over processes, each with
its own UDP socket (distinct ports, wPorts from 256 in each), one merged endpoint list and key
file; a process cannot address more meters than the wrapper's wPort space holds."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

CLI = [sys.executable, "-m", "sumame.tools.cli"]


def test_too_many_meters_for_one_socket_is_one_clear_line(tmp_path):
    out = subprocess.run(CLI + ["fleet", "--meters", "100000", "--hes", "127.0.0.1:9", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "need --processes 2 or more" in out.stderr and "Traceback" not in out.stderr


def test_two_processes_one_socket_each(tmp_path):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    try:
        out = subprocess.run(CLI + ["fleet", "--meters", "6", "--processes", "2", "--push-interval", "4",
                                    "--hes", f"127.0.0.1:{sink.getsockname()[1]}", "--state-dir", str(tmp_path),
                                    "--duration", "10", "--status-interval", "2"],
                             capture_output=True, text=True, timeout=120)
    finally:
        sink.close()
    assert out.returncode == 0, out.stderr
    targets = (tmp_path / "meters.txt").read_text().split()
    assert len(targets) == 6
    ports = {t.rsplit("/", 1)[0] for t in targets}
    assert len(ports) == 2
    assert sorted(int(t.rsplit("/", 1)[1]) for t in targets) == [256, 256, 257, 257, 258, 258]
    keys = json.loads((tmp_path / "a-route-keys.json").read_text())
    assert len(keys) == 6 and len({k["ek"] for k in keys.values()}) == 6
    summary = json.loads(next(line for line in out.stdout.splitlines()[::-1] if line.startswith("summary "))[8:])
    assert summary["booted"] == 6 and summary["up"] == 6 and summary["pushes"] >= 6
