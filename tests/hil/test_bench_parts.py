"""One bench module for emulated and real parts: ``pytest tests/hil`` runs it on the emulated LV
board; ``pytest tests/hil --hil-board boards/rpi-lv.toml`` on a Pi runs it on the real chip,
relay, dongle and storage (a test whose part the board lacks is skipped, saying which)."""
from __future__ import annotations

import termios
import time

import pytest

from sumame.firmware.clock import RealClock
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
        from sumame.drivers.emulated.wisun_world import build_wisun_world

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
