"""broute-j11 (PyPI, unmodified) reads THE METER through the emulated BP35C0-J11 dongle:

broute-j11 J11Session -> pty -> emulated J11 dongle (binary UART) -> virtual 920 MHz air -> the
meter's emulated SKSTACK dongle -> drivers/skstack.py -> firmware (PANA PAA, ECHONET Lite node
on the real registers) and back. The meter first runs a few simulated hours (so E0 is not 0),
then continues in real time from its flash, on the fast and on the accurate (airtime, duty limit)
air. A wrong password is refused as a real meter does.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from decimal import Decimal

import pytest

try:
    import broute_j11
except ImportError:                       # the test extra; under CI its absence is a failure
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("broute-j11 (test extra) is not installed", allow_module_level=True)

from sumame.firmware.metrology.readings import Quantity  # noqa: E402
from sumame.hal.jst import parse_jst  # noqa: E402
from sumame.tools.emulate.meter_thread import record_history  # noqa: E402
from wisun_meter import wisun_meter  # noqa: E402

pytestmark = pytest.mark.interop
RBID = "00112233445566778899AABBCCDDEEFF"      # boards/emulated-lv.toml
PASSWORD = "SUMAMEPASS01"
START = parse_jst("2026-04-01T06:00")
SIMULATED = 3 * 3600
OVERRIDES = {"broute": {"ip": ["127.0.0.1"], "enabled": True}, "storage": {"page_count": 512}}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    state = tmp_path_factory.mktemp("meter")
    record_history("emulated-lv", state, start_epoch=START, hours=SIMULATED / 3600)
    return state


@pytest.fixture(params=["fast", "accurate"])
def meter(request, history, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(history, state)
    with wisun_meter(tmp_path, overrides=OVERRIDES, state_dir=state, start_epoch=START + SIMULATED + 30,
                     wisun=dict(personality="j11", mode=request.param, seed=5)) as running:
        yield running


def _session(path: str, password: str = PASSWORD):
    transport = broute_j11.SerialTransport(path)
    # scan_duration 3 (77 ms per channel) keeps the accurate air's 14-channel scan near 1 s
    return broute_j11.J11Session(transport, broute_j11.SessionConfig(auth_id=RBID, password=password,
                                                                     scan_duration=3))


def test_broute_j11_joins_and_reads_e7_and_e0(meter):
    m, world = meter

    async def run():
        session = _session(world.hems_path)
        link = await session.async_connect()
        try:
            reading = await session.async_read_meter()
        finally:
            await session.async_close()
        return link, reading, session.profile

    link, reading, profile = asyncio.run(asyncio.wait_for(run(), 120))
    assert link.mac_address.hex().upper() == world.meter_dongle.mac_hex
    assert link.firmware_version == "1.3.5514"

    def truth(rt):
        r = rt.meter.readings
        return {"present": r.present(), "unit": r.scaling.unit_kwh,
                "forward": r.cumulative_now(Quantity.FORWARD) * r.scaling.unit_kwh}
    t = m.call(truth)
    assert profile.unit == Decimal(str(t["unit"])) and profile.digits == 8
    assert abs(reading.instantaneous_power - t["present"].power_w) <= 300     # E7, W
    assert t["forward"] > 0
    assert float(reading.cumulative_forward_energy) == pytest.approx(t["forward"], abs=0.02)   # E0, kWh
    assert m.call(lambda rt: rt.meter.events.of_kind("wisun-joined")), "the meter did not log the join"
    assert world.hems_dongle.stats["cmd-0008"] >= 3 and not any(k.startswith("bad-") for k in world.hems_dongle.stats)


def test_broute_j11_with_a_wrong_password_is_refused(meter):
    m, world = meter

    async def run():
        session = _session(world.hems_path, password="WRONGPASS123")
        try:
            await session.async_connect()
        finally:
            await session.async_close()

    with pytest.raises(broute_j11.AuthenticationError):
        asyncio.run(asyncio.wait_for(run(), 120))
    refused = m.call(lambda rt: [e for e in rt.meter.events if e.kind == "security"])
    assert refused and "authentication" in refused[-1].detail
