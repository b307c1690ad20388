"""pytest plugin for HIL benches and tests: meters on emulated or real parts, in virtual time.

Installed with sumame (entry point ``pytest11``), so any project can use:

* ``meter_factory(board="emulated-lv", start="2026-04-01", overrides=None, **kw)`` -> Runtime
  booted on a virtual clock (deterministic); ``kw`` go to ``build_runtime`` (profile, seed,
  poll_interval_s, state_dir, record_flash_ops ...). Fault injection through
  ``runtime.built.emulated``: ``["chip"].outage(start, end)``, ``["flash"].cut_power_at(n)`` /
  ``.flip_bit(offset, bit)``, ``["spi"].stuck_miso = True``.
* ``--hil-board NAME``: run tests marked ``hil`` against that (real) board; without it they are
  skipped with the reason.
* ``bench_board`` + ``@pytest.mark.parts("relay", "dongle", ...)``: the same bench test module
  runs on the emulated board (default) or on ``--hil-board`` with real parts (tests/hil/).
"""
from __future__ import annotations

import pytest

from sumame.boards import load_board
from sumame.hal.jst import parse_jst


def pytest_addoption(parser):
    group = parser.getgroup("sumame")
    group.addoption("--hil-board", default=None,
                    help="board file of real hardware for tests marked 'hil'")


PARTS = ("asic", "relay", "dongle", "storage", "usb", "rtc")
"""Parts a bench test may declare with ``@pytest.mark.parts("relay", ...)``."""


def pytest_configure(config):
    config.addinivalue_line("markers", "hil: needs real hardware (run with --hil-board)")
    config.addinivalue_line("markers", "parts(*names): the hardware parts a bench test uses "
                                       f"({', '.join(PARTS)}); on --hil-board, real ones")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--hil-board"):
        return
    skip = pytest.mark.skip(reason="needs real hardware: pass --hil-board <board.toml> to run")
    for item in items:
        if item.get_closest_marker("hil") is not None:   # the marker, not a folder named hil
            item.add_marker(skip)


@pytest.fixture
def hil_board(request):
    name = request.config.getoption("--hil-board")
    if not name:
        pytest.skip("needs real hardware: pass --hil-board <board.toml>")
    return load_board(name)


def real_parts(board) -> set[str]:
    """Which parts a board takes from real hardware (the rest is emulated)."""
    real = set()
    if board["asic"]["driver"] == "atm90e32":
        real.add("asic")
    if board.values.get("relay", {}).get("driver") == "gpio":
        real.add("relay")
    if board["wisun"]["enabled"] and board["wisun"]["port"] != "emulated":
        real.add("dongle")
    if board["storage"]["driver"] == "file":
        real.add("storage")
    if board["usb"]["enabled"] and board["usb"]["driver"] == "pyusb":
        real.add("usb")
    if board["rtc"]["driver"] == "system":
        real.add("rtc")
    return real


@pytest.fixture
def bench_board(request):
    """The board a bench test runs on: ``--hil-board`` (real parts) or the emulated LV board.

    A test declares the parts it needs with ``@pytest.mark.parts(...)``; on a real board that
    lacks one of them as real hardware the test is skipped, saying which part is missing, so the
    same module runs on a laptop (emulated) and on the bench (real)."""
    name = request.config.getoption("--hil-board")
    board = load_board(name or "emulated-lv")
    marker = request.node.get_closest_marker("parts")
    wanted = set(marker.args) if marker else set()
    unknown = wanted - set(PARTS)
    if unknown:
        raise pytest.UsageError(f"unknown part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
    if name:
        missing = wanted - real_parts(board)
        if missing:
            pytest.skip(f"board {board.name} has no real {', '.join(sorted(missing))}")
    board.hil = bool(name)
    return board


@pytest.fixture
def meter_quirks():
    """``meter_quirks(runtime, "opc-cap:max_opc=5", ...)`` -> the runtime's QuirkEngine: turn
    field-quirk profiles on and off in a HEMS project's tests (``.on(name, **params)``,
    ``.off(name)``, ``.write_report(path)``); every profile is off unless asked for."""
    from .quirks import attach_quirks, specs_from

    def attach(runtime, *specs: str, preset: str | None = None):
        return attach_quirks(runtime, specs_from(list(specs), preset))
    return attach


@pytest.fixture
def meter_factory():
    from .emulate.runtime import build_runtime

    made = []

    def make(board: str = "emulated-lv", start: str = "2026-04-01T00:00", overrides: dict | None = None, **kw):
        rt = build_runtime(load_board(board, overrides), virtual=True, start_epoch=parse_jst(start), **kw)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()
