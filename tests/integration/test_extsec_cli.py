"""``sumame hes cutoff|reconnect|extlog`` against ``sumame emulate`` over real loopback sockets:
a home device's ECHONET Lite datagrams are logged, cut off (refused at the meter) and let in
again; the log is printed with JST times; bad peers get a one-line error."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
pytestmark = pytest.mark.slow
GET = bytes.fromhex("1081000105ff010288016201e700")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sumame(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or ENV)


def test_cutoff_reconnect_and_extlog_from_the_command_line(tmp_path):
    env = {**ENV, "XDG_STATE_HOME": str(tmp_path / "state")}
    port = free_udp_port()
    emu = subprocess.Popen([sys.executable, "-m", "sumame.tools.cli", "emulate", "--headless", "--state-dir",
                            str(tmp_path / "meter"), "--duration", "60", "--dlms-port", "0", "--push", "none",
                            "--echonet-port", str(port), "--status-interval", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    home = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    home.bind(("127.0.0.1", 0))
    try:
        endpoint, keys = None, None
        deadline = time.monotonic() + 30
        while (endpoint is None or keys is None) and time.monotonic() < deadline:
            line = emu.stdout.readline()
            if line.startswith("endpoint dlms-tcp "):
                endpoint = line.split()[2]
            elif line.startswith("a-route-keys"):
                keys = line.split(None, 1)[1].strip()
        assert endpoint and keys and json.loads(Path(keys).read_text())
        common = ("--meter", f"tcp://{endpoint}", "--keys", keys)
        home.sendto(GET, ("127.0.0.1", port))
        time.sleep(0.5)
        cut = sumame("hes", "cutoff", *common, "--peer", "ip:127.0.0.1", env=env)
        assert cut.returncode == 0 and "cut off at the meter now: ip:127.0.0.1" in cut.stdout, cut.stderr
        home.sendto(GET, ("127.0.0.1", port))
        time.sleep(0.5)
        log = sumame("hes", "extlog", *common, "--peer", "ip:127.0.0.1", "--format", "csv", env=env)
        assert log.returncode == 0, log.stderr
        rows = [r.split(",") for r in log.stdout.strip().splitlines()]
        assert rows[0] == ["time_jst", "peer", "direction", "size_bytes", "verdict"]
        # the meter's answers go to 127.0.0.1 at its own ECHONET port (Part 2 §1.2), so on loopback
        # it receives its own datagrams: those are not a peer's frames and must not be logged as such
        ins = [r for r in rows[1:] if r[2] == "in"]
        assert all(r[3] == str(len(GET)) for r in ins), ins
        assert [r[4] for r in ins] == ["accepted", "cut-off"]
        assert all(r[0].endswith("JST") or "+09:00" in r[0] for r in ins), ins
        table = sumame("hes", "extlog", *common, "--refused", env=env)
        assert table.returncode == 0 and "ip:127.0.0.1" in table.stdout and "cut-off" in table.stdout
        back = sumame("hes", "reconnect", *common, "--peer", "ip:127.0.0.1", env=env)
        assert back.returncode == 0 and "cut off at the meter now: none" in back.stdout, back.stderr
        bad = sumame("hes", "cutoff", *common, "--peer", "nonsense", env=env)
        assert bad.returncode == 1 and "not a peer name" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        home.close()
        emu.terminate()
        rest = emu.communicate(timeout=20)[0]
    assert "ext-cut-off" in rest and "ext-reconnected" in rest
