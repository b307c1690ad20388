"""Quirks switched the three ways a user does: ``sumame emulate --quirk`` at start, ``sumame ctl
quirk`` while it runs, and the report written at exit (JSON + plot)."""
import json
import signal
import subprocess
import sys

CLI = [sys.executable, "-m", "sumame.tools.cli"]


def sumame(*args, timeout=60):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_quirks_from_the_command_line_control_socket_and_report(tmp_path):
    report = tmp_path / "quirks.json"
    # an import-only household: the watts are > 0 at any hour (the board's residential profile has 4 kW of
    # PV, which exports on a sunny JST morning)
    proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", str(tmp_path), "--profile", "residential-no-pv", "--status-interval",
                             "1000", "--echonet-ip", "127.0.0.11", "--dlms-port", "0", "--air-mode", "fast",
                             "--quirk", "values:reverse_flow=true", "--quirk-report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        while line.startswith(("sumame emulate", "endpoint", "route-b", "a-route")):
            line = proc.stdout.readline()
        ctl = ["ctl", "--state-dir", str(tmp_path)]
        listed = sumame(*ctl, "quirk", "list")
        assert listed.returncode == 0 and "values(" in listed.stdout
        hems = sumame("hems", "--ip", "127.0.0.11", "get", "E7")
        assert hems.returncode == 0 and "-" in hems.stdout          # reverse flow: negative watts
        on = sumame(*ctl, "quirk", "silent-spell", "on", "duration_s=600")
        assert on.returncode == 0 and "silent-spell" in on.stdout
        silent = sumame("hems", "--ip", "127.0.0.11", "get", "E7")
        assert silent.returncode != 0                                 # no answer at all
        assert sumame(*ctl, "quirk", "silent-spell", "off").returncode == 0
        assert sumame("hems", "--ip", "127.0.0.11", "get", "E7").returncode == 0
        bad = sumame(*ctl, "quirk", "opc-cap", "on", "max_opc=0")
        assert bad.returncode == 1 and "must be between 1 and 20" in bad.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data = json.loads(report.read_text())
    assert data["profiles"]["values"]["fired"] >= 1
    assert any(e["quirk"] == "silent-spell" and e["what"] == "dropped" for e in data["log"])
    assert data["traffic"]["requests"] >= 3 and report.with_suffix(".png").exists()
    assert f"quirk report {report}" in out
