"""pytest plugin for HIL benches and tests: meters on emulated or real parts, in virtual time.

Installed with sumame (entry point ``pytest11``), so any project can use:

* ``meter_factory(board="emulated-lv", start="2026-04-01", overrides=None, **kw)`` -> Runtime
  booted on a virtual clock (deterministic); ``kw`` go to ``build_runtime`` (profile, seed,
  poll_interval_s, state_dir, record_flash_ops ...). Fault injection through
  ``runtime.built.emulated``: ``["chip"].outage(start, end)``, ``["flash"].cut_power_at(n)`` /
  ``.flip_bit(offset, bit)``, ``["spi"].stuck_miso = True``.
* ``--hil-board NAME``: run tests marked ``hil`` against that (real) board; without it they are
  skipped with the reason.
"""
from __future__ import annotations

import pytest

from sumame.boards import load_board
from sumame.hal.jst import parse_jst


def pytest_addoption(parser):
    group = parser.getgroup("sumame")
    group.addoption("--hil-board", default=None,
                    help="board file of real hardware for tests marked 'hil'")


def pytest_configure(config):
    config.addinivalue_line("markers", "hil: needs real hardware (run with --hil-board)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--hil-board"):
        return
    skip = pytest.mark.skip(reason="needs real hardware: pass --hil-board <board.toml> to run")
    for item in items:
        if "hil" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def hil_board(request):
    name = request.config.getoption("--hil-board")
    if not name:
        pytest.skip("needs real hardware: pass --hil-board <board.toml>")
    return load_board(name)


@pytest.fixture
def meter_factory():
    from .runtime import build_runtime

    made = []

    def make(board: str = "emulated-lv", start: str = "2026-04-01T00:00", overrides: dict | None = None, **kw):
        rt = build_runtime(load_board(board, overrides), virtual=True, start_epoch=parse_jst(start), **kw)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()
