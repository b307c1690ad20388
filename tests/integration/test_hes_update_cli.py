"""`sumame hes update` against `sumame emulate` over real TCP: a refused unsigned image, then a
signed one that the meter boots on trial, self-tests and commits; the emulator's restart keeps it."""
import os
import socket
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.lifecycle, pytest.mark.slow]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sumame(*args, env=ENV, timeout=240):
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_hes_update_over_tcp(tmp_path):
    env = {**ENV, "XDG_STATE_HOME": str(tmp_path / "state")}
    image = tmp_path / "fw.img"
    assert sumame("firmware", "build", "--target", "lv", "--version", "0.9.0", "--security-version", "2",
                  "--build-id", "cli-e2e", "--out", str(image)).returncode == 0
    port = free_port()
    emu = subprocess.Popen([sys.executable, "-m", "sumame.tools.cli", "emulate", "--headless", "--state-dir",
                            str(tmp_path / "meter"), "--duration", "300", "--speed", "20",
                            "--dlms-port", str(port), "--push", "none",
                            "--echonet-port", str(free_port(socket.SOCK_DGRAM)), "--status-interval", "600"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if emu.stdout.readline().startswith("endpoint dlms-tcp "):
                break
        meter = f"tcp://127.0.0.1:{port}"
        keys = ["--keys", str(tmp_path / "meter" / "a-route-keys.json")]
        unsigned = sumame("hes", "update", "--meter", meter, "--image", str(image), *keys, env=env)
        assert unsigned.returncode == 1 and "verification failed, newest firmware security event: image-refused" \
            in unsigned.stdout, unsigned.stdout + unsigned.stderr
        assert sumame("firmware", "sign", str(image), "--emulation-key").returncode == 0
        ok = sumame("hes", "update", "--meters", meter, "--share", "1", "--image", str(image),
                    "--settle-timeout", "120", *keys, env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "blocks " in ok.stdout and f"{meter}: updated" in ok.stdout
        assert "1 of 1 meter(s) updated, 0 failed" in ok.stdout
    finally:
        emu.terminate()
        rest = emu.communicate(timeout=30)[0]
    assert "image-refused" in rest and "firmware-committed" in rest and "0.9.0 (cli-e2e, slot B)" in rest
    again = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "emulate", "--headless", "--state-dir",
                            str(tmp_path / "meter"), "--duration", "2", "--push", "none", "--dlms-port", "0",
                            "--echonet-port", str(free_port(socket.SOCK_DGRAM))],
                           capture_output=True, text=True, env=env, timeout=60)
    assert "running 0.9.0 (cli-e2e, slot B)" in again.stdout, again.stdout[-2000:]
