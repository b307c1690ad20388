"""momonga (PyPI, unmodified) reads THE METER over Wi-SUN, end to end:

momonga -> pty -> emulated HEMS dongle -> virtual 920 MHz air -> the meter's emulated dongle ->
drivers/skstack.py -> firmware (PANA PAA, ECHONET Lite node on the real registers) and back.

The meter first runs a simulated day in virtual time (so it has history), then continues in
real time from its flash. Checked once with a BP35C2-personality HEMS dongle and once with a
BP35A1 one; a wrong password makes momonga's join fail; tshark dissects the session's pcap.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

momonga = pytest.importorskip("momonga", reason="momonga (test extra) is not installed")

from sumame.firmware.metrology.readings import Quantity  # noqa: E402
from sumame.hal.jst import parse_jst  # noqa: E402
from sumame.tools.emulate.meter_thread import record_history  # noqa: E402
from wisun_meter import wisun_meter  # noqa: E402

pytestmark = pytest.mark.interop
RBID = "00112233445566778899AABBCCDDEEFF"      # boards/emulated-lv.toml
PASSWORD = "SUMAMEPASS01"
START = parse_jst("2026-04-01T00:00")
SIMULATED = 30 * 3600                           # yesterday complete, today until 06:00
OVERRIDES = {"broute": {"ip": ["127.0.0.1"], "enabled": True}, "storage": {"page_count": 512}}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A flash image holding 30 simulated hours."""
    state = tmp_path_factory.mktemp("meter")
    record_history("emulated-lv", state, start_epoch=START, hours=SIMULATED / 3600)
    return state


@pytest.fixture(params=["bp35c2", "bp35a1"])
def meter(request, history, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(history, state)
    pcap = tmp_path / "air.pcap"
    with wisun_meter(tmp_path, overrides=OVERRIDES, state_dir=state, start_epoch=START + SIMULATED + 30,
                     wisun=dict(personality=request.param, mode="fast", pcap=str(pcap), seed=3)) as (m, world):
        yield m, world, pcap, request.param


def _momonga(path: str, password: str = PASSWORD):
    mo = momonga.Momonga(RBID, password, path, scan_retries=1, join_retries=1)
    mo.internal_xmit_interval = 0   # public attribute: skip momonga's fixed 5 s pauses
    mo.recv_timeout = 10
    return mo


def test_momonga_reads_the_meter_over_wisun(meter):
    m, world, pcap, personality = meter
    mo = _momonga(world.hems_path)
    mo.open()
    try:
        power = mo.get_instantaneous_power()
        current = mo.get_instantaneous_current()
        forward = mo.get_measured_cumulative_energy()
        reverse = mo.get_measured_cumulative_energy(reverse=True)
        fixed = mo.get_cumulative_energy_measured_at_fixed_time()
        yesterday = mo.get_historical_cumulative_energy_1(day=1)
    finally:
        mo.close()

    def truth(rt):
        r = rt.meter.readings
        unit = r.scaling.unit_kwh
        boundary = r.latest_boundary(30)
        day = parse_jst("2026-04-01T00:00")
        return {
            "present": r.present(), "unit": unit,
            "forward": r.cumulative_now(Quantity.FORWARD) * unit,
            "reverse": r.cumulative_now(Quantity.REVERSE) * unit,
            "fixed": r.cumulative_at(Quantity.FORWARD, boundary) * unit,
            "yesterday": [r.cumulative_at(Quantity.FORWARD, day + k * 1800) for k in range(48)],
        }
    t = m.call(truth)
    assert abs(power - t["present"].power_w) <= 300          # the household load moves minute by minute
    assert current["r phase current"] == pytest.approx(t["present"].current_da[0] / 10, abs=3)
    assert forward == pytest.approx(t["forward"], abs=0.02)   # 0.01 kWh register steps
    assert reverse == pytest.approx(t["reverse"], abs=0.02)
    assert fixed["cumulative energy"] == pytest.approx(t["fixed"], abs=1e-9)
    got = [entry["cumulative energy"] for entry in yesterday]
    assert len(got) == 48 and None not in got[1:]
    assert [round(g / t["unit"]) for g in got[1:]] == t["yesterday"][1:]
    joined = m.call(lambda rt: rt.meter.events.of_kind("wisun-joined"))
    assert joined, "the meter did not log the PANA join"
    if personality == "bp35c2":
        _tshark_clean(pcap)


def test_wrong_password_fails_the_join_and_is_a_security_event(meter):
    m, world, _, _ = meter
    mo = _momonga(world.hems_path, password="WRONGPASS123")
    with pytest.raises(momonga.MomongaSkJoinFailure):
        mo.open()
    refused = m.call(lambda rt: [e for e in rt.meter.events if e.kind == "security"])
    assert refused and "authentication" in refused[-1].detail


def _tshark_clean(pcap):
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (apt-get install tshark)")
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-e", "frame.protocols", "-e", "_ws.malformed"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert lines and not any("malformed" in line or line.split("\t")[-1] for line in lines)
    stacks = "\n".join(lines)
    for proto in ("wpan", "6lowpan", "ipv6", "udp", "pana", "eap"):
        assert proto in stacks, f"{proto} missing from the dissection"
