"""Raspberry Pi parts without a Pi: the Pi boards, dongle discovery, the IRQ pin as a file
descriptor (gpiozero MockFactory), calibration with a known load (emulated chip off by 4 %)."""
from __future__ import annotations

import re
import select
import subprocess
import sys
from types import SimpleNamespace

import pytest
from gpiozero.pins.mock import MockFactory

from sumame.boards import load_board
from sumame.drivers.dongle_discovery import KNOWN_DONGLES, candidates, find_dongle
from sumame.hal.errors import DeviceNotFound


def test_pi_boards_pick_the_real_drivers():
    lv, hv = load_board("rpi-lv"), load_board("rpi-hv")
    assert lv["asic"]["driver"] == "atm90e32" and lv["asic"]["spi_speed_hz"] <= 200_000
    assert lv["relay"]["driver"] == "gpio" and lv["rtc"]["driver"] == "system"
    assert lv["storage"]["driver"] == "file" and lv["wisun"]["port"] == "auto"
    assert lv["usb"]["driver"] == "pyusb" and lv["usb"]["port_path"]      # only the customer socket
    assert hv.kind == "hv" and not hv.meter_config().identity.has_switch


def test_a_pi_board_on_a_machine_without_spi_fails_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "emulate", "--board", "rpi-lv",
                             "--headless", "--duration", "1", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "ATM90E32" in result.stderr


def _port(device, vid=None, pid=None, product=None, serial_number=""):
    return SimpleNamespace(device=device, vid=vid, pid=pid, product=product, description=product,
                           manufacturer=None, serial_number=serial_number)


def test_discovery_ranks_known_dongles_and_prefers_by_id_links():
    ports = [_port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial"),                 # a CH340 cable
             _port("/dev/ttyUSB1", None, None, "RL7023 Stick-D/IPS"),
             _port("/dev/ttyUSB2", 0x0584, 0x1234, "RS-WSUHA-P", "R0001")]
    found = candidates(ports, by_id={"/dev/ttyUSB2": "/dev/serial/by-id/usb-RATOC_RS-WSUHA-P_R0001"})
    assert [c.device for c in found] == ["/dev/serial/by-id/usb-RATOC_RS-WSUHA-P_R0001", "/dev/ttyUSB1"]
    assert found[0].dialect == "c2" and found[1].dialect == "se"


def test_discovery_probes_so_a_non_dongle_is_not_taken():
    ports = [_port("/dev/ttyUSB1", None, None, "RL7023 Stick-D/IPS")]
    with pytest.raises(DeviceNotFound, match="none answered SKVER"):
        find_dongle(list_ports=lambda: ports, probe=lambda dev: False)
    assert find_dongle(list_ports=lambda: ports, probe=lambda dev: True).device == "/dev/ttyUSB1"


def test_discovery_says_what_it_saw_when_nothing_fits():
    with pytest.raises(DeviceNotFound, match=r"seen: /dev/ttyUSB0 \(1a86:7523 USB Serial\)"):
        find_dongle(list_ports=lambda: [_port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")])


def test_serial_number_selects_one_dongle():
    ports = [_port("/dev/ttyUSB1", 0x0584, None, "RS-WSUHA-P", "A"),
             _port("/dev/ttyUSB2", 0x0584, None, "RS-WSUHA-P", "B")]
    assert find_dongle(serial_number="B", list_ports=lambda: ports).device == "/dev/ttyUSB2"


def test_every_table_entry_names_its_source():
    for d in KNOWN_DONGLES:
        assert d.source and d.confidence in ("id", "vendor", "string") and d.dialect in ("se", "c2", "j11")


def test_irq_pin_edge_wakes_a_file_descriptor():
    from sumame.drivers.gpio_irq import GpioIrqLine

    factory = MockFactory()
    line = GpioIrqLine(24, pin_factory=factory)
    try:
        assert select.select([line], [], [], 0)[0] == []
        factory.pin(24).drive_high()
        assert select.select([line], [], [], 1.0)[0] == [line]
        assert line.drain() == 1 and select.select([line], [], [], 0)[0] == []
    finally:
        line.close()


def test_calibrate_brings_a_board_that_reads_four_percent_low_to_the_reference(tmp_path):
    board = load_board("emulated-lv").path.read_text()
    off = tmp_path / "off.toml"
    off.write_text(board.replace("current_scale = 2.0", "current_scale = 2.0\nemulated_gain_error = 0.04", 1))
    result = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "calibrate", "--board", str(off),
                             "--voltage", "100", "--current", "10", "--samples", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    before = re.findall(r"element R: ([\d.]+) V, ([\d.]+) A", result.stdout)[0]
    assert float(before[0]) == pytest.approx(100 / 1.04, rel=0.002)
    assert "residual error after calibration: 0.0" in result.stdout
    ugain = int(re.search(r"ugain = 0x([0-9A-F]{4})", result.stdout).group(1), 16)
    assert ugain == pytest.approx(0x7EAC * 1.04, abs=2)


def test_bench_knows_which_parts_a_board_takes_from_real_hardware():
    from sumame.tools.pytest_plugin import real_parts

    assert real_parts(load_board("emulated-lv")) == set()
    assert real_parts(load_board("rpi-lv")) == {"asic", "relay", "dongle", "storage", "usb", "rtc"}
    assert "relay" not in real_parts(load_board("rpi-hv"))      # HV meters have no switch
