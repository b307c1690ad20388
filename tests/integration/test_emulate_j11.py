"""`sumame emulate --dongle-personality j11`, run as a user would: the HEMS dongle on the pty
speaks the J11 binary UART; drivers/j11.py joins the running meter through it and reads E7."""
from __future__ import annotations

import signal
import subprocess
import sys

from sumame.drivers.j11 import J11Modem

CLI = [sys.executable, "-m", "sumame.tools.cli"]
RBID, PASSWORD = "00112233445566778899AABBCCDDEEFF", "SUMAMEPASS01"      # boards/emulated-lv.toml
GET_E7 = bytes.fromhex("1081004205ff010288016201e700")


def test_emulate_serves_a_j11_dongle(tmp_path):
    # an import-only household: the watts are > 0 at any hour (the board's residential profile has 4 kW of
    # PV, which exports on a sunny JST morning)
    proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", str(tmp_path), "--profile", "residential-no-pv", "--dongle-personality",
                             "j11", "--status-interval", "1000", "--echonet-ip", "127.0.0.11", "--dlms-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline()]
        while lines[-1].startswith(("sumame emulate", "endpoint", "route-b")):
            lines.append(proc.stdout.readline())
        path = next(line.split()[2] for line in lines if line.startswith("endpoint hems-dongle"))
        modem = J11Modem(path, timeout_s=10)
        try:
            link = modem.connect(RBID, PASSWORD)
            assert modem.get_initial().channel == link.channel
            assert modem.send_udp(link.address, GET_E7).sent
            answer = modem.receive(15, port=3610)
            while answer.payload[2:4] != GET_E7[2:4]:            # skip the meter's own INF
                answer = modem.receive(15, port=3610)
        finally:
            modem.close()
        frame = answer.payload
        assert answer.encrypted and frame[4:7] == bytes.fromhex("028801") and frame[10] == 0x72
        assert frame[12:14] == b"\xe7\x04" and 0 < int.from_bytes(frame[14:18], "big", signed=True) < 30000
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
