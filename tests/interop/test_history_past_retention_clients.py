"""Independent review (#3, #6, #15): history read by unmodified independent clients after the
meter ran past its retention — pychonet (E5 -> E2/E4 by day, EF -> EE one-minute values) and
gurux-dlms (30/15/5-minute profiles by range) — checked value by value against the cumulative
counters the meter captured at each boundary while it ran (a 30-min value = the difference of
the readings at its two boundaries).

Short budget: a small-flash LV board with 2-day 30/15-minute retention runs 3.3 days in virtual
time (the 30/15-min journal has evicted pages, the 5- and 1-min journals many), then boots on the
real clock with its B-route on loopback and its A-route on a free port. The 101-day run on the
default boards is the same check at full size (see the review report)."""
import asyncio
import datetime
import random

import pytest

pychonet = pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra")
gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms (test extra) not installed")
from gurux_dlms import GXDLMSClient  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType  # noqa: E402
from gurux_dlms.objects import GXDLMSProfileGeneric  # noqa: E402
from gurux_dialogue import GuruxTcp  # noqa: E402
from pychonet import Factory  # noqa: E402
from pychonet_client import pychonet_client  # noqa: E402

from sumame.boards import load_board  # noqa: E402
from sumame.firmware.metrology.metering import register_value  # noqa: E402
from sumame.firmware.routes.aroute.keys import derived_secrets  # noqa: E402
from sumame.firmware.routes.broute import edt  # noqa: E402
from sumame.hal.jst import parse_jst  # noqa: E402
from sumame.tools.emulate.meter_thread import MeterThread  # noqa: E402
from sumame.tools.emulate.runtime import build_runtime  # noqa: E402
from snapshot_shadow import shadow_snapshots  # noqa: E402

pytestmark = pytest.mark.interop
START = parse_jst("2026-04-01T00:00")
JST = datetime.timezone(datetime.timedelta(hours=9))
SMALL = {"registers": {"days_30": 2, "days_15": 2, "days_5": 1, "minutes_1": 60},
         "storage": {"page_count": 96, "page_size": 1024}, "breaker": {"limit_a": 60}}
NO_DATA = 0xFFFFFFFE


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    state = tmp_path_factory.mktemp("past-retention")
    rt = build_runtime(load_board("emulated-lv", {**SMALL, "aroute": {"push_transport": "none"}}), virtual=True,
                       start_epoch=START, state_dir=state, poll_interval_s=60)
    rt.scheduler.watchdog_budget_s = None
    shadow = shadow_snapshots(rt.meter)
    end = START + 3.3 * 86400
    rt.scheduler.run(until=end)
    assert rt.meter.storage.journals["long"].appended > rt.meter.storage.journals["long"].record_count + 100
    rt.meter.shutdown()
    rt.close()
    address = f"127.0.0.{random.randint(20, 250)}"
    m = MeterThread("emulated-lv", overrides={**SMALL, "broute": {"ip": [address]},
                                              "aroute": {"port": 0, "hdlc_port": 0, "push_transport": "none"}},
                    state_dir=state, start_epoch=end + 60)
    try:
        m.start()
    except OSError as exc:
        pytest.skip(f"cannot bind {address}:3610 on loopback: {exc}")
    m.wait_for(lambda r: r.meter.switchgear.comms.routes_up().get("a-route"), what="A-route up")
    scaling = m.call(lambda r: r.meter.readings.scaling)

    def raw(minute, quantity):
        snap = shadow.get(minute)
        return NO_DATA if snap is None else register_value(snap.counter(quantity), scaling.unit_kwh, scaling.digits)
    yield m, address, shadow, end, raw, scaling
    m.stop()


async def _get(meter, epc: int) -> bytes:
    """pychonet's Get (retried: on a loaded machine a 3 s answer timeout can pass)."""
    for _ in range(3):
        value = await meter.getMessage(epc)
        if value is not None:
            return bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    raise AssertionError(f"no answer to Get {epc:#x}")


async def _set(meter, epc: int, value, pdc: int = 1) -> None:
    for _ in range(3):
        if await meter.setMessage(epc, value, pdc):
            return
    raise AssertionError(f"no answer to SetC {epc:#x}")


def test_pychonet_reads_every_day_and_the_last_hour_as_captured(recorded):
    m, host, shadow, end, raw, _ = recorded
    newest = int(end) // 60
    keep_30 = 2 * 1440 + 30    # a boundary is kept for its retention plus the interval it starts

    async def scenario():
        udp, api, _ = await pychonet_client()
        try:
            assert await api.discover(host)
            assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
            meter = Factory(host, api, 0x02, 0x88, 0x01)
            for day in (0, 1, 2, 3):
                await _set(meter, 0xE5, day)
                mid = int(edt.jst_midnight(m.call(lambda r: r.clock.now()), day))
                for epc, quantity in ((0xE2, "forward"), (0xE4, "reverse")):
                    data = await _get(meter, epc)
                    assert int.from_bytes(data[:2], "big") == day
                    got = [int.from_bytes(data[2 + 4 * k:6 + 4 * k], "big") for k in range(48)]
                    want = [raw(mm, quantity) if newest - mm <= keep_30 else NO_DATA
                            for mm in ((mid + 1800 * k) // 60 for k in range(48))]
                    assert got == want, (day, hex(epc))
                    assert day > 2 or any(v != NO_DATA for v in got), (day, hex(epc), got)
            for back in range(0, 60, 10):
                start = (newest - back) * 60
                await _set(meter, 0xEF, int.from_bytes(edt.datetime6(start) + b"\x0a", "big"), 7)
                data = await _get(meter, 0xEE)
                for i in range(10):
                    mm = start // 60 - i
                    pair = (int.from_bytes(data[7 + 8 * i:11 + 8 * i], "big"),
                            int.from_bytes(data[11 + 8 * i:15 + 8 * i], "big"))
                    assert pair == (raw(mm, "forward"), raw(mm, "reverse")), (back, i)
        finally:
            udp.close()
    asyncio.run(scenario())


def test_gurux_reads_profile_ranges_as_captured(recorded):
    m, _, shadow, end, raw, scaling = recorded
    secrets = m.call(lambda r: derived_secrets(r.meter.config.identity.serial))
    host, port = dict(m.endpoints)["dlms-tcp"].rsplit(":", 1)
    g = GuruxTcp((host, int(port)), GXDLMSClient(True, 0x20, 1, Authentication.LOW, secrets.lls_password.decode(),
                                                  InterfaceType.WRAPPER)).open()
    day0 = int(edt.jst_midnight(end, 0))
    try:
        for minutes, ln, ranges in ((30, "1.0.99.1.0.255", [(day0 - 86400, day0), (int(end) - 4 * 3600, int(end))]),
                                    (15, "1.0.99.2.0.255", [(day0 - 86400 + 3600, day0 - 86400 + 4 * 3600)]),
                                    (5, "1.0.99.2.1.255", [(int(end) - 2 * 3600, int(end))])):
            pg = GXDLMSProfileGeneric(ln)
            g.read(pg, 3)
            step = minutes * 60
            for a, b in ranges:
                frm, to = datetime.datetime.fromtimestamp(a, JST), datetime.datetime.fromtimestamp(b, JST)
                g.cl.updateValue(pg, 2, g.xfer(g.cl.readRowsByRange(pg, frm, to)).value)
                times = [int(row[0].value.timestamp()) for row in pg.buffer]
                assert times == list(range(-(-a // step) * step, b + 1, step)), (minutes, a)
                for row, t in zip(pg.buffer, times):
                    end_s, start_s = shadow[t // 60], shadow.get(t // 60 - minutes)
                    want = None if start_s is None or start_s.session != end_s.session else \
                        (raw(t // 60, "forward") - raw(t // 60 - minutes, "forward")) % 10 ** scaling.digits
                    assert row[1] == want, (minutes, t)
                    if minutes != 5:
                        assert row[1 + (len(row) - 1) // 2] == raw(t // 60, "forward"), (minutes, t)
    finally:
        g.close()


def test_gurux_reads_the_oldest_and_newest_profile_entries_by_entry_as_captured(recorded):
    """Review (#2/#6): readRowsByEntry over the retention edge on the meter that ran past it:
    entry 1 (the row ending retention ago) is measured — not null — and equals the difference of
    the readings captured at its two boundaries; entries are consecutive up to the newest."""
    m, _, shadow, end, raw, scaling = recorded
    secrets = m.call(lambda r: derived_secrets(r.meter.config.identity.serial))
    host, port = dict(m.endpoints)["dlms-tcp"].rsplit(":", 1)
    g = GuruxTcp((host, int(port)), GXDLMSClient(True, 0x20, 1, Authentication.LOW, secrets.lls_password.decode(),
                                                  InterfaceType.WRAPPER)).open()
    try:
        for minutes, ln in ((30, "1.0.99.1.0.255"), (15, "1.0.99.2.0.255"), (5, "1.0.99.2.1.255")):
            pg = GXDLMSProfileGeneric(ln)
            g.read(pg, 3)
            g.read(pg, 7)
            count = pg.entriesInUse
            assert count > 0, ln
            for first, last in ((1, 3), (count - 1, count)):
                g.cl.updateValue(pg, 2, g.xfer(g.cl.readRowsByEntry(pg, first, last - first + 1)).value)
                times = [int(row[0].value.timestamp()) for row in pg.buffer]
                assert len(times) == last - first + 1, (minutes, first, times)
                assert all(b - a == minutes * 60 for a, b in zip(times, times[1:])), (minutes, times)
                for row, t in zip(pg.buffer, times):
                    start_s, end_s = shadow.get(t // 60 - minutes), shadow.get(t // 60)
                    assert start_s is not None and end_s is not None, (minutes, t)
                    want = (raw(t // 60, "forward") - raw(t // 60 - minutes, "forward")) % 10 ** scaling.digits
                    assert row[1] == want, (minutes, first, t, row[1])
            assert times[-1] // 60 <= int(end) // 60 < times[-1] // 60 + minutes, (minutes, times[-1])
    finally:
        g.close()
