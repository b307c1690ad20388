"""Issue 16 item 2: momonga connects, reads E7/E8/E0 and closes twice in a row on ONE running
meter (each open() does SKRESET on the HEMS dongle, so the second session starts with frame
counter 0 under a new PANA key), in both dongle personalities.

* momonga 0.1.5 — the version Home Assistant core pins for its route-B integration —
  installed unmodified from PyPI into its own pip target dir (tests/.pydeps), run in a
  subprocess. 0.1.5 only speaks the dual-stack (C2) syntax: on the BP35A1 personality its
  4-argument ``SKSCAN`` gets ``FAIL ER05``, as on a real single-hop module (field quirk:
  home-assistant/core#159624 for the RL7023 Stick-D/IPS), which it reports as
  ``MomongaSkCommandInvalidArgument`` — both times, and the meter keeps serving.
* momonga from the project venv (0.7.x) detects the dialect and reopens on both.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sumame.firmware.metrology.readings import Quantity
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.meter_thread import record_history
from wisun_meter import wisun_meter

pytestmark = [pytest.mark.interop, pytest.mark.slow]
RBID = "00112233445566778899AABBCCDDEEFF"      # boards/emulated-lv.toml
PASSWORD = "SUMAMEPASS01"
START = parse_jst("2026-04-01T00:00")
OVERRIDES = {"broute": {"ip": ["127.0.0.1"], "enabled": True}, "storage": {"page_count": 512}}
LEGACY = "0.1.5"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    state = tmp_path_factory.mktemp("meter")
    record_history("emulated-lv", state, start_epoch=START, hours=2)
    return state


@pytest.fixture(params=["bp35c2", "bp35a1"])
def meter(request, history, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(history, state)
    with wisun_meter(tmp_path, overrides=OVERRIDES, state_dir=state, start_epoch=START + 2 * 3600 + 30,
                     wisun=dict(personality=request.param, mode="fast", seed=4)) as (m, world):
        yield m, world, request.param


@pytest.fixture(scope="module")
def legacy_momonga():
    import momonga_legacy

    try:
        return momonga_legacy.install(LEGACY)
    except (subprocess.SubprocessError, OSError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"momonga {LEGACY} could not be installed from PyPI: {exc}")


def _forward_kwh(m):
    return m.call(lambda rt: rt.meter.readings.cumulative_now(Quantity.FORWARD) * rt.meter.readings.scaling.unit_kwh)


def test_momonga_015_opens_reads_and_closes_twice(meter, legacy_momonga):
    import momonga_legacy

    m, world, personality = meter
    rows = momonga_legacy.run_sessions(legacy_momonga, world.hems_path, RBID, PASSWORD, 2)
    assert [r["session"] for r in rows] == [0, 1]
    if personality == "bp35a1":
        assert [r.get("error") for r in rows] == ["MomongaSkCommandInvalidArgument"] * 2
        assert world.hems_dongle.stats["fail-er05"] >= 2
        assert world.meter_dongle.stack.stats["rx-replayed-frame"] == 0
        return
    for r in rows:
        assert "error" not in r, r
        assert isinstance(r["e7"], (int, float)) and 0 <= r["e7"] < 20000
        assert set(r["e8"]) >= {"r phase current", "t phase current"}
        assert r["e0"] == pytest.approx(_forward_kwh(m), abs=0.05)
    assert world.hems_dongle.stack.stats["pana-authenticated"] == 2
    assert world.meter_dongle.stack.stats["rx-replayed-frame"] == 0
    assert world.meter_dongle.stack.stats["rx-counters-reset"] >= 1


def test_momonga_current_opens_reads_and_closes_twice(meter):
    momonga = pytest.importorskip("momonga", reason="momonga (test extra) is not installed")
    m, world, _ = meter
    for _ in range(2):
        mo = momonga.Momonga(RBID, PASSWORD, world.hems_path, scan_retries=1, join_retries=1)
        mo.internal_xmit_interval = 0
        mo.recv_timeout = 10
        mo.open()
        try:
            power = mo.get_instantaneous_power()
            current = mo.get_instantaneous_current()
            forward = mo.get_measured_cumulative_energy()
        finally:
            mo.close()
        assert 0 <= power < 20000 and "r phase current" in current
        assert forward == pytest.approx(_forward_kwh(m), abs=0.05)
    assert world.hems_dongle.stack.stats["pana-authenticated"] == 2
    assert world.meter_dongle.stack.stats["rx-replayed-frame"] == 0
