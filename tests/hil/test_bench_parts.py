"""One bench module for emulated and real parts: ``pytest tests/hil`` runs it on the emulated LV
board; ``pytest tests/hil --hil-board boards/rpi-lv.toml`` on a Pi runs it on the real chip,
relay, dongle and storage (a test whose part the board lacks is skipped, saying which)."""
from __future__ import annotations

import termios
import time

import pytest

from sumame.firmware.core.clock import RealClock
from sumame.hal.relay import ContactState


@pytest.fixture
def parts(bench_board, tmp_path):
    built = bench_board.build(RealClock(), tmp_path)
    yield built
    nvm = built.hardware.nvm
    if hasattr(nvm, "close"):
        nvm.close()


@pytest.mark.parts("asic")
def test_metering_chip_starts_and_reads_mains(parts, bench_board):
    asic = parts.hardware.asic
    asic.start()
    time.sleep(0.2)
    inst = asic.read_instantaneous()
    nominal = bench_board["meter"]["nominal_voltage_v"]
    assert 0.8 * nominal <= inst.voltage_v[0] <= 1.2 * nominal
    assert 49 <= inst.frequency_hz <= 61


@pytest.mark.parts("relay")
def test_relay_contact_follows_each_drive(parts):
    relay = parts.hardware.relay
    for target in (ContactState.OPEN, ContactState.CLOSED):
        relay.drive(target)
        assert relay.sensed() is target


@pytest.mark.parts("storage")
def test_storage_programs_erases_and_reads_back(parts):
    nvm = parts.hardware.nvm
    last = nvm.page_count - 1                       # the page the journal reaches last
    before = nvm.read(last * nvm.page_size, 4)
    if before != b"\xff" * 4:
        pytest.skip("the last page holds data; not touching a live journal")
    nvm.program(last * nvm.page_size, b"\x12\x34")
    assert nvm.read(last * nvm.page_size, 2) == b"\x12\x34"
    nvm.erase(last)
    assert nvm.read(last * nvm.page_size, 2) == b"\xff\xff"


@pytest.mark.parts("dongle")
def test_dongle_answers_through_termios_as_on_a_pi(bench_board, tmp_path):
    """The driver opens a real tty (the dongle, or the emulated dongle's kernel pty): 115200 8N1,
    raw, no echo — and the dongle answers SKVER."""
    from sumame.drivers.skstack import SkstackModem

    world = None
    if bench_board.hil:
        factory = bench_board.build(RealClock(), tmp_path).hardware.extras["wisun_modem"]
        modem = factory()
    else:
        from sumame.drivers.emulated.wisun.world import build_wisun_world

        world = build_wisun_world(personality="bp35c2", mode="fast", clock=RealClock(),
                                  meter_link=str(tmp_path / "meter"), hems_link=str(tmp_path / "hems"))
        world.start()
        modem = SkstackModem(world.hems_path)
    try:
        attrs = termios.tcgetattr(modem.port.fileno())
        iflag, oflag, cflag, lflag, ispeed, ospeed = attrs[:6]
        assert ispeed == ospeed == termios.B115200
        assert cflag & termios.CSIZE == termios.CS8 and not cflag & termios.PARENB
        assert not lflag & (termios.ICANON | termios.ECHO)
        assert modem.identify().version
    finally:
        modem.close()
        if world is not None:
            world.close()


@pytest.mark.parts("usb")
def test_a_customer_device_is_deconfigured_by_usb_deauthorisation(parts, bench_board):
    """Fault injection on the real port where possible: de-authorising a device (Linux sysfs
    ``authorized`` = 0, needs root) deconfigures it — it stays on the bus but may draw one unit
    load at most, as the meter's power budget must then assume."""
    from pathlib import Path

    port = parts.hardware.extras["usb_port"]
    if not bench_board.hil:
        from sumame.drivers.emulated.usb.devices import CATALOGUE
        port.plug(CATALOGUE["storage500"]())            # a 450 mA USB disk
        port.authorize("1-1", True)
    port.poll()
    devices = port.devices()
    if not devices:
        pytest.skip("no customer USB device plugged into the bench's port")
    victim = devices[0].path

    def authorized() -> bool:
        if bench_board.hil:
            return Path(f"/sys/bus/usb/devices/{victim}/authorized").read_text().strip() == "1"
        return port.is_authorized(victim)
    before = None if bench_board.hil else port.draw_ma()
    port.authorize(victim, False)
    try:
        assert not authorized()
        if before is not None:
            assert port.draw_ma() <= 100.0 < before        # one unit load at most
    finally:
        port.authorize(victim, True)
    assert authorized()
