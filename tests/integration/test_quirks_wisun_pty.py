"""Issue 17, Wi-SUN surface on a real pty (pyserial, as HEMS software opens the dongle):
dongle-wedge with recover=replug kills the port the way the field saw it (pyserial's "device
reports readiness to read but returned no data" / a read error), and the re-plugged stick answers
again on the same path; a profile attached to the served world acts on the pty bytes."""
from __future__ import annotations

import time

import pytest
import serial

from sumame.drivers.emulated.quirks.registry import make
from sumame.drivers.emulated.quirks.wisun_hooks import attach, detach
from sumame.drivers.emulated.wisun.world import build_wisun_world


@pytest.fixture
def world(tmp_path):
    w = build_wisun_world(mode="fast", seed=3, hems_link=str(tmp_path / "hems-dongle"),
                          meter_link=str(tmp_path / "meter-dongle"))
    w.start()
    yield w
    w.close()


def _ask(port, line: bytes, want: bytes, timeout_s: float = 3.0) -> bytes:
    port.write(line)
    got = b""
    deadline = time.monotonic() + timeout_s
    while want not in got and time.monotonic() < deadline:
        got += port.read(256)
    return got


def test_wedge_replug_kills_the_port_and_the_stick_comes_back(world):
    q = make("dongle-wedge", {"after_n_cmds": "2", "recover": "replug", "replug_s": "1.0"})
    attach(world, q)
    port = serial.Serial(world.hems_path, 115200, timeout=0.2)
    assert b"EVER" in _ask(port, b"SKVER\r\n", b"OK\r\n")
    with pytest.raises(serial.SerialException):
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            port.read(256)
            port.write(b"SKINFO\r\n")
    port.close()
    assert q.wedged and q.wedges == 1
    time.sleep(1.2)
    port = serial.Serial(world.hems_path, 115200, timeout=0.2)    # the same path, a fresh stick
    try:
        assert b"EVER" in _ask(port, b"SKVER\r\n", b"OK\r\n")
    finally:
        port.close()
    assert not q.wedged


def test_link_quality_on_the_served_hems_dongle_sets_epandesc_lqi(world):
    attach(world, make("link-quality", {"rssi_dbm": "-90", "loss_pct": "0"}))
    port = serial.Serial(world.hems_path, 115200, timeout=0.2)
    try:
        meter = serial.Serial(world.meter_path, 115200, timeout=0.2)
        try:
            for line in (b"SKSETPWD C 0123456789AB\r\n", b"SKSETRBID 0123456789ABCDEF0123456789ABCDEF\r\n",
                         b"SKSREG S2 21\r\n", b"SKSREG S3 8888\r\n", b"SKSTART\r\n"):
                assert b"OK" in _ask(meter, line, b"OK\r\n")
        finally:
            meter.close()
        out = _ask(port, b"SKSCAN 3 FFFFFFFF 3 0\r\n", b"EVENT 22", timeout_s=10)
    finally:
        port.close()
        detach(world, "link-quality")
    assert b"EPANDESC" in out and b"LQI:34" in out        # (-90 + 104.27) / 0.275 = 51.9 -> 0x34


def test_profiles_switched_on_at_the_engine_act_on_the_served_hems_dongle(world):
    from sumame.drivers.emulated.quirks.engine import QuirkEngine
    from sumame.drivers.emulated.quirks.wisun_hooks import hems_quirks

    engine = QuirkEngine(world.timeline)
    hems_quirks(world, engine).follow()
    engine.enable("dongle-wedge", {"after_n_cmds": "1", "mode": "er10"})
    port = serial.Serial(world.hems_path, 115200, timeout=0.2)
    try:
        assert b"EVER" in _ask(port, b"SKVER\r\n", b"OK\r\n")
        assert b"FAIL ER10" in _ask(port, b"SKVER\r\n", b"FAIL ER10\r\n")
        engine.disable("dongle-wedge")
        time.sleep(0.7)                                   # the dongle follows the engine
        assert b"EVER" in _ask(port, b"SKVER\r\n", b"OK\r\n")
    finally:
        port.close()
    report = engine.report()
    assert any(e["quirk"] == "dongle-wedge" and "ER10" in e["detail"] for e in report["log"])
