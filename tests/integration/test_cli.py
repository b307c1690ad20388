"""The sumame command line, run as a user would (a subprocess)."""
import csv
import re
import signal
import subprocess
import sys
import time

import pytest

CLI = [sys.executable, "-m", "sumame.tools.cli"]


def sumame(*args, timeout=120, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_simulate_prints_a_summary_and_writes_csv(tmp_path):
    out = tmp_path / "intervals.csv"
    r = sumame("simulate", "--board", "emulated-lv", "--days", "0.25", "--csv", str(out), "--grid", "30")
    assert r.returncode == 0, r.stderr
    assert "energy        forward" in r.stdout and "speed-up" in r.stdout
    assert "progress 100%" in r.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 and rows[0]["interval_end_jst"] == "2026-04-01 00:30"
    assert all(float(row["forward_kwh"]) >= 0 for row in rows)


def test_simulate_hv_board_and_plot(tmp_path):
    png = tmp_path / "plot.png"
    r = sumame("simulate", "--board", "emulated-hv", "--days", "0.2", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert "x240 coefficient" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["simulate", "--days", "-1"], "must be > 0"),
    (["simulate", "--start", "tomorrow"], "expected a date"),
    (["simulate", "--board", "emulated-zz"], "unknown board"),
    (["simulate", "--profile", "hurricane"], "unknown load profile"),
    (["bench", "no-such-bench"], "unknown benchmark"),
    (["emulate", "--speed", "0"], "--speed must be > 0"),
])
def test_bad_arguments_get_one_clear_error(args, message):
    r = sumame(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_csv_profile_names_the_line(tmp_path):
    bad = tmp_path / "load.csv"
    bad.write_text("2026-01-01T00:00,100,0,101\n2026-01-01T00:01,lots,0,101\n")
    r = sumame("simulate", "--days", "0.01", "--profile", str(bad))
    assert r.returncode == 2 and f"{bad}:2" in r.stderr


def test_bad_board_file_names_file_and_key(tmp_path):
    board = tmp_path / "mine.toml"
    board.write_text((__import__("sumame.boards", fromlist=["BOARD_DIR"]).BOARD_DIR / "emulated-lv.toml")
                     .read_text().replace("days_5 = 10", "days_5 = -3"))
    r = sumame("simulate", "--board", str(board), "--days", "0.01")
    assert r.returncode == 2
    assert str(board) in r.stderr and "[registers] days_5" in r.stderr


def status_values(text):
    return [float(m) for m in re.findall(r"forward=([\d,.]+) kWh", text.replace(",", ""))]


def test_emulate_headless_restart_continues(tmp_path):
    args = ["emulate", "--headless", "--state-dir", str(tmp_path), "--speed", "120",
            "--status-interval", "60", "--duration", "3"]
    first = sumame(*args, "--dongle-personality", "bp35a1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("sumame emulate: board emulated-lv")
    assert f"endpoint hems-dongle {tmp_path}/hems-dongle\n" in first.stdout
    assert "route-b-id 00112233445566778899AABBCCDDEEFF\n" in first.stdout
    assert "route-b-password SUMAMEPASS01\n" in first.stdout
    assert (tmp_path / "route-b-qr.png").read_bytes()[:4] == b"\x89PNG"
    assert "stopped; meter state kept" in first.stdout
    second = sumame(*args)
    assert second.returncode == 0, second.stderr
    assert "snapshots restored" in second.stdout
    a, b = status_values(first.stdout), status_values(second.stdout)
    assert a and b and b[0] >= a[-1]


def test_emulate_stops_cleanly_on_ctrl_c(tmp_path):
    proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", str(tmp_path), "--speed", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    line = ""
    while time.time() < deadline and not line.startswith("status"):
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "orderly shutdown" in out and "Traceback" not in err


def test_second_emulator_on_the_same_state_is_refused(tmp_path):
    proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        r = sumame("emulate", "--headless", "--state-dir", str(tmp_path), "--duration", "1")
        assert r.returncode == 2 and "another sumame emulate is running" in r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_bench_quick_prints_figures():
    r = sumame("bench", "--quick", "core-scheduler")
    assert r.returncode == 0, r.stderr
    assert re.search(r"scheduler context switches\s+[\d,.]+ switches/s", r.stdout)


def test_ctl_operates_a_running_emulator(tmp_path):
    proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", str(tmp_path), "--speed", "20",
                             "--status-interval", "1000", "--echonet-ip", "127.0.0.9", "--dlms-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline()]
        while lines[-1].startswith(("sumame emulate", "endpoint")):
            lines.append(proc.stdout.readline())
        assert f"endpoint control unix:{tmp_path}/control.sock\n" in lines, lines
        assert "endpoint echonet-udp 127.0.0.9:3610\n" in lines
        ctl = ["ctl", "--state-dir", str(tmp_path)]
        r = sumame(*ctl, "swap", "wisun-wifi")
        assert r.returncode == 0 and "swapping slot comms to wisun-wifi" in r.stdout
        r = sumame(*ctl, "load", "9000", "60")
        assert r.returncode == 0
        deadline = time.time() + 60
        events = ""
        while time.time() < deadline:     # the trip is in the event log (a status poll could miss
            events = sumame(*ctl, "events", "50").stdout       # the short open window under load)
            if "switch-trip" in events:
                break
            time.sleep(0.5)
        assert "switch-trip" in events, events
        status = __import__("json").loads(sumame(*ctl, "status").stdout)
        assert status["comms"][0]["model"] == "wi-sun + wi-fi b-route"
        bad = sumame(*ctl, "swap", "no-such-unit")
        assert bad.returncode == 1 and "unknown comms unit" in bad.stderr
        for _ in range(4):      # one HEMS controller to the meter's 3-device limit, call after call
            hems = sumame("hems", "--ip", "127.0.0.9", "get", "E7")
            assert hems.returncode == 0 and " W" in hems.stdout, hems.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "switch-trip" in out and "comms-swap" in out


def test_ctl_without_an_emulator_says_so(tmp_path):
    r = sumame("ctl", "--state-dir", str(tmp_path), "status")
    assert r.returncode == 2 and "no emulator is listening" in r.stderr


def test_emulate_runs_the_iot_route_with_emulated_terminals(tmp_path):
    r = sumame("emulate", "--headless", "--state-dir", str(tmp_path), "--speed", "60", "--status-interval", "2",
               "--duration", "6", "--iot-gas", "1", "--iot-water", "1")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^endpoint iot-ehan eui64:[0-9A-F]{16} \(3 terminals on the allow-list\)$", r.stdout, re.M)
    assert "iot-joined" in r.stdout and "(2 hop(s))" in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("status-iot-route ")]
    assert lines and lines[-1].startswith("status-iot-route 3/3 joined")
    assert any(ln.startswith("status-terminals GAS00001 gas joined") for ln in r.stdout.splitlines())
